"""Officers take a report from alert to resolution in Telegram; the reporter stays hidden."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.core.domain import Actor, Draft, ReportFields, Status
from bot.core.parsing import format_code
from bot.core.workflow import ANONYMOUS_ADMIN_ID
from bot.sim import SimUser
from tests.conftest import (
    ALERT,
    DONG_TRIEU_CHAT,
    HA_LONG_CHAT,
    PROVINCE_CHAT,
    VAN_DON_CHANNEL,
    Person,
    World,
    code_in,
    current,
    eventually,
    labels,
    member,
    press,
    press_data,
    quick_report,
    walk_to_review,
)

OFFICER_QN = 900101
OFFICER_HL = 900102
OFFICER_DT = 900103
STRANGER = 900199

# An officer's whole path, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_backends


async def reported(world: World, user_id: int = 720001) -> tuple[Person, str, dict[str, Any]]:
    """A citizen reports to Hạ Long; return them, the code and the alert in Hạ Long's chat."""
    citizen = world.person(user_id, "Lan", last_name="Nguyễn Thị", username="lan_citizen")
    code = await quick_report(citizen)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    return citizen, code, alert


async def status_of(world: World, code: str) -> str:
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    return report.status


async def reply_in(
    world: World, user: SimUser, chat_id: int, to: dict[str, Any], text: str, expect: str
) -> dict[str, Any]:
    """Reply to a bot message in a chat and return the bot's next message there."""
    mark = len(world.sim.messages(chat_id))
    await user.send(text, chat_id=chat_id, reply_to=to)
    return await world.sim.wait_for_message(chat_id, contains=expect, after=mark)


async def prompt_for(world: World, chat_id: int, mark: int) -> dict[str, Any]:
    return await world.sim.wait_for_message(chat_id, contains="vui lòng trả lời", after=mark)


async def test_acknowledge_notifies_citizen_and_edits_alert(world: World) -> None:
    citizen, code, alert = await reported(world)
    assert "✅ Tiếp nhận" in labels(alert) and "🏁 Đã giải quyết" not in labels(alert)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)

    mark = len(citizen.messages)
    assert "Đã cập nhật" in await press(world, officer, alert, "Tiếp nhận")

    told = await world.sim.wait_for_message(citizen.id, contains="tiếp nhận", after=mark)
    assert code in told["text"] and "UBND phường Hạ Long" in told["text"]
    assert "Hạn giải quyết" in told["text"] and "30/12/2026" in told["text"]
    assert "Hùng" not in told["text"]
    await eventually(lambda: "Đơn vị đã tiếp nhận" in current(world, alert)["text"])
    edited = current(world, alert)
    assert "Hạn giải quyết: 30/12/2026" in edited["text"]
    assert "đã tiếp nhận – Hùng" in edited["text"]
    assert "✅ Tiếp nhận" not in labels(edited)
    assert {"🔧 Đang xử lý", "⏳ Gia hạn", "🏁 Đã giải quyết"} <= set(labels(edited))

    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.status == Status.ACKNOWLEDGED
    history = await world.db.reports.audit_of(report.id)
    assert [(e.action, e.from_status, e.to_status) for e in history] == [
        ("submitted", None, "new"),
        ("acknowledged", "new", "acknowledged"),
    ]
    assert history[1].actor.id == OFFICER_HL and history[0].actor.id is None


