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
from tests.conftest import HA_LONG_CHAT, World, eventually
from tests.handoffs import HandoffCounter
from tests.test_call_budget import DESCRIPTION, PHOTO

# The hand-offs of each of the report's 13 updates, from storing it to forgetting it once
# handled, as measured; the step that sends the report writes the report itself.
BUDGET = {
    "/start": 23,
    "consent": 27,
    "category": 23,
    "unit query": 19,
    "unit": 22,
    "official (skip)": 20,
    "date": 20,
    "place (skip)": 20,
    "description": 20,
    "photo": 23,
    "evidence done": 20,
    "anonymous": 23,
    "send": 41,
}


async def handled(world: World) -> None:
    """Wait until every stored update was handled and forgotten (read by the test's task)."""

    async def none_left() -> bool:
        return not await world.db.inbound.unhandled_updates()

    await eventually(none_left)


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
    await handled(world)
    counter.take("update")
    measured = {}
    for name, step in steps:
        await step()
        await handled(world)
        measured[name] = counter.take("update")
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Hạ Long")
    total = sum(measured.values())
    print(f"hand-offs per update: {measured}, total {total}, {total / len(steps):.2f} a step")
    print(f"delivery: {counter.counts['delivery']}")
    assert all(count > 0 for count in measured.values()), measured
    assert measured == BUDGET
