"""End to end: the real application talks HTTP to the simulated Bot API."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application

from bot.app import build_application, running
from bot.core.conversation import Step
from bot.core.parsing import normalize_code
from bot.sim import BotApiSimulator
from tests.conftest import (
    CONFIRM_DATA,
    HA_LONG_CHAT,
    FakeClock,
    Person,
    World,
    code_in,
    eventually,
    make_settings,
    walk_to_review,
)

PHOTO = b"\xff\xd8\xff\xe0" + b"photo of the receipt" * 40 + b"\xff\xd9"
RECEIPT = b"%PDF-1.4 receipt with <b>tags</b> & ampersands"
DESCRIPTION_VI = (
    "Tôi nộp hồ sơ cấp giấy chứng nhận quyền sử dụng đất. Cán bộ nói phải đưa thêm 2 triệu"
    " thì mới nhận hồ sơ <script>alert(1)</script> & còn doạ trả lại."
)

# The whole path of a report, on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_backends


async def consent(person: Person) -> None:
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")


async def test_full_report_in_vietnamese_reaches_unit_without_identity(world: World) -> None:
    sim = world.sim
    lan = world.person(700001, "Lan", last_name="Nguyễn", username="lan_qn")
    await consent(lan)
    await lan.press("hối lộ", expect="đơn vị")
    found = await lan.say("ha long", expect="ha long")
    assert any("UBND phường Hạ Long" in label for label, _ in found["buttons"])
    await lan.press("UBND phường Hạ Long", expect="tiền")
    await lan.say("xin 2tr", expect="không đọc được")  # not an amount: asked again
    await lan.say("2tr", expect="cán bộ")
    await lan.say("Cán bộ bàn số 3, bộ phận một cửa", expect="lãnh đạo")
    await lan.press("Không", expect="khi nào")
    await lan.say("01/01/2999", expect="tương lai")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.say("Bộ phận một cửa UBND phường Hạ Long", expect="Mô tả")
    await lan.say("quá ngắn", expect="20")
    await lan.say(DESCRIPTION_VI, expect="bằng chứng")
    await lan.send_photo(PHOTO, expect="1")
    await lan.send_document("bien-nhan.pdf", RECEIPT, expect="2")
    await lan.press("Xong", expect="ẩn danh")
    review = await lan.press("Ẩn danh", expect="kiểm tra")
    for part in (
        "Đòi hoặc nhận hối lộ",
        "UBND phường Hạ Long",
        "2.000.000",
        "Cán bộ bàn số 3",
        "<script>alert(1)</script>",
        "Ẩn danh",
    ):
        assert part in review["text"], part
    confirmation = await lan.press("Gửi phản ánh", expect="/status")
    code = code_in(confirmation["text"])

    alert = await sim.wait_for_message(HA_LONG_CHAT, contains=code)
    copies = [
        await sim.wait_for_message(HA_LONG_CHAT, contains="1/2", after=1),
        await sim.wait_for_message(HA_LONG_CHAT, contains="2/2", after=1),
    ]
    assert "photo" in copies[0] and "document" in copies[1]
    assert "2.000.000" in alert["text"] and "Cán bộ bàn số 3" in alert["text"]
    # User text reaches the unit literally: escaped, never interpreted as markup.
    assert "<script>alert(1)</script> & còn doạ" in alert["text"]
    assert "&lt;script&gt;" in alert["html"]
    # Nothing in the unit's chat can identify the reporter.
    # Everything the channel shows (the simulator's own bookkeeping of copies aside).
    unit_chat = "\n".join(
        str({k: v for k, v in m.items() if k != "copied_from"}) for m in sim.messages(HA_LONG_CHAT)
    )
    for trace in ("700001", "Lan", "Nguyễn", "lan_qn"):
        assert trace not in unit_chat
    assert sim.count("forwardMessage") == 0
    assert sim.count("copyMessage", chat_id=HA_LONG_CHAT) == 2
    assert len([m for m in sim.messages(HA_LONG_CHAT) if code in (m.get("text") or "")]) == 3

    # Stored durably, with the evidence's fingerprints.
    report = await world.db.reports.report_for_reporter(normalize_code(code) or "", lan.id)
    assert report is not None and report.fields.amount == 2_000_000
    assert report.fields.anonymous is True and report.fields.contact_phone is None
    atts = await world.db.reports.report_attachments(report.id)
    assert [a.kind for a in atts] == ["photo", "document"]

    async def hashed() -> bool:
        current = await world.db.reports.report_attachments(report.id)
        return all(a.sha256 for a in current)

    await eventually(hashed)
    current = await world.db.reports.report_attachments(report.id)
    assert current[0].sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert current[1].sha256 == hashlib.sha256(RECEIPT).hexdigest()

    status = await lan.say(f"/status {code.lower()}", expect=code)
    assert "UBND phường Hạ Long" in status["text"]
    listing = await lan.say("/myreports", expect=code)
    assert "chờ" in listing["text"].lower() or "tiếp nhận" in listing["text"].lower()
    stranger = world.person(700002, "Khách")
    answer = await stranger.say(f"/status {code}", expect="Không tìm thấy")
    assert "Hạ Long" not in answer["text"]


async def test_full_named_delay_report_in_english_with_edit(world: World) -> None:
    sim = world.sim
    john = world.person(700011, "John", language="en", username="john_en")
    await john.say("/start", expect="agree")
    await john.press("I agree", expect="kind of misconduct")
    await john.press("Delay or overdue", expect="Which unit")
    # Browse the tree: province › special zone › its one-stop desk.
    await john.browse("UBND tỉnh Quảng Ninh", until_button="UBND đặc khu Vân Đồn")
    await john.browse("UBND đặc khu Vân Đồn", until_button="Bộ phận Một cửa Vân Đồn")
    assert john.has_button("✅ UBND đặc khu Vân Đồn")  # a branch can be chosen itself
    await john.press("Bộ phận Một cửa Vân Đồn", expect="dossier code")
    await john.say("HS-2026-000123", expect="submit")
    await john.say("02/03/2026", expect="promised")
    await john.say("01/03/2026", expect="cannot be before")
    await john.say("12/03/2026", expect="official")
    await john.press("Skip", expect="When")
    await john.say("yesterday", expect="Where")
    await john.press("Skip", expect="Describe")
    await john.say(
        "The dossier has been overdue for weeks and nobody answers the phone.", expect="evidence"
    )
    await john.press("Skip: no evidence", expect="anonymously")
    prompt = await john.press("With my name", expect="share your name")
    assert "📱 Share my phone number [request_contact]" in prompt["reply_keyboard"]
    await john.user.send_contact("+84900000001", "Mallory", user_id=123)
    await sim.wait_for_message(john.id, contains="your own contact")
    mark = len(john.messages)
    await john.user.send_contact("+84912345678", "John", last_name="Smith")
    review = await sim.wait_for_message(john.id, contains="check your report", after=mark)
    assert "HS-2026-000123" in review["text"] and "12 Mar 2026" in review["text"]
    assert "John Smith, +84912345678" in review["text"]

    await john.press("Description", expect="Describe")
    review = await john.say(
        "Overdue for six weeks; the desk officer keeps saying come back.",
        expect="check your report",
    )
    assert "six weeks" in review["text"]
    confirmation = await john.press("Send report", expect="Tracking code")
    code = code_in(confirmation["text"])

    alert = await sim.wait_for_message(-1001000000005, contains=code)
    assert "HS-2026-000123" in alert["text"]
    assert "named" not in alert["text"]  # the unit's channel speaks Vietnamese
    assert "danh tính" in alert["text"].lower()
    for trace in ("700011", "John", "Smith", "+84912345678", "john_en"):
        assert trace not in alert["text"]
    report = await world.db.reports.report_for_reporter(normalize_code(code) or "", john.id)
    assert report is not None
    assert (report.fields.contact_name, report.fields.contact_phone) == (
        "John Smith",
        "+84912345678",
    )
    assert report.fields.description and "six weeks" in report.fields.description


async def test_cancel_at_any_step_discards_everything(world: World) -> None:
    mai = world.person(700021, "Mai")
    await consent(mai)
    await mai.press("Gây khó khăn", expect="đơn vị")
    await mai.say("/cancel", expect="Đã huỷ")
    assert await world.db.drafts.get_draft(mai.id) is None
    await mai.say("/cancel", expect="Không có phản ánh nào")
    assert await world.db.reports.count_reports() == 0


async def test_the_application_keeps_nothing_per_person_in_memory(world: World) -> None:
    # Everything about an open conversation is in the database: PTB's ids of the chats and
    # users handled, collected for a persistence, would grow with every person who ever wrote.
    assert "_mark_for_persistence_update" in vars(Application)
    for n in range(3):
        await consent(world.person(700030 + n, f"Người {n}"))
    assert world.app._chat_ids_to_be_updated_in_persistence == set()
    assert world.app._user_ids_to_be_updated_in_persistence == set()
    assert not world.app.user_data and not world.app.chat_data


async def test_edit_category_from_review_asks_its_questions(world: World) -> None:
    an = world.person(700031, "An")
    await consent(an)
    await an.press("hối lộ", expect="đơn vị")
    await an.say("dong trieu", expect="dong trieu")
    await an.press("UBND phường Đông Triều", expect="tiền")
    await an.say("500k", expect="cán bộ")
    await an.press("Bỏ qua", expect="khi nào")
    await an.press("Hôm qua", expect="ở đâu")
    await an.press("Bỏ qua", expect="Mô tả")
    await an.say(
        "Cán bộ hẹn ba lần vẫn không giải quyết hồ sơ cho gia đình tôi.", expect="bằng chứng"
    )
    await an.press("Bỏ qua", expect="ẩn danh")
    review = await an.press("Ẩn danh", expect="kiểm tra")
    assert "500.000" in review["text"]
    await an.press("Loại", expect="Chọn loại")
    await an.press("Chậm trễ", expect="mã thủ tục")
    await an.say("HS-77", expect="nộp")
    await an.press("Bỏ qua", expect="hẹn")
    await an.press("Bỏ qua", expect="kiểm tra")
    review = an.messages[-1]
    assert "HS-77" in review["text"] and "500.000" not in review["text"]
    await an.press("Gửi phản ánh", expect="/status")
    reports = await world.db.reports.reports_of(an.id)
    assert len(reports) == 1
    assert reports[0].fields.category == "delay" and reports[0].fields.amount is None


async def test_off_script_input_gets_a_hint(world: World) -> None:
    binh = world.person(700041, "Bình")
    await consent(binh)
    await binh.user.send_sticker()
    await world.sim.wait_for_message(binh.id, contains="nút")
    await binh.press("Khác", expect="đơn vị")
    await binh.say("/language", expect="ngôn ngữ")
    await binh.press("English", expect="Which unit")
    await binh.say("/whatever", expect="finish this step")
    await binh.say("zzzz no such unit", expect="No unit matches")
    assert (await world.db.drafts.get_draft(binh.id)) is not None


async def test_double_tap_on_confirm_stores_one_report(world: World) -> None:
    chi = world.person(700051, "Chi")
    review = await walk_to_review(
        chi, "Cán bộ đến muộn hai tiếng, người dân phải chờ ngoài cửa.", category="Khác"
    )
    await chi.user.press(review, CONFIRM_DATA)
    await chi.user.press(review, CONFIRM_DATA)
    await world.sim.wait_for_message(chi.id, contains="/status")
    await eventually(lambda: len(world.sim.callback_answers) >= 2)
    assert await world.db.reports.count_reports() == 1


async def test_oversized_file_refused_and_location_accepted(world: World) -> None:
    dung = world.person(700061, "Dũng")
    await consent(dung)
    await dung.press("Thái độ", expect="đơn vị")
    await dung.say("ha long", expect="ha long")
    await dung.press("UBND phường Hạ Long", expect="cán bộ")
    await dung.press("Bỏ qua", expect="khi nào")
    await dung.press("Hôm nay", expect="ở đâu")
    mark = len(dung.messages)
    await dung.user.send_location(20.9517, 107.0801)
    await world.sim.wait_for_message(dung.id, contains="Mô tả", after=mark)
    await dung.say(
        "Cán bộ lớn tiếng với người dân và không hướng dẫn thủ tục.", expect="bằng chứng"
    )
    mark = len(dung.messages)
    await dung.user.send_document("video.mp4", size=25_000_000, mime_type="video/mp4")
    await world.sim.wait_for_message(dung.id, contains="20 MB", after=mark)
    assert await world.db.drafts.draft_attachments(dung.id) == []
    await dung.press("Bỏ qua", expect="ẩn danh")
    review = await dung.press("Ẩn danh", expect="kiểm tra")
    assert "20.95170, 107.08010" in review["text"]
    assert "Số tệp bằng chứng: 0" in review["text"]


async def test_the_code_arrives_when_telegram_fails_just_as_send_is_pressed(world: World) -> None:
    chi = world.person(700061, "Chi")
    await walk_to_review(chi, "Cán bộ quát tháo người dân khi được hỏi hồ sơ.")
    # 502 Bad Gateway for the citizen's next three messages: the report is stored regardless,
    # and the code, queued with it, is retried until it is delivered.
    world.sim.inject("sendMessage", status=502, chat_id=chi.id, times=3)
    mark = len(chi.messages)
    await chi.user.press_button(chi.with_button("Gửi phản ánh"), "Gửi phản ánh")
    receipt = await world.sim.wait_for_message(chi.id, contains="/status", after=mark, timeout=20)
    code = code_in(receipt["text"])
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert await world.db.reports.count_reports() == 1


async def test_a_question_is_retried_through_a_short_outage(world: World) -> None:
    chi = world.person(700071, "Chi")
    await chi.say("/start", expect="đồng ý")
    await chi.press("Tôi đồng ý", expect="Chọn loại")
    # Telegram fails the next two edits (the pressed question becoming the next one) in the
    # citizen's chat: the reply is tried again.
    world.sim.inject("editMessageText", status=502, chat_id=chi.id, times=2)
    await chi.press("Thái độ", expect="đơn vị", wait=10)
    draft = await world.db.drafts.get_draft(chi.id)
    assert draft is not None and not draft.unseen


async def test_a_question_never_shown_is_shown_at_the_next_message(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    settings = replace(make_settings(sim, tmp_path), reply_patience=1.0)
    app = build_application(settings, clock=clock)
    async with running(app):
        world = World(sim, app, settings, clock)
        chi = world.person(700081, "Chi")
        await chi.say("/start", expect="đồng ý")
        await chi.press("Tôi đồng ý", expect="Chọn loại")
        await chi.press("Thái độ", expect="đơn vị")
        await chi.say("ha long", expect="ha long")
        # Longer than a reply waits: the next question (the pressed message edited into it) is
        # lost, the answer is kept.
        sim.inject("editMessageText", status=502, chat_id=chi.id, times=1000)
        await chi.user.press_button(chi.with_button("UBND phường Hạ Long"), "UBND phường Hạ Long")
        await eventually(lambda: unseen(world, chi.id), wait=10)
        sim.clear_injections()
        # The citizen, hearing nothing, writes again: the question comes first, and what they
        # wrote is not taken as its answer.
        await chi.say("Có ai không?", expect="cán bộ", wait=10)
        draft = await world.db.drafts.get_draft(chi.id)
        assert draft is not None
        assert (draft.step, draft.unseen, draft.fields.official) == (Step.OFFICIAL, False, None)
        assert draft.fields.unit_code == "HL"
        await chi.say("Anh Tâm", expect="lãnh đạo")


async def unseen(world: World, user_id: int) -> bool:
    draft = await world.db.drafts.get_draft(user_id)
    return draft is not None and draft.unseen


async def test_an_answer_handled_twice_is_taken_once(world: World) -> None:
    chi = world.person(700091, "Chi")
    await chi.say("/start", expect="đồng ý")
    await chi.press("Tôi đồng ý", expect="Chọn loại")
    await chi.press("Thái độ", expect="đơn vị")
    await chi.say("ha long", expect="ha long")
    await chi.press("UBND phường Hạ Long", expect="cán bộ")
    raw = {
        "update_id": 990001,
        "message": {
            "message_id": 990001,
            "date": int(time.time()),
            "chat": {"id": chi.id, "type": "private", "first_name": "Chi"},
            "from": {"id": chi.id, "is_bot": False, "first_name": "Chi", "language_code": "vi"},
            "text": "Anh Tâm, bàn số 3",
        },
    }
    mark = len(chi.messages)
    # The same update twice, as after a crash before its row was deleted.
    for _ in range(2):
        await world.app.process_update(Update.de_json(raw, world.app.bot))
    await eventually(lambda: len(chi.messages) >= mark + 2)
    draft = await world.db.drafts.get_draft(chi.id)
    assert draft is not None
    assert (draft.step, draft.fields.official, draft.fields.occurred_on) == (
        Step.HEAD,
        "Anh Tâm, bàn số 3",
        None,
    )
    said = [m["text"] for m in chi.messages[mark:]]
    assert all("lãnh đạo" in text for text in said), said
