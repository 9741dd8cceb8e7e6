"""Forged, stale and replayed callback data, from citizens and officers alike, change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.core.conversation import Step
from bot.core.domain import Status
from tests.bad_input_helpers import (
    ASK_CATEGORY,
    ASK_UNIT,
    DESCRIPTION,
    NOT_ACTIVE,
    OFFICER_HL,
    OFFICERS_ONLY,
    REVIEW,
    STRANGER,
    WENT_WRONG,
    consent,
    draft_of,
    pressed_into,
    quiet,
    report_of,
    reported,
    said_after,
    table_counts,
    to_unit,
)
from tests.conftest import (
    CONFIRM_DATA,
    HA_LONG_CHAT,
    Person,
    World,
    answer_data,
    code_in,
    current,
    eventually,
    labels,
    member,
    press_data,
    walk_to_review,
)

# -- forged, stale and replayed callback data: the citizen's side ------------------------------


async def to_review(person: Person) -> None:
    await walk_to_review(person, DESCRIPTION)


AT_STEP: dict[str, tuple[Callable[[Person], Awaitable[Any]], tuple[str, ...], str]] = {
    # The step's own handler refuses what it does not know and asks again.
    "category": (
        consent,
        (
            "cat:zzz",
            "x" * 64,
            "a:category:zzz",
            "a:category:",
            "a:category:bribe\n",
            answer_data(Step.UNIT, "HL"),
            CONFIRM_DATA,
            "a:nostep:bribe",
        ),
        ASK_CATEGORY,
    ),
    "unit": (
        to_unit,
        (
            "unit:HL",
            answer_data(Step.UNIT, "NOPE"),
            "a:unit:",
            "a:unit:HL\n",
            answer_data(Step.CATEGORY, "bribe"),
            answer_data(Step.REVIEW, "edit_unit"),
        ),
        ASK_UNIT,
    ),
    "review": (
        to_review,
        (
            "edit:unit",
            answer_data(Step.REVIEW, "edit_nothing"),
            "a:review:confirm ",
            answer_data(Step.REVIEW, "edit_amount"),
            answer_data(Step.CATEGORY, "other"),
            answer_data(Step.DOSSIER, "skip"),
        ),
        REVIEW,
    ),
}


@pytest.mark.parametrize("step", AT_STEP.keys())
async def test_forged_data_at_a_step_is_answered_and_changes_nothing(
    world: World, step: str
) -> None:
    walk, forged, question = AT_STEP[step]
    lan = world.person(731801, "Lan")
    await walk(lan)
    before = await draft_of(world, lan.id)
    target = next(m for m in reversed(lan.messages) if m.get("buttons"))
    for data in forged:
        queries: list[dict[str, Any]] = []
        said = await said_after(world, lan.user, pressed_into(queries, lan.user, target, data))
        answer = await world.sim.wait_for_callback_answer(queries[0]["id"])
        # Either the button is called stale, or the question is simply asked again.
        stale = answer.get("text") == NOT_ACTIVE
        assert stale or any(question in text for text in said), (data, answer, said)
        assert not any(WENT_WRONG in text for text in said), (data, said)
        assert await draft_of(world, lan.id) == before, data
    assert await world.db.reports.count_reports() == 0
    # The bot still works: the real buttons do what they say.
    if question == ASK_CATEGORY:
        await lan.press("Thái độ", expect="đơn vị")
    elif question == ASK_UNIT:
        await lan.say("ha long", expect="ha long")
        await lan.press("UBND phường Hạ Long", expect="cán bộ")
    else:
        await lan.press("Gửi phản ánh", expect="/status")
        assert await world.db.reports.count_reports() == 1


async def test_a_double_tap_on_a_unit_branch_is_harmless(world: World) -> None:
    lan = world.person(731811, "Lan")
    await to_unit(lan)
    question = lan.with_button("UBND tỉnh Quảng Ninh ›")
    mark = len(lan.messages)
    first = await lan.user.press_button(question, "UBND tỉnh Quảng Ninh ›")
    second = await lan.user.press(question, "ub:QN:0", check_button=False)
    await world.sim.wait_for_callback_answer(first["id"])
    await world.sim.wait_for_callback_answer(second["id"])
    await quiet(world, lan.id)
    assert "UBND phường Hạ Long" in labels(current(world, question))
    assert [m["text"] for m in lan.messages[mark:]] == []


async def test_stale_and_forged_report_buttons_after_sending_change_nothing(
    world: World,
) -> None:
    lan = world.person(731821, "Lan")
    review = await walk_to_review(lan, DESCRIPTION)
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    confirmation = lan.messages[-1]
    report = await report_of(world, code)
    counts = table_counts(world)
    mark = len(lan.messages)
    for message, data in (
        (review, "confirm"),
        (review, CONFIRM_DATA),
        (review, "edit:description"),
        (review, answer_data(Step.REVIEW, "edit_description")),
        (review, "cat:other"),
        (review, answer_data(Step.CATEGORY, "other")),
        (confirmation, "fb:yes:999"),
        (confirmation, f"fb:no:{report.id}"),
        (confirmation, "rate:1:9"),
        (confirmation, f"rate:{report.id}:0"),
        (confirmation, "ans:abc"),
        (confirmation, "ans:999999"),
        (confirmation, "lang:xx"),
    ):
        answer = await press_data(world, lan.user, message, data)
        # An unknown language only stops the button's spinner; everything else is stale.
        assert answer == ("" if data.startswith("lang:") else NOT_ACTIVE), (data, answer)
    await quiet(world, lan.id)
    assert lan.messages[mark:] == []
    assert await report_of(world, code) == report
    assert table_counts(world) == counts
    # The bot still works.
    shown = await lan.say(f"/status {code}", expect="Tình trạng")
    assert "Đã nhận, đang chờ đơn vị tiếp nhận" in shown["text"]


# -- forged, stale and replayed callback data: the officers' side ------------------------------


async def test_forged_picker_data_and_a_closed_picker_change_nothing(world: World) -> None:
    _citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng")
    stranger = member(world, STRANGER, "Khách")
    report = await report_of(world, code)
    rid = report.id
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await officer.press_button(alert, "Chuyển đơn vị")
    picker = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Chọn đơn vị", after=mark)
    for data in (
        f"tu:{rid}:NOPE",
        f"tu:{rid}:HL",
        f"tu:{rid + 1}:DT",
        f"dr:{rid}:zzz",
        f"st:ack:{rid}",
        f"tx:{rid + 1}",
        f"tb:{rid}:NOPE:0",
        f"tb:{rid}:QN:999",
    ):
        answer = await press_data(world, officer, picker, data)
        if data.startswith("tb:"):
            assert answer == "", data  # a page of the tree, shown in place
        else:
            assert answer == NOT_ACTIVE, (data, answer)
    assert await press_data(world, stranger, picker, f"tu:{rid}:DT") == OFFICERS_ONLY
    # Closed, the picker's buttons are stale; replaying one does nothing.
    assert await press_data(world, officer, picker, f"tx:{rid}") == ""
    await eventually(lambda: labels(current(world, picker)) == [])
    assert await press_data(world, officer, picker, f"tu:{rid}:DT") == NOT_ACTIVE
    await quiet(world, HA_LONG_CHAT)
    assert not any("vui lòng trả lời" in m["text"] for m in world.sim.messages(HA_LONG_CHAT))
    after_all = await report_of(world, code)
    assert (after_all.status, after_all.fields.unit_code) == (Status.NEW, "HL")
    assert [e.action for e in await world.db.reports.audit_of(rid)] == ["submitted"]
    # The bot still works: a real press acknowledges; the same press replayed does nothing.
    original = current(world, alert)
    query = await officer.press_button(original, "Tiếp nhận")
    assert "Đã cập nhật" in str((await world.sim.wait_for_callback_answer(query["id"]))["text"])
    replay = await press_data(world, officer, original, f"st:ack:{rid}")
    assert replay == "Phản ánh này vừa được cập nhật; thao tác của bạn chưa được thực hiện."
    assert (await report_of(world, code)).status == Status.ACKNOWLEDGED
    assert [e.action for e in await world.db.reports.audit_of(rid)] == [
        "submitted",
        "acknowledged",
    ]
