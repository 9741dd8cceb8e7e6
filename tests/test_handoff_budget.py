"""A citizen's report costs a fixed number of calls into SQLite's thread: counted, not timed.

Each call from the event loop into aiosqlite's thread (a statement, a fetch, a commit) is a
hand-off between two threads, and the CPU of a step grows with their number
(docs/performance.md, "Hand-offs to SQLite per step"). The budget is what the code measured:
a step that needs more fails here, as a step that sends more messages fails in
tests/test_call_budget.py.
"""

from __future__ import annotations

import pytest

from bot.telegram import inbound
from tests.conftest import HA_LONG_CHAT, World, all_deleted
from tests.handoffs import HandoffCounter
from tests.test_call_budget import DESCRIPTION, PHOTO

# The hand-offs of each of the report's 13 updates, from storing it to forgetting it once
# handled, as measured: 139 in all, 10.7 a step (152 before an update just stored went straight
# to its lane; 301, 23.2 a step, before one-statement writes went without BEGIN and COMMIT and
# the reads that go together became one query). A button step is 8: storing the update (4),
# the user with their ban (1), the draft with its count of files (1), saving the draft (1),
# forgetting the update (1). The step that sends the report writes the report itself.
BUDGET = {
    "/start": 11,
    "consent": 12,
    "category": 11,
    "unit query": 9,
    "unit": 9,
    "official (skip)": 8,
    "date": 8,
    "place (skip)": 8,
    "description": 8,
    "photo": 12,
    "evidence done": 8,
    "anonymous": 10,
    "send": 25,
}


async def test_a_full_report_stays_within_its_budget_of_hand_offs_to_sqlite(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dispatcher's sweep for stored updates runs once a second whatever arrives; it is not
    # part of a step, so it is kept out of the count (a stored update still wakes it at once).
    monkeypatch.setattr(inbound, "SWEEP_SECONDS", 3600.0)
    counter = HandoffCounter()
    counter.install(monkeypatch)
    lan = world.person(760001, "Lan")
    steps = [
        ("/start", lambda: lan.say("/start", expect="đồng ý")),
        ("consent", lambda: lan.press("Tôi đồng ý", expect="Chọn loại")),
        ("category", lambda: lan.press("Thái độ", expect="đơn vị")),
        ("unit query", lambda: lan.say("ha long", expect="ha long")),
        ("unit", lambda: lan.press("UBND phường Hạ Long", expect="cán bộ")),
        ("official (skip)", lambda: lan.press("Bỏ qua", expect="khi nào")),
        ("date", lambda: lan.press("Hôm nay", expect="ở đâu")),
        ("place (skip)", lambda: lan.press("Bỏ qua", expect="Mô tả")),
        ("description", lambda: lan.say(DESCRIPTION, expect="bằng chứng")),
        ("photo", lambda: lan.send_photo(PHOTO, expect="1")),
        ("evidence done", lambda: lan.press("Xong", expect="ẩn danh")),
        ("anonymous", lambda: lan.press("Ẩn danh", expect="kiểm tra")),
        ("send", lambda: lan.press("Gửi phản ánh", expect="/status")),
    ]
    # Every stored update handled and forgotten (read by the test's task, not counted).
    await all_deleted(world.db.inbound)
    counter.take("update")
    measured = {}
    for name, step in steps:
        await step()
        await all_deleted(world.db.inbound)
        measured[name] = counter.take("update")
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Hạ Long")
    assert all(count > 0 for count in measured.values()), measured
    # The measured value, not a bound: a step that needs more fails, and one that needs fewer
    # lowers its budget here (and its line in docs/performance.md).
    assert measured == BUDGET, f"{measured}, {sum(measured.values())} in all"