async def test_only_officers_of_the_unit_or_above_may_act(world: World) -> None:
    citizen, code, alert = await reported(world)
    stranger = member(world, STRANGER, "Khách", HA_LONG_CHAT)
    other_unit = member(world, OFFICER_DT, "Dũng", HA_LONG_CHAT)
    anonymous = world.sim.add_user(ANONYMOUS_ADMIN_ID, "Group", username="GroupAnonymousBot")
    mark = len(citizen.messages)

    for who in (stranger, other_unit, anonymous):
        answer = await press(world, who, alert, "Tiếp nhận")
        assert "cán bộ" in answer or "ẩn danh" in answer, answer
    assert await status_of(world, code) == Status.NEW
    assert world.sim.count("editMessageText", HA_LONG_CHAT) == 0

    # An officer of the province, the unit above, may act on Hạ Long's report.
    province = member(world, OFFICER_QN, "Quang", HA_LONG_CHAT)
    await press(world, province, alert, "Tiếp nhận")
    assert await status_of(world, code) == Status.ACKNOWLEDGED
    told = await world.sim.wait_for_message(citizen.id, contains="tiếp nhận", after=mark)
    assert "Quang" not in told["text"]


async def test_forged_stale_and_replayed_presses_change_nothing(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    # Another report's id, an unknown action, garbage, a picker's data on an alert.
    for data in (
        f"st:ack:{report.id + 1000}",
        f"st:zzz:{report.id}",
        "st:ack:",
        "st:ack:1:2:3",
        f"tu:{report.id}:DT",
        f"dr:{report.id}:dup",
        f"rate:{report.id}:5",
        f"fb:no:{report.id}",
        "x" * 64,
    ):
        answer = await press_data(world, officer, alert, data)
        assert answer, data
    # A status button on a message that is no alert (the citizen's confirmation).
    confirmation = citizen.messages[-1]
    answer = await press_data(world, citizen.user, confirmation, f"st:ack:{report.id}")
    assert "không còn" in answer
    assert await status_of(world, code) == Status.NEW

    # A real press, then the same press replayed: one step, one audit line.
    original = current(world, alert)
    await press(world, officer, alert, "Tiếp nhận")
    replay = await officer.press(original, f"st:ack:{report.id}", check_button=False)
    answer = await world.sim.wait_for_callback_answer(replay["id"])
    assert "vừa được cập nhật" in str(answer.get("text"))
    actions = [e.action for e in await world.db.reports.audit_of(report.id)]
    assert actions.count("acknowledged") == 1
    # The bot still works after all of that.
    await eventually(lambda: "🔧 Đang xử lý" in labels(current(world, alert)))
    assert "Đã cập nhật" in await press(world, officer, alert, "Đang xử lý")


async def test_question_and_answer_relayed_with_no_identity(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)

    # An officer replies to the alert: the citizen gets the question from the bot.
    mark = len(citizen.messages)
    await reply_in(
        world, officer, HA_LONG_CHAT, alert, "Anh/chị đến lúc mấy giờ?", expect="Đã gửi câu hỏi"
    )
    question = await world.sim.wait_for_message(citizen.id, contains="Câu hỏi", after=mark)
    assert "Anh/chị đến lúc mấy giờ?" in question["text"] and code in question["text"]
    assert "Hùng" not in question["text"] and str(OFFICER_HL) not in str(question)
    assert "forward_origin" not in question

    # The citizen replies with text, then with a photo: both reach the unit's chat.
    unit_mark = len(world.sim.messages(HA_LONG_CHAT))
    await citizen.user.send("Khoảng 8 giờ sáng thứ Hai.", reply_to=question)
    answer = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="Khoảng 8 giờ", after=unit_mark
    )
    assert code in answer["text"] and "Trả lời của người phản ánh" in answer["text"]
    await citizen.user.send_photo(content=b"\xff\xd8 ticket photo", reply_to=question)
    photo = await world.sim.wait_for_message(
        HA_LONG_CHAT, predicate=lambda m: "photo" in m, after=unit_mark
    )
    assert code in photo.get("caption", "")
    for relayed in world.sim.messages(HA_LONG_CHAT)[unit_mark:]:
        # copied_from is the simulation's own note of the source, not part of the message.
        dump = str({k: v for k, v in relayed.items() if k != "copied_from"})
        assert "Lan" not in dump and "lan_citizen" not in dump and str(citizen.id) not in dump
        assert "forward_origin" not in relayed
    confirmations = [m for m in citizen.messages if "đã được chuyển đến đơn vị" in m["text"]]
    assert len(confirmations) == 2

    # The ask button: a prompt, the officer's reply to it goes to the citizen too.
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Hỏi người phản ánh")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    citizen_mark = len(citizen.messages)
    await reply_in(world, officer, HA_LONG_CHAT, prompt, "Có biên lai không?", "Đã gửi câu hỏi")
    second = await world.sim.wait_for_message(
        citizen.id, contains="Có biên lai không?", after=citizen_mark
    )
    # The answer button opens a reply box tied to the report.
    await citizen.user.press_button(second, "Trả lời")
    box = await world.sim.wait_for_message(citizen.id, contains="Hãy nhập câu trả lời")
    await citizen.user.send("Có, tôi giữ biên lai.", reply_to=box)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="tôi giữ biên lai")

    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    relays = await world.db.links.relays_of(report.id)
    assert [r.direction for r in relays] == [
        "to_citizen",
        "to_unit",
        "to_unit",
        "to_citizen",
        "to_unit",
    ]
    assert [r.actor_id for r in relays if r.direction == "to_unit"] == [None, None, None]


async def test_a_stranger_replying_to_the_alert_reaches_nobody(world: World) -> None:
    citizen, _code, alert = await reported(world)
    stranger = member(world, STRANGER, "Khách", HA_LONG_CHAT)
    mark = len(citizen.messages)
    await reply_in(world, stranger, HA_LONG_CHAT, alert, "Xin chào", expect="Chỉ cán bộ")
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Chỉ cán bộ")
    assert citizen.messages[mark:] == []


async def test_transfer_to_another_unit(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Chuyển đơn vị")
    picker = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Chọn đơn vị", after=mark)
    await officer.press_button(picker, "UBND tỉnh Quảng Ninh ›")
    await eventually(lambda: "UBND phường Đông Triều" in labels(current(world, picker)))
    assert "UBND phường Hạ Long" not in labels(current(world, picker))
    await officer.press_button(current(world, picker), "UBND phường Đông Triều")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    assert "Đông Triều" in prompt["text"]
    await reply_in(
        world, officer, HA_LONG_CHAT, prompt, "Việc xảy ra tại Đông Triều.", "Đã cập nhật"
    )

    new_alert = await world.sim.wait_for_message(DONG_TRIEU_CHAT, contains=code)
    assert "Được chuyển đến" in new_alert["text"] and "✅ Tiếp nhận" in labels(new_alert)
    await eventually(lambda: "Đã chuyển sang" in current(world, alert)["text"])
    assert labels(current(world, alert)) == []
    told = await world.sim.wait_for_message(citizen.id, contains="đã được chuyển")
    assert "UBND phường Đông Triều" in told["text"] and "Hùng" not in told["text"]

    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.fields.unit_code == "DT"
    assert report.status == Status.NEW
    # Hạ Long's old buttons no longer act; Đông Triều's officer can.
    answer = await press_data(world, officer, alert, f"st:ack:{report.id}")
    assert "chuyển đi" in answer
    dt_officer = member(world, OFFICER_DT, "Dũng", DONG_TRIEU_CHAT)
    await press(world, dt_officer, new_alert, "Tiếp nhận")
    assert await status_of(world, code) == Status.ACKNOWLEDGED


async def test_resolve_then_citizen_says_not_resolved_and_rates(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await press(world, officer, alert, "Tiếp nhận")
    await eventually(lambda: "🏁 Đã giải quyết" in labels(current(world, alert)))

    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Đã giải quyết")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    await reply_in(world, officer, HA_LONG_CHAT, prompt, "ok", "từ 5 đến 1000 ký tự")
    note = "Đã kiểm điểm cán bộ <b>và</b> trả hồ sơ đúng hạn."
    await reply_in(world, officer, HA_LONG_CHAT, prompt, note, "Đã cập nhật")
    # The prompt is spent: replying again does nothing more.
    await officer.send("Ghi chú thêm lần nữa.", chat_id=HA_LONG_CHAT, reply_to=prompt)

    verdict = await world.sim.wait_for_message(citizen.id, contains="thực sự được giải quyết")
    assert note in verdict["text"]  # shown literally, escaped on the way
    assert await status_of(world, code) == Status.RESOLVED
    unit_mark = len(world.sim.messages(HA_LONG_CHAT))
    await citizen.user.press_button(verdict, "Chưa giải quyết")
    await world.sim.wait_for_message(citizen.id, contains="đã được mở lại")
    rating = await world.sim.wait_for_message(citizen.id, contains="đánh giá thế nào")
    reopened = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Mở lại", after=unit_mark)
    assert code in reopened["text"] and "✅ Tiếp nhận" in labels(reopened)
    assert await status_of(world, code) == Status.NEW

    await citizen.user.press_button(rating, "⭐⭐⭐⭐")
    await world.sim.wait_for_message(citizen.id, contains="bạn đã đánh giá")
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.rating == 4 and report.citizen_verdict == "no"
    actions = [e.action for e in await world.db.reports.audit_of(report.id)]
    assert actions == ["submitted", "acknowledged", "resolved", "reopened", "rated"]


async def test_not_resolved_after_the_reopen_period_keeps_it_closed(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await press(world, officer, alert, "Tiếp nhận")
    await eventually(lambda: "🏁 Đã giải quyết" in labels(current(world, alert)))
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Đã giải quyết")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    await reply_in(world, officer, HA_LONG_CHAT, prompt, "Đã xử lý xong.", "Đã cập nhật")
    verdict = await world.sim.wait_for_message(citizen.id, contains="thực sự được giải quyết")
    world.clock.advance(days=8)
    await citizen.user.press_button(verdict, "Chưa giải quyết")
    await world.sim.wait_for_message(citizen.id, contains="không thể mở lại")
    assert await status_of(world, code) == Status.RESOLVED


async def test_decline_with_reason_and_note(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Không xử lý")
    picker = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Lý do", after=mark)
    await officer.press_button(picker, "Trùng với phản ánh khác")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    await reply_in(
        world, officer, HA_LONG_CHAT, prompt, "Trùng phản ánh đã xử lý tuần trước.", "Đã cập nhật"
    )
    told = await world.sim.wait_for_message(citizen.id, contains="không xử lý")
    assert "Trùng với phản ánh khác" in told["text"] and "tuần trước" in told["text"]
    assert await status_of(world, code) == Status.DECLINED
    await eventually(lambda: labels(current(world, alert)) == [])


async def test_extend_once_with_days_and_reason(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await press(world, officer, alert, "Tiếp nhận")
    await eventually(lambda: "⏳ Gia hạn" in labels(current(world, alert)))
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Gia hạn")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    await reply_in(world, officer, HA_LONG_CHAT, prompt, "45 quá lâu", "từ 1 đến 30")
    await reply_in(world, officer, HA_LONG_CHAT, prompt, "chờ thêm", "từ 1 đến 30")
    await reply_in(
        world, officer, HA_LONG_CHAT, prompt, "15 ngày chờ kết quả đo đạc", "Đã cập nhật"
    )
    told = await world.sim.wait_for_message(citizen.id, contains="gia hạn")
    # Acknowledged Monday 30 Nov: due 30 Dec, plus 15 days.
    assert "14/01/2027" in told["text"]
    await eventually(lambda: "Hạn giải quyết: 14/01/2027" in current(world, alert)["text"])
    assert "⏳ Gia hạn" not in labels(current(world, alert))
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.extended


async def test_pending_and_report_commands_in_the_unit_chat(world: World) -> None:
    first = await quick_report(world.person(720011, "An"))
    second = await quick_report(world.person(720012, "Bình"))
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    stranger = member(world, STRANGER, "Khách", HA_LONG_CHAT)

    listing = await reply_or_say(world, officer, HA_LONG_CHAT, "/pending", "Phản ánh đang chờ")
    assert first in listing["text"] and second in listing["text"]
    assert "QUÁ HẠN" not in listing["text"]
    await reply_or_say(world, stranger, HA_LONG_CHAT, "/pending", "Chỉ cán bộ")
    await reply_or_say(world, officer, officer.id, "/pending", "chỉ dùng được trong nhóm")

    # The unit above sees its children's reports, marked once overdue.
    world.clock.advance(days=5)
    province = member(world, OFFICER_QN, "Quang", PROVINCE_CHAT)
    listing = await reply_or_say(world, province, PROVINCE_CHAT, "/pending", "Phản ánh đang chờ")
    assert first in listing["text"] and "QUÁ HẠN" in listing["text"]

    # /report CODE: the report with its history and working buttons, only for its units.
    shown = await reply_or_say(world, officer, HA_LONG_CHAT, f"/report {first}", "Lịch sử")
    assert first in shown["text"] and "✅ Tiếp nhận" in labels(shown)
    await press(world, officer, shown, "Tiếp nhận")
    assert await status_of(world, first) == Status.ACKNOWLEDGED
    dt_officer = member(world, OFFICER_DT, "Dũng", DONG_TRIEU_CHAT)
    await reply_or_say(world, dt_officer, DONG_TRIEU_CHAT, f"/report {first}", "Không có")
    await reply_or_say(world, stranger, HA_LONG_CHAT, f"/report {first}", "Chỉ cán bộ")


async def answer_to(world: World, user: SimUser, chat_id: int, text: str) -> tuple[str, Any]:
    """Send a message in a group; return the bot's answer, text and formatting."""
    mark = len(world.sim.messages(chat_id))
    await user.send(text, chat_id=chat_id)
    answer = await world.sim.wait_for_message(chat_id, after=mark)
    return answer["text"], answer.get("entities")


async def test_a_refusal_is_the_same_whatever_the_code(world: World) -> None:
    _citizen, here, alert = await reported(world)
    there = await quick_report(world.person(720031, "Mai"))
    report = await world.db.reports.report_by_code(there.replace("-", ""))
    assert report is not None
    workflow = world.app.bot_data["services"].workflow
    actor = Actor("officer", OFFICER_HL, "Hùng")
    assert await workflow.transfer(report, actor, "DT", "Việc của Đông Triều.") is not None
    await world.sim.wait_for_message(DONG_TRIEU_CHAT, contains=there)
    moved = await world.sim.wait_for_message(HA_LONG_CHAT, contains=there)
    codes = (here, "ABCD-EFGH", there, "<b>@@!!</b> '1'='1")

    # In Hạ Long's group, someone who is no officer: one refusal, word for word.
    stranger = member(world, STRANGER, "Khách", HA_LONG_CHAT)
    answers = {await answer_to(world, stranger, HA_LONG_CHAT, f"/report {c}") for c in codes}
    assert len(answers) == 1 and "Chỉ cán bộ" in answers.pop()[0]
    # Đông Triều's officer in Đông Triều's group, for codes that are not Đông Triều's: an
    # existing report of Hạ Long, a code nobody has, and no code at all.
    dt_officer = member(world, OFFICER_DT, "Dũng", DONG_TRIEU_CHAT)
    answers = {
        await answer_to(world, dt_officer, DONG_TRIEU_CHAT, f"/report {c}")
        for c in (here, "ABCD-EFGH", "<b>@@!!</b> '1'='1")
    }
    assert len(answers) == 1 and "Không có" in answers.pop()[0]

    # A button pressed by the stranger: a live alert, another report's id, a transferred one.
    assert {
        await press(world, stranger, alert, "Tiếp nhận"),
        await press_data(world, stranger, alert, f"st:ack:{report.id}"),
        await press_data(world, stranger, moved, f"st:ack:{report.id}"),
    } == {"Chỉ cán bộ của đơn vị mới có thể thực hiện thao tác này."}
    assert await status_of(world, here) == Status.NEW


async def test_anonymous_admin_cannot_ask_or_note(world: World) -> None:
    citizen, _code, alert = await reported(world)
    anonymous = world.sim.add_user(ANONYMOUS_ADMIN_ID, "Group", username="GroupAnonymousBot")
    mark = len(citizen.messages)
    await reply_in(world, anonymous, HA_LONG_CHAT, alert, "Câu hỏi ẩn danh", "ẩn danh")
    assert citizen.messages[mark:] == []


async def reply_or_say(
    world: World, user: SimUser, chat_id: int, text: str, expect: str
) -> dict[str, Any]:
    mark = len(world.sim.messages(chat_id))
    await user.send(text, chat_id=chat_id if chat_id != user.id else None)
    return await world.sim.wait_for_message(chat_id, contains=expect, after=mark)


async def test_in_a_channel_the_note_is_asked_in_private(world: World) -> None:
    citizen = world.person(720021, "Cúc")
    await walk_to_review(
        citizen,
        "Cán bộ một cửa hẹn ba lần vẫn chưa trả kết quả hồ sơ.",
        unit_query="mot cua",
        unit_button="Bộ phận Một cửa Vân Đồn",
    )
    code = code_in((await citizen.press("Gửi phản ánh", expect="/status"))["text"])
    alert = await world.sim.wait_for_message(VAN_DON_CHANNEL, contains=code)
    officer = world.sim.add_user(900105, "Vân")
    world.sim.chat(VAN_DON_CHANNEL).add_member(officer, "administrator")

    await press(world, officer, alert, "Tiếp nhận")
    await eventually(lambda: "🏁 Đã giải quyết" in labels(current(world, alert)))
    # The officer never started the bot: told how, nothing happens.
    world.sim.chat(officer.id).started = False
    assert "Start" in await press(world, officer, alert, "Đã giải quyết")
    world.sim.chat(officer.id).started = True
    assert "tin nhắn riêng" in await press(world, officer, alert, "Đã giải quyết")
    prompt = await world.sim.wait_for_message(officer.id, contains="vui lòng trả lời")
    await reply_in(world, officer, officer.id, prompt, "Đã trả kết quả ngày 02/12.", "Đã cập nhật")
    await world.sim.wait_for_message(citizen.id, contains="Đã trả kết quả ngày 02/12.")
    assert await status_of(world, code) == Status.RESOLVED


async def test_a_prompt_answered_after_the_report_moved_on_does_nothing(world: World) -> None:
    _citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Không xử lý")
    picker = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Lý do", after=mark)
    await officer.press_button(picker, "Không đủ thông tin")
    prompt = await prompt_for(world, HA_LONG_CHAT, mark)
    await press(world, officer, alert, "Tiếp nhận")  # meanwhile, someone acknowledges
    await reply_in(
        world, officer, HA_LONG_CHAT, prompt, "Thiếu thông tin cụ thể.", "vừa được cập nhật"
    )
    assert await status_of(world, code) == Status.ACKNOWLEDGED


async def test_long_pending_lists_and_histories_fit_telegram(world: World) -> None:
    db = world.db
    codes = []
    # Vân Đồn has no alert chat, so its alerts are held and Telegram's 20-a-minute limit for
    # a group does not slow the test; the province, the level above, sees them all.
    for n in range(60):
        fields = ReportFields(
            category="delay", unit_code="VD", description="Hồ sơ trễ hẹn " * 3, anonymous=True
        )
        await db.drafts.save_draft(Draft(800000 + n, 800000 + n, 14, fields))
        report = await db.reports.submit_draft(800000 + n, "vi", outbox=ALERT)
        assert report is not None
        codes.append(format_code(report.code))
    first = await db.reports.report_by_code(codes[0].replace("-", ""))
    assert first is not None
    for _n in range(80):
        await db.reports.transition(
            first.id, actor=Actor("officer", OFFICER_QN, "Cán bộ " * 10), action="asked"
        )
    officer = member(world, OFFICER_QN, "Quang", PROVINCE_CHAT)
    mark = len(world.sim.messages(PROVINCE_CHAT))
    await officer.send("/pending", chat_id=PROVINCE_CHAT)
    await world.sim.wait_for_message(PROVINCE_CHAT, contains="/report", after=mark)
    listing = "\n".join(str(m.get("text")) for m in world.sim.messages(PROVINCE_CHAT)[mark:])
    assert all(code in listing for code in codes)
    assert len(world.sim.messages(PROVINCE_CHAT)[mark:]) >= 2
    shown = await reply_or_say(
        world, officer, PROVINCE_CHAT, f"/report {codes[0]}", "mục trước đó"
    )
    assert len(shown["text"]) < 4096 and codes[0] in shown["text"]


async def test_rating_an_open_report_is_refused(world: World) -> None:
    citizen, code, _alert = await reported(world)
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    confirmation = citizen.messages[-1]
    answer = await press_data(world, citizen.user, confirmation, f"rate:{report.id}:1")
    assert "đã đánh giá" in answer
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.rating is None


async def test_edits_follow_a_group_upgraded_to_a_supergroup(world: World) -> None:
    _citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    new_id = -1009999999102
    await world.sim.migrate_chat(HA_LONG_CHAT, new_id)
    await eventually(lambda: world.db.units.units_by_chat(new_id))
    await press(world, officer, alert, "Tiếp nhận")
    db = world.db

    async def settled() -> bool:
        return (await db.outbox.stats()).get("pending", 0) == 0

    await eventually(settled)
    unit = await db.units.get_unit("HL")
    assert unit is not None and unit.chat_id == new_id
    report = await db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    assert [link.chat_id for link in await db.links.alert_links(report.id)] == [new_id]
    # The alert's edits (the citizen's questions are edited in their own chat): the old
    # group's refused one and the supergroup's.
    edits = world.sim.count("editMessageText", chat_id=HA_LONG_CHAT)
    assert edits + world.sim.count("editMessageText", chat_id=new_id) <= 2


async def test_a_banned_reporter_is_not_asked_and_the_officer_is_told(world: World) -> None:
    citizen, code, alert = await reported(world, 720101)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await world.db.admin.ban(citizen.id, "spam", by=1)
    mark = len(citizen.messages)
    said = await reply_in(
        world, officer, HA_LONG_CHAT, alert, "Anh/chị đến lúc mấy giờ?", expect=code
    )
    assert "không còn liên lạc được" in said["text"].lower()
    await asyncio.sleep(0.3)
    assert citizen.messages[mark:] == []
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and await world.db.links.relays_of(report.id) == []


async def test_a_question_queued_before_a_ban_is_held_back_and_the_unit_told(
    world: World,
) -> None:
    citizen, code, alert = await reported(world, 720102)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    # The question is accepted, but Telegram refuses it to the citizen for a while, during
    # which an admin bans them.
    world.sim.inject("sendMessage", status=500, chat_id=citizen.id, times=1)
    mark = len(citizen.messages)
    unit_mark = len(world.sim.messages(HA_LONG_CHAT))
    await reply_in(world, officer, HA_LONG_CHAT, alert, "Có biên lai không?", "Đã gửi câu hỏi")
    await world.db.admin.ban(citizen.id, "spam", by=1)
    note = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="không còn liên lạc được", after=unit_mark, timeout=15
    )
    assert code in note["text"]
    assert not any("Có biên lai" in (m.get("text") or "") for m in citizen.messages[mark:])
