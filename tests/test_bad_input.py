"""Bad input of every kind ends in a clear answer, with nothing lost or corrupted.

Each case drives the real application against the simulated Bot API, checks what the person
is told (the Vietnamese texts of locales/vi), and checks the database afterwards: the draft
or the report holds exactly the right answers, and no half-written rows are left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_application, running
from bot.config import WebhookConfig
from bot.core.conversation import Step
from bot.core.domain import Draft, Report, Status
from bot.core.parsing import normalize_code
from bot.messages.report import description_parts
from bot.sim import BotApiSimulator, SimUser
from tests.conftest import (
    ADMIN_ID,
    CONFIRM_DATA,
    HA_LONG_CHAT,
    FakeClock,
    Person,
    World,
    answer_data,
    code_in,
    current,
    eventually,
    labels,
    make_settings,
    member,
    press_data,
    quick_report,
    walk_to_review,
)

OFFICER_HL = 900102
STRANGER = 900199
PLAIN_GROUP = -1001000000099

# What people are told, as written in locales/vi/LC_MESSAGES/messages.po.
NOT_SAVED = "Xin lỗi, hiện chưa lưu được câu trả lời của bạn. Vui lòng gửi lại sau giây lát"
WENT_WRONG = "Xin lỗi, đã có lỗi xảy ra"
UNAVAILABLE = "dịch vụ đang tạm thời gián đoạn"
NOT_ACTIVE = "Nút này không còn hiệu lực."
ANSWER_WITH_TEXT = "Vui lòng trả lời bằng tin nhắn văn bản."
SEND_EVIDENCE = "Vui lòng gửi ảnh, tài liệu, tin nhắn thoại hoặc video, hoặc bấm Xong."
ASK_UNIT = "Sự việc xảy ra ở đơn vị, cơ quan nào?"
ASK_DESCRIPTION = "Mô tả sự việc bằng lời của bạn"
ASK_EVIDENCE = "Bạn có bằng chứng không?"
ASK_CATEGORY = "Chọn loại hành vi vi phạm"
REVIEW = "Vui lòng kiểm tra lại phản ánh của bạn"
TOO_SHORT = "Vui lòng viết ít nhất 20 ký tự"
TOO_BIG = "Tệp này lớn hơn 20 MB"
EDITED = "Nếu bạn sửa một tin nhắn đã gửi, thay đổi đó sẽ không được ghi nhận."
OFFICERS_ONLY = "Chỉ cán bộ của đơn vị mới có thể thực hiện thao tác này."
OFFICERS_ONLY_ASK = "Chỉ cán bộ của đơn vị mới có thể đặt câu hỏi cho người phản ánh."
GROUP_HINT = "Để bảo vệ danh tính của bạn, vui lòng gửi phản ánh trong cuộc trò chuyện riêng"
UNIT_CHAT_ONLY = "Lệnh này chỉ dùng được trong nhóm nhận cảnh báo của đơn vị."
NOT_FOUND = "Không tìm thấy phản ánh nào có mã"
NO_REPORT_HERE = "Không có phản ánh nào của đơn vị này mang mã đó."

DESCRIPTION = "Cán bộ bộ phận một cửa quát tháo và không nhận hồ sơ của tôi."


# -- helpers ----------------------------------------------------------------------------------


async def quiet(world: World, chat_id: int) -> None:
    """Wait until the bot has written or edited nothing more in a chat for a moment."""
    while True:
        count = len(world.sim.message_calls(chat_id))
        await asyncio.sleep(0.15)
        if len(world.sim.message_calls(chat_id)) == count:
            return


STATUS_USAGE = "Vui lòng gửi /status kèm mã theo dõi"


async def said_after(world: World, user: SimUser, action: Awaitable[Any]) -> list[str]:
    """Run an action in the user's private chat; return everything the bot said about it.

    Updates are handled one at a time, in order: once a bare /status sent after the action is
    answered (it changes nothing, even in the middle of a report), all is said.
    """
    mark = len(world.sim.messages(user.id))
    await action
    await user.send("/status")
    await world.sim.wait_for_message(
        user.id, predicate=lambda m: m["text"].startswith(STATUS_USAGE), after=mark
    )
    said = [str(m.get("text") or "") for m in world.sim.messages(user.id)[mark:]]
    last = max(i for i, text in enumerate(said) if text.startswith(STATUS_USAGE))
    return said[:last]


async def pressed_into(
    queries: list[dict[str, Any]], user: SimUser, message: dict[str, Any], data: str
) -> None:
    """Press with any callback data; keep the query to read the bot's answer to it."""
    queries.append(await user.press(message, data, check_button=False))


async def after(world: World, chat_id: int, action: Awaitable[Any], expect: str) -> dict[str, Any]:
    """Run an action and return the first bot message after it containing `expect`."""
    mark = len(world.sim.messages(chat_id))
    await action
    return await world.sim.wait_for_message(chat_id, contains=expect, after=mark)


async def consent(person: Person) -> None:
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")


async def to_unit(person: Person) -> None:
    """Consent and choose a category: the unit question is next."""
    await consent(person)
    await person.press("Thái độ", expect="đơn vị")


async def to_description(person: Person) -> None:
    """Answer up to the description, skipping what may be skipped."""
    await to_unit(person)
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")


async def to_evidence(person: Person) -> None:
    await to_description(person)
    await person.say(DESCRIPTION, expect="bằng chứng")


async def draft_of(world: World, user_id: int) -> Draft:
    draft = await world.db.drafts.get_draft(user_id)
    assert draft is not None
    return draft


def table_counts(world: World) -> dict[str, int]:
    """Count the rows of every table a report touches, read straight from the file."""
    queries = {
        "reports": "SELECT count(*) FROM reports",
        "reporters": "SELECT count(*) FROM reporters",
        "audit": "SELECT count(*) FROM audit",
        "outbox": "SELECT count(*) FROM outbox",
        "report_files": "SELECT count(*) FROM attachments WHERE report_id IS NOT NULL",
        "draft_files": "SELECT count(*) FROM attachments WHERE draft_user_id IS NOT NULL",
        "drafts": "SELECT count(*) FROM drafts",
        "relays": "SELECT count(*) FROM relays",
        "sent_reports": "SELECT count(*) FROM sent_reports",
    }
    with contextlib.closing(sqlite3.connect(world.settings.database, timeout=10)) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in queries.items()}


async def report_of(world: World, code: str) -> Report:
    report = await world.db.reports.report_by_code(normalize_code(code) or "")
    assert report is not None
    return report


async def reported(world: World, user_id: int = 730001) -> tuple[Person, str, dict[str, Any]]:
    """A citizen reports to Hạ Long; return them, the code and the unit's alert."""
    citizen = world.person(user_id, "Lan", last_name="Nguyễn Thị")
    code = await quick_report(citizen)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    return citizen, code, alert


# -- HTML and Markdown injection ---------------------------------------------------------------

INJECTIONS = {
    "html": '<b>đậm</b> </i> <script>alert("x")</script> <a href="http://evil.example">bấm</a>',
    "entities": "A & B &amp; &lt;b&gt; &#39; &copy; &nosuch; 5 < 6 > 4 &",
    "markdown": "*đậm* _nghiêng_ `mã` ```khối``` [bấm](http://evil.example) ~gạch~ ||ẩn|| \\*",
}


@pytest.mark.parametrize("payload", INJECTIONS.values(), ids=INJECTIONS.keys())
async def test_markup_typed_by_a_citizen_reaches_the_unit_literally(
    world: World, payload: str
) -> None:
    lan = world.person(731001, "Lan")
    official, place, description = f"Bàn 3 {payload}", f"Một cửa {payload}", f"Mô tả: {payload}"
    await to_unit(lan)
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="cán bộ")
    await lan.say(official, expect="lãnh đạo")
    await lan.press("Không", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.say(place, expect="Mô tả")
    await lan.say(description, expect="bằng chứng")
    await lan.press("Bỏ qua", expect="ẩn danh")
    review = await lan.press("Ẩn danh", expect="kiểm tra")
    for part in (official, place, description):
        assert part in review["text"]
    confirmation = await lan.press("Gửi phản ánh", expect="/status")
    code = code_in(confirmation["text"])

    # The simulator parses HTML strictly: the alert arriving at all means it was well formed.
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    for part in (official, place, description):
        assert part in alert["text"], part
    assert "&lt;" in alert["html"] or "<" not in payload
    kinds = {entity["type"] for entity in alert.get("entities", [])}
    assert not kinds & {"italic", "text_link", "pre", "strikethrough", "spoiler", "underline"}
    report = await report_of(world, code)
    fields = report.fields
    assert (fields.official, fields.location, fields.description) == (official, place, description)


async def test_markup_in_questions_and_answers_is_relayed_literally(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng")
    question = "<b>Mấy giờ?</b> </i> & &amp; *gấp*"
    mark = len(citizen.messages)
    await after(
        world, HA_LONG_CHAT, officer.send(question, chat_id=HA_LONG_CHAT, reply_to=alert), "✅"
    )
    asked = await world.sim.wait_for_message(citizen.id, contains=question, after=mark)
    assert code in asked["text"]
    answer = "<script>alert(1)</script> 8 < 9 & [x](http://evil.example)"
    relayed = await after(
        world, HA_LONG_CHAT, citizen.user.send(answer, reply_to=asked), expect=answer
    )
    assert code in relayed["text"]
    assert [r.text for r in await world.db.links.relays_of((await report_of(world, code)).id)] == [
        question,
        answer,
    ]


# -- length ------------------------------------------------------------------------------------


async def test_ten_thousand_characters_are_refused_and_three_thousand_go_through(
    world: World,
) -> None:
    lan = world.person(731101, "Lan")
    huge = ("Tố cáo cán bộ " * 800)[:9999] + "."
    assert len(huge) == 10_000
    full = ("Cán bộ hẹn lại lần nữa; " * 130)[:2999] + "."
    assert len(full) == 3000
    await to_unit(lan)
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="cán bộ")
    await lan.say(huge, expect="Vui lòng viết không quá 200 ký tự.")
    await lan.say("Bàn số 3", expect="lãnh đạo")
    await lan.press("Không", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.say(huge, expect="Vui lòng viết không quá 300 ký tự.")
    await lan.press("Bỏ qua", expect="Mô tả")
    refused = await lan.say(huge, expect="không quá 3000 ký tự")
    assert "bạn đã viết 10000 ký tự" in refused["text"]
    draft = await draft_of(world, lan.id)
    assert draft.fields.description is None and draft.fields.official == "Bàn số 3"
    assert draft.fields.location is None

    await lan.say(full, expect="bằng chứng")
    assert (await draft_of(world, lan.id)).fields.description == full
    await lan.press("Bỏ qua", expect="ẩn danh")
    review = await lan.press("Ẩn danh", expect="kiểm tra")
    assert full in review["text"]
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert full in alert["text"]
    assert (await report_of(world, code)).fields.description == full

    # An officer's question of 10,000 characters is refused too, and reaches nobody.
    officer = member(world, OFFICER_HL, "Hùng")
    mark = len(lan.messages)
    await after(
        world,
        HA_LONG_CHAT,
        officer.send(huge, chat_id=HA_LONG_CHAT, reply_to=alert),
        "Tin nhắn quá dài: vui lòng gửi tối đa 3500 ký tự.",
    )
    await quiet(world, lan.id)
    assert lan.messages[mark:] == []


async def test_answers_at_their_limits_in_markup_characters_are_reviewed_sent_and_alerted(
    world: World,
) -> None:
    """Every answer at its limit, a long name: a review once too long for Telegram, refused at
    every try. Made of characters HTML writes as longer entities, none may be cut in two."""
    markup = "<b>&amp;</b>&\"<'>"

    def at(limit: int) -> str:
        return (markup * limit)[:limit]

    dossier, official, place, description = at(100), at(200), at(300), at(3000)
    # A phone number as long as the bot keeps (32).
    phone = "+84 912 345 678 / 0203 3838 5555"
    first_name, last_name = at(64), "Nguyễn &lt; Thị " * 4
    lan = world.person(731151, first_name, last_name=last_name)
    await consent(lan)
    await lan.press("Chậm trễ", expect="đơn vị")
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="mã thủ tục")
    await lan.say(dossier, expect="nộp hồ sơ vào ngày nào")
    await lan.press("Bỏ qua", expect="hẹn trả kết quả")
    await lan.press("Bỏ qua", expect="cán bộ đó là ai")
    await lan.say(official, expect="lãnh đạo")
    await lan.press("Không", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.say(place, expect="Mô tả")
    await lan.say(description, expect="bằng chứng")
    await lan.press("Bỏ qua", expect="ẩn danh")
    await lan.press("Có danh tính", expect="chia sẻ họ tên")
    mark = len(lan.messages)
    await lan.user.send_contact(phone, first_name, last_name=last_name.strip())
    review = await world.sim.wait_for_message(lan.id, contains=REVIEW, after=mark)
    assert any(description in m["text"] for m in lan.messages[mark:])
    for answer in (dossier, official, place, first_name):
        assert answer in review["text"]
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])

    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    for answer in (dossier, official, place):
        assert answer in alert["text"]
    fields = (await report_of(world, code)).fields
    # The unit reads the whole description: what the alert holds, then the rest in a reply.
    first, *rest = description_parts(fields)
    assert first in alert["text"]
    for piece in rest:
        await world.sim.wait_for_message(HA_LONG_CHAT, contains=piece)
    assert (fields.dossier_code, fields.official, fields.location, fields.description) == (
        dossier,
        official,
        place,
        description,
    )
    assert await world.db.drafts.get_draft(lan.id) is None


# -- invisible and right-to-left characters ----------------------------------------------------

INVISIBLE_IN_CODES = {
    # A no-break space is ordinary whitespace: already ignored, kept here as the baseline.
    "nbsp": lambda code: f"{code[:4]}\u00a0{code[5:]}",
    "zero-width-space": lambda code: f"{code[:2]}\u200b{code[2:]}",
    "byte-order-mark": lambda code: f"\ufeff{code}",
    "right-to-left-override": lambda code: f"\u202e{code}\u202c",
}


@pytest.mark.parametrize(
    "disguise",
    [pytest.param(fn, id=name) for name, fn in INVISIBLE_IN_CODES.items()],
)
async def test_invisible_characters_in_a_tracking_code_are_ignored(
    world: World, disguise: Callable[[str], str]
) -> None:
    """A code pasted with invisible characters still finds the report (decided behaviour)."""
    lan, code, _alert = await reported(world, 731201)
    shown = await lan.say(f"/status {disguise(code)}")
    assert "Tình trạng" in shown["text"], shown["text"]
    assert code in shown["text"] and "UBND phường Hạ Long" in shown["text"]


UNIT_QUERIES = {
    "zero-width-space": "ha\u200b long",
    "byte-order-mark": "\ufeffha long",
    "right-to-left-override": "\u202eha long\u202c",
}


@pytest.mark.parametrize("query", UNIT_QUERIES.values(), ids=UNIT_QUERIES.keys())
async def test_invisible_characters_do_not_break_the_unit_search(world: World, query: str) -> None:
    lan = world.person(731211, "Lan")
    await to_unit(lan)
    found = await lan.say(query, expect="“")
    assert "UBND phường Hạ Long" in labels(found), found["text"]


async def test_namesakes_found_by_an_oddly_typed_search_are_told_apart(world: World) -> None:
    units = world.db.units
    await units.add_unit("CM", "UBND tỉnh Cà Mau", None)
    await units.add_unit("CT", "UBND <b>Cần Thơ</b> & Co", None)
    await units.add_unit("CM-VL", "UBND xã Vĩnh Lợi", "CM")
    await units.add_unit("CT-VL", "UBND XÃ VINH LOI", "CT")
    lan = world.person(731212, "Lan")
    await to_unit(lan)
    found = await lan.say("\u202evinh\u200b  LỢI\u202c", expect="“")
    assert {
        "UBND xã Vĩnh Lợi — UBND tỉnh Cà Mau",
        "UBND XÃ VINH LOI — UBND <b>Cần Thơ</b> & Co",
    } <= set(labels(found)), labels(found)
    # /units shows the markup literally (the simulator refuses HTML that does not parse).
    admin = world.sim.user(ADMIN_ID)
    mark = len(world.sim.messages(ADMIN_ID))
    await admin.send("/units")
    listing = await world.sim.wait_for_message(ADMIN_ID, contains="CT-VL", after=mark)
    assert "UBND XÃ VINH LOI — UBND <b>Cần Thơ</b> & Co" in listing["text"]


async def test_invisible_and_right_to_left_characters_in_a_description_are_kept(
    world: World,
) -> None:
    """The citizen's words are stored and shown as typed; the tracking code is untouched."""
    lan = world.person(731221, "Lan")
    description = "Cán bộ \u202eđòi tiền\u202c ở bàn\u200b số 3, \ufeffkhông nhận hồ sơ."
    await walk_to_review(lan, description)
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert description in alert["text"]
    assert code_in(alert["text"]) == code
    assert (await report_of(world, code)).fields.description == description


async def test_a_description_of_invisible_characters_only_is_too_short(world: World) -> None:
    lan = world.person(731231, "Lan")
    await to_description(lan)
    answer = await lan.say("\u200b" * 30)
    assert TOO_SHORT in answer["text"], answer["text"]
    assert (await draft_of(world, lan.id)).fields.description is None


# -- emoji -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "accepted"),
    [
        pytest.param("😡" * 10, False, id="ten-emoji"),
        pytest.param("😡🤬💸" * 8, True, id="twenty-four-emoji"),
        pytest.param("🇻🇳" * 12, True, id="flags"),
    ],
)
async def test_an_emoji_only_description_counts_like_any_text(
    world: World, description: str, accepted: bool
) -> None:
    lan = world.person(731301, "Lan")
    await to_description(lan)
    if not accepted:
        refused = await lan.say(description, expect=TOO_SHORT)
        assert f"bạn đã viết {len(description)} ký tự" in refused["text"]
        draft = await draft_of(world, lan.id)
        assert draft.fields.description is None and draft.step == 10
        await lan.say(DESCRIPTION, expect="bằng chứng")
        return
    await lan.say(description, expect="bằng chứng")
    await lan.press("Bỏ qua", expect="ẩn danh")
    await lan.press("Ẩn danh", expect="kiểm tra")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert description in alert["text"]
    assert (await report_of(world, code)).fields.description == description


# -- stickers, polls, contacts and locations where text is expected ----------------------------

NON_TEXT: dict[str, Callable[[SimUser], Awaitable[Any]]] = {
    "sticker": lambda user: user.send_sticker(emoji="😡"),
    "poll": lambda user: user.send_poll("Có nên báo cáo không?"),
    "contact": lambda user: user.send_contact("+84912345678", "Lan"),
    "location": lambda user: user.send_location(20.9517, 107.0801),
}
STEPS: dict[str, tuple[Callable[[Person], Awaitable[None]], str, str]] = {
    "unit": (to_unit, ANSWER_WITH_TEXT, ASK_UNIT),
    "description": (to_description, ANSWER_WITH_TEXT, ASK_DESCRIPTION),
    "evidence": (to_evidence, SEND_EVIDENCE, ASK_EVIDENCE),
}


@pytest.mark.parametrize("step", STEPS.keys())
async def test_non_text_at_a_text_step_gets_the_hint_and_the_question_again(
    world: World, step: str
) -> None:
    lan = world.person(731401, "Lan")
    walk, hint, question = STEPS[step]
    await walk(lan)
    before = await draft_of(world, lan.id)
    for kind, send in NON_TEXT.items():
        said = await said_after(world, lan.user, send(lan.user))
        # The hint and the question again, in one message.
        assert len(said) == 1 and hint in said[0] and question in said[0], (kind, said)
        assert await draft_of(world, lan.id) == before, kind
    assert await world.db.drafts.draft_attachments(lan.id) == []
    # The step still takes its proper answer.
    if step == "unit":
        await lan.say("ha long", expect="ha long")
        await lan.press("UBND phường Hạ Long", expect="cán bộ")
    elif step == "description":
        await lan.say(DESCRIPTION, expect="bằng chứng")
    else:
        await lan.press("Bỏ qua", expect="ẩn danh")


# -- a file too big ----------------------------------------------------------------------------

BIG_FILES: dict[str, Callable[[SimUser], Awaitable[Any]]] = {
    "document": lambda user: user.send_document(
        "video.mp4", size=25_000_000, mime_type="video/mp4"
    ),
    "video": lambda user: user.send_video(size=25_000_000),
}


@pytest.mark.parametrize("kind", BIG_FILES.keys())
async def test_a_25_mb_file_is_refused_with_the_20_mb_limit(world: World, kind: str) -> None:
    lan = world.person(731501, "Lan")
    await to_evidence(lan)
    mark = len(lan.messages)
    await BIG_FILES[kind](lan.user)
    await world.sim.wait_for_message(lan.id, contains=TOO_BIG, after=mark)
    assert await world.db.drafts.draft_attachments(lan.id) == []
    assert (await draft_of(world, lan.id)).step == 11
    await lan.send_document("bien-nhan.pdf", b"%PDF-1.4 receipt", expect="Đã nhận 1 tệp")
    atts = await world.db.drafts.draft_attachments(lan.id)
    assert [a.file_name for a in atts] == ["bien-nhan.pdf"]


# -- edited messages ---------------------------------------------------------------------------


async def test_an_edited_answer_gets_the_explanation_and_changes_nothing(world: World) -> None:
    lan = world.person(731601, "Lan")
    await to_unit(lan)
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="cán bộ")
    mark = len(lan.messages)
    answer = await lan.user.send("Cán bộ bàn số 3")
    await world.sim.wait_for_message(lan.id, contains="lãnh đạo", after=mark)
    await lan.press("Không", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.press("Bỏ qua", expect="Mô tả")
    before = await draft_of(world, lan.id)

    mark = len(lan.messages)
    await lan.user.edit(answer, "Cán bộ bàn số 9")
    await world.sim.wait_for_message(lan.id, contains=EDITED, after=mark)
    await quiet(world, lan.id)
    assert len(lan.messages) == mark + 1
    assert await draft_of(world, lan.id) == before
    assert before.fields.official == "Cán bộ bàn số 3"

    # The report goes on, and an edit after sending changes the report no more.
    mark = len(lan.messages)
    described = await lan.user.send(DESCRIPTION)
    await world.sim.wait_for_message(lan.id, contains="bằng chứng", after=mark)
    await lan.press("Bỏ qua", expect="ẩn danh")
    await lan.press("Ẩn danh", expect="kiểm tra")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    unit_mark = len(world.sim.messages(HA_LONG_CHAT))
    await after(world, lan.id, lan.user.edit(described, "Thực ra không có gì."), EDITED)
    report = await report_of(world, code)
    assert report.fields.description == DESCRIPTION
    assert report.fields.official == "Cán bộ bàn số 3"
    await quiet(world, HA_LONG_CHAT)
    assert world.sim.messages(HA_LONG_CHAT)[unit_mark:] == []


# -- a double tap on confirm -------------------------------------------------------------------


async def test_a_double_tap_on_confirm_sends_one_report(world: World) -> None:
    chi = world.person(731701, "Chi")
    review = await walk_to_review(chi, DESCRIPTION)
    mark = len(chi.messages)
    first = await chi.user.press(review, CONFIRM_DATA)
    second = await chi.user.press(review, CONFIRM_DATA)
    confirmation = await world.sim.wait_for_message(chi.id, contains="/status", after=mark)
    code = code_in(confirmation["text"])
    await world.sim.wait_for_callback_answer(first["id"])
    answer = await world.sim.wait_for_callback_answer(second["id"])
    assert answer.get("text") in (None, NOT_ACTIVE)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    await quiet(world, chi.id)
    await quiet(world, HA_LONG_CHAT)
    assert [m for m in chi.messages[mark:] if "/status" in m["text"]] == [confirmation]
    assert not any(WENT_WRONG in m["text"] for m in chi.messages[mark:])
    assert await world.db.reports.count_reports() == 1
    alerts = [m for m in world.sim.messages(HA_LONG_CHAT) if "🔔" in m["text"]]
    assert len(alerts) == 1
    counts = table_counts(world)
    assert (counts["reports"], counts["reporters"], counts["drafts"]) == (1, 1, 0)
    # Counted once towards the daily limit too.
    assert counts["sent_reports"] == 1


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


# -- commands with missing or wrong arguments --------------------------------------------------

LONG_ARG = ("<b>&amp;" * 30)[:200]
CITIZEN_COMMANDS = {
    "/status": "Vui lòng gửi /status kèm mã theo dõi",
    "/status XYZ": f"{NOT_FOUND} XYZ",
    f"/status {LONG_ARG}": f"{NOT_FOUND} {LONG_ARG[:40]}",
    "/status ABCD EFGH IJKL": NOT_FOUND,
    "/pending": UNIT_CHAT_ONLY,
}
ADMIN_COMMANDS = {
    "/unit_add": 'Cách dùng: /unit_add MÃ "Tên đơn vị"',
    "/unit_add X": 'Cách dùng: /unit_add MÃ "Tên đơn vị"',
    '/unit_add "mã sai!" "Tên đơn vị"': "Mã gồm 1–24 chữ cái",
    f'/unit_add {"A" * 25} "Tên"': "Mã gồm 1–24 chữ cái",
    '/unit_add NEW ""': "Mã gồm 1–24 chữ cái",
    '/unit_add NEW "Tên" NOPE': "Không có đơn vị nào mang mã NOPE.",
    '/unit_add HL "Trùng"': "Mã HL đã được sử dụng.",
    "/stats 99x": "Không có đơn vị nào mang mã 99x.",
    "/stats 0d": "Tôi không hiểu khoảng thời gian.",
    "/stats 2026-13": "Tôi không hiểu khoảng thời gian.",
    "/export 99x": "Không có đơn vị nào mang mã 99x.",
    "/export 7d HL nonsense": "Cách dùng: /export",
    "/officer_add HL notanumber": "Cách dùng: /officer_add",
    "/officer_add": "Cách dùng: /officer_add",
    "/officer_add HL 123456789012345678901": "Cách dùng: /officer_add",
    "/officer_add NOPE 5": "Không có đơn vị nào mang mã NOPE.",
    "/officers": "Cách dùng: /officers MÃ",
    "/ban abc": "Cách dùng: /ban USER_ID",
    "/spam XYZ": "Cách dùng: /spam MÃ",
    "/find": "Cách dùng: /find",
    "/report XYZ": "Không có phản ánh mã XYZ.",
}
NOTHING_TO_CANCEL = "Không có phản ánh nào đang thực hiện."


async def replies(world: World, user: SimUser, command: str) -> list[str]:
    """Send a command in private; return every answer to it.

    Updates are handled one at a time, in order: once the /cancel sent after it is answered,
    everything the command caused has been said.
    """
    mark = len(world.sim.messages(user.id))
    await user.send(command)
    await user.send("/cancel")
    await world.sim.wait_for_message(
        user.id, predicate=lambda m: m["text"] == NOTHING_TO_CANCEL, after=mark
    )
    said = [str(m.get("text") or "") for m in world.sim.messages(user.id)[mark:]]
    return said[: len(said) - 1 - said[::-1].index(NOTHING_TO_CANCEL)]


async def test_citizen_commands_with_missing_or_wrong_arguments(world: World) -> None:
    lan = world.sim.add_user(731901, "Lan")
    wrong = {}
    for command, expect in CITIZEN_COMMANDS.items():
        answers = await replies(world, lan, command)
        if len(answers) != 1 or expect not in answers[0] or len(answers[0]) > 500:
            wrong[command] = answers
    assert wrong == {}
    assert await world.db.drafts.get_draft(lan.id) is None
    assert await world.db.reports.count_reports() == 0


async def test_admin_commands_with_missing_or_wrong_arguments(world: World) -> None:
    units = await world.db.units.all_units()
    officers = await world.db.units.officers_of("HL")
    admin = world.sim.user(ADMIN_ID)
    wrong = {}
    for command, expect in ADMIN_COMMANDS.items():
        answers = await replies(world, admin, command)
        if len(answers) != 1 or expect not in answers[0]:
            wrong[command] = answers
    assert wrong == {}
    assert await world.db.units.all_units() == units
    assert await world.db.units.officers_of("HL") == officers
    assert await world.db.admin.admin_log() == []
    assert world.sim.count("sendPhoto") == 0 and world.sim.count("sendDocument") == 0


GROUP_COMMANDS = [
    (STRANGER, HA_LONG_CHAT, "/report", GROUP_HINT),
    (STRANGER, HA_LONG_CHAT, "/report XYZ", OFFICERS_ONLY),
    (STRANGER, HA_LONG_CHAT, f"/report {LONG_ARG}", OFFICERS_ONLY),
    (OFFICER_HL, HA_LONG_CHAT, "/report XYZ", NO_REPORT_HERE),
    # Not echoed: the answer is the same whatever was typed, a code or not.
    (OFFICER_HL, HA_LONG_CHAT, f"/report {LONG_ARG}", NO_REPORT_HERE),
    (STRANGER, HA_LONG_CHAT, "/pending", OFFICERS_ONLY),
]
# In a group no unit is bound to, the first command from anyone but an admin makes the bot
# leave; it answers none of them there.
PLAIN_GROUP_COMMANDS = ["/start", "/report", "/report XYZ"]


async def test_commands_in_groups_with_missing_or_wrong_arguments(world: World) -> None:
    world.sim.add_chat(PLAIN_GROUP, "Hội cư dân", type="supergroup")
    marks = {chat: len(world.sim.messages(chat)) for chat in (HA_LONG_CHAT, PLAIN_GROUP)}
    expected: list[str] = []
    stranger = member(world, STRANGER, "Khách", PLAIN_GROUP)
    for command in PLAIN_GROUP_COMMANDS:
        await stranger.send(command, chat_id=PLAIN_GROUP)
    for user_id, chat_id, command, expect in GROUP_COMMANDS:
        await member(world, user_id, "Khách", chat_id).send(command, chat_id=chat_id)
        expected.append(expect)
    # Updates of one chat are handled one at a time, in order: once the officer's /pending
    # sent last is answered, every command before it in the unit's group has had its answers.
    await world.sim.user(OFFICER_HL).send("/pending", chat_id=HA_LONG_CHAT)
    sentinel = "Không có phản ánh nào đang chờ xử lý."
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=sentinel, after=marks[HA_LONG_CHAT])
    expected.append(sentinel)
    said = [m["text"] for m in world.sim.messages(HA_LONG_CHAT)[marks[HA_LONG_CHAT] :]]
    assert len(said) == len(expected), said
    for text, expect in zip(said, expected, strict=True):
        assert expect in text, (expect, text)
    await settled(world)
    assert world.sim.messages(PLAIN_GROUP)[marks[PLAIN_GROUP] :] == []
    assert world.sim.count("leaveChat", PLAIN_GROUP) == 1
    assert table_counts(world)["drafts"] == 0


async def test_an_unclosed_quote_is_refused_not_stored(world: World) -> None:
    answers = await replies(world, world.sim.user(ADMIN_ID), '/unit_add X "Tên')
    assert len(answers) == 1 and "Cách dùng: /unit_add" in answers[0], answers
    assert await world.db.units.get_unit("X") is None


# -- group messages from people who are not officers -------------------------------------------


async def test_non_officers_in_a_unit_group_reach_nobody(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng")
    stranger = member(world, STRANGER, "Khách")
    citizen_mark = len(citizen.messages)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    # Plain chatter gets no answer. Updates are handled in order, so once the officer's
    # /pending is answered, anything the chatter caused would already be there.
    await stranger.send("Chào mọi người, hôm nay họp mấy giờ?", chat_id=HA_LONG_CHAT)
    await stranger.send_sticker(chat_id=HA_LONG_CHAT)
    await stranger.send_poll("Họp lúc 8 giờ?", chat_id=HA_LONG_CHAT)
    await stranger.send_location(20.95, 107.08, chat_id=HA_LONG_CHAT)
    await officer.send("/pending", chat_id=HA_LONG_CHAT)
    listing = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code, after=mark)
    assert world.sim.messages(HA_LONG_CHAT)[mark:] == [listing]

    # A reply to the alert by a non-officer is refused, text or photo.
    refused = await after(
        world,
        HA_LONG_CHAT,
        stranger.send("Cho tôi hỏi người này là ai?", chat_id=HA_LONG_CHAT, reply_to=alert),
        OFFICERS_ONLY_ASK,
    )
    assert code not in refused["text"]
    await after(
        world,
        HA_LONG_CHAT,
        stranger.send_photo(content=b"\xff\xd8 photo", chat_id=HA_LONG_CHAT, reply_to=alert),
        OFFICERS_ONLY_ASK,
    )
    # So is a reply to an officer's prompt.
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await officer.press_button(current(world, alert), "Hỏi người phản ánh")
    prompt = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="vui lòng trả lời", after=mark
    )
    await after(
        world,
        HA_LONG_CHAT,
        stranger.send("Anh có đưa tiền không?", chat_id=HA_LONG_CHAT, reply_to=prompt),
        OFFICERS_ONLY,
    )
    await quiet(world, citizen.id)
    assert citizen.messages[citizen_mark:] == []
    report = await report_of(world, code)
    assert await world.db.links.relays_of(report.id) == []
    assert [e.action for e in await world.db.reports.audit_of(report.id)] == ["submitted"]


# -- a citizen who blocked the bot -------------------------------------------------------------


async def test_a_notice_to_a_citizen_who_blocked_the_bot_is_given_up_once(world: World) -> None:
    citizen, code, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng")
    db = world.db

    async def outbox_idle() -> bool:
        return (await db.outbox.stats()).get("pending", 0) == 0

    await eventually(outbox_idle)
    before = world.sim.count("sendMessage", citizen.id)
    failed_before = (await db.outbox.stats()).get("failed", 0)
    await world.sim.block_bot(citizen.id)
    query = await officer.press_button(alert, "Tiếp nhận")
    assert "Đã cập nhật" in str((await world.sim.wait_for_callback_answer(query["id"]))["text"])

    async def given_up() -> bool:
        return (await db.outbox.stats()).get("failed", 0) == failed_before + 1

    await eventually(given_up)
    assert world.sim.count("sendMessage", citizen.id) == before + 1
    with contextlib.closing(sqlite3.connect(world.settings.database, timeout=10)) as conn:
        failed = conn.execute(
            "SELECT kind, attempts, last_error FROM outbox WHERE status = 'failed'"
        ).fetchall()
    assert len(failed) == failed_before + 1
    kind, attempts, error = failed[-1]
    assert (kind, attempts) == ("citizen_status", 0) and "blocked" in error
    # Later rounds of the outbox do not knock again.
    world.clock.advance(hours=6)
    world.app.bot_data["services"].delivery.wake()
    await asyncio.sleep(0.3)
    assert world.sim.count("sendMessage", citizen.id) == before + 1
    assert (await db.outbox.stats()).get("pending", 0) == 0
    # The step itself is stored, and the alert shows it.
    assert (await report_of(world, code)).status == Status.ACKNOWLEDGED
    await eventually(lambda: "Đơn vị đã tiếp nhận" in current(world, alert)["text"])
    # Writing again unblocks the bot; the citizen can read where the report stands.
    shown = await citizen.say(f"/status {code}", expect="Tình trạng")
    assert "Đơn vị đã tiếp nhận" in shown["text"]


# -- a database that is locked, read-only or full ----------------------------------------------
#
# Updates reach the handlers only once stored (bot/inbound.py). A database refusing every write
# therefore holds the update back at Telegram until it accepts writes again; a write refused
# later, inside a handler, reaches on_error, which asks the citizen to send it again.


@contextlib.asynccontextmanager
async def locked(world: World) -> AsyncIterator[None]:
    """Another process holds the write lock (longer than the bot's 5 s busy timeout)."""

    def lock() -> sqlite3.Connection:
        conn = sqlite3.connect(
            world.settings.database, timeout=10, isolation_level=None, check_same_thread=False
        )
        conn.execute("BEGIN EXCLUSIVE")
        return conn

    holder = await asyncio.to_thread(lock)
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


@contextlib.asynccontextmanager
async def read_only(world: World) -> AsyncIterator[None]:
    """SQLite itself answers "attempt to write a readonly database" to every write."""
    db = world.db
    async with db._lock:
        assert db._conn is not None
        await db._conn.execute("PRAGMA query_only=ON")
    try:
        yield
    finally:
        async with db._lock:
            assert db._conn is not None
            await db._conn.execute("PRAGMA query_only=OFF")


class FailingWrites:
    """The repository's connection when one kind of write fails as SQLite fails it."""

    def __init__(self, real: Any, error: str, statement: str, times: int | None) -> None:
        self._real = real
        self._error = error
        self._statement = statement
        self._times = times
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _check(self, sql: str) -> None:
        if self._times is not None and self.failures >= self._times:
            return
        if " ".join(sql.split()).upper().startswith(self._statement):
            self.failures += 1
            raise sqlite3.OperationalError(self._error)

    async def execute(self, sql: str, parameters: Any = None) -> Any:
        self._check(sql)
        return await self._real.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Any) -> Any:
        self._check(sql)
        return await self._real.executemany(sql, parameters)


@contextlib.asynccontextmanager
async def failing(
    world: World, error: str, statement: str, times: int | None = None
) -> AsyncIterator[FailingWrites]:
    """Make the writes starting with `statement` fail with SQLite's `error` (`times` times)."""
    db = world.db
    real = db._conn
    fake = FailingWrites(real, error, statement, times)
    db._conn = fake  # type: ignore[assignment]
    try:
        yield fake
    finally:
        db._conn = real
    assert fake.failures >= 1


SQLITE_ERRORS = {
    "full": "database or disk is full",
    "read-only": "attempt to write a readonly database",
    "locked": "database is locked",
}


async def review_with_a_photo(lan: Person) -> dict[str, Any]:
    await to_evidence(lan)
    await lan.send_photo(b"\xff\xd8\xff\xe0 receipt \xff\xd9", expect="Đã nhận 1 tệp")
    await lan.press("Xong", expect="ẩn danh")
    return await lan.press("Ẩn danh", expect="kiểm tra")


def inbound_left(world: World) -> int:
    """Count the stored updates not yet handled."""
    with contextlib.closing(sqlite3.connect(world.settings.database, timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound").fetchone()[0])


async def settled(world: World) -> None:
    """Wait until every update received so far is handled and forgotten."""
    await eventually(lambda: inbound_left(world) == 0)


async def outage_noticed(caplog: pytest.LogCaptureFixture) -> None:
    """Wait until the poller has met the refusing database at least once."""
    await eventually(
        lambda: any("getUpdates failed" in r.getMessage() for r in caplog.records), wait=10
    )


@pytest.mark.parametrize(
    ("outage", "action"),
    [
        pytest.param(locked, "answer", id="locked-answer"),
        pytest.param(read_only, "confirm", id="read-only-confirm"),
    ],
)
async def test_a_database_refusing_every_write_delays_the_citizen_but_loses_nothing(
    world: World,
    caplog: pytest.LogCaptureFixture,
    outage: Callable[[World], contextlib.AbstractAsyncContextManager[None]],
    action: str,
) -> None:
    lan = world.person(732001, "Lan")
    if action == "answer":
        await to_description(lan)
    else:
        await review_with_a_photo(lan)
    await settled(world)
    before = await draft_of(world, lan.id)
    counts = table_counts(world)
    mark = len(lan.messages)
    async with outage(world):
        if action == "answer":
            await lan.user.send(DESCRIPTION)
        else:
            await lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        await outage_noticed(caplog)
        assert await draft_of(world, lan.id) == before
    assert table_counts(world) == counts

    # Once writes are accepted again, the held-back update is handled, exactly once.
    if action == "answer":
        await world.sim.wait_for_message(lan.id, contains="bằng chứng", after=mark, timeout=10)
        draft = await draft_of(world, lan.id)
        assert draft.step == 11 and draft.fields.description == DESCRIPTION
        assert draft.fields.unit_code == "HL" and draft.fields.category == before.fields.category
    else:
        told = await world.sim.wait_for_message(lan.id, contains="/status", after=mark, timeout=10)
        report = await report_of(world, code_in(told["text"]))
        assert report.fields == before.fields
        assert len(await world.db.reports.report_attachments(report.id)) == 1
        assert table_counts(world)["reports"] == 1
    await quiet(world, lan.id)
    # The notice sent during the outage aside, the held-back update got its normal answer.
    said = [m["text"] for m in lan.messages[mark:] if UNAVAILABLE not in m["text"]]
    if action == "answer":
        assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    else:
        assert len([text for text in said if "/status" in text]) == 1, said
    assert not any(WENT_WRONG in text for text in said), said


async def test_while_the_database_refuses_every_write_the_citizen_is_told(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    lan = world.person(732101, "Lan")
    await to_description(lan)
    await settled(world)
    async with read_only(world):
        mark = len(lan.messages)
        await lan.user.send(DESCRIPTION)
        await outage_noticed(caplog)
        await asyncio.sleep(0.5)
        said = [m["text"] for m in lan.messages[mark:]]
    # Told something, at least: that the message could not be taken now (see on_error).
    assert said, "silence while the database refuses writes"


@pytest.mark.parametrize("error", SQLITE_ERRORS.values(), ids=SQLITE_ERRORS.keys())
async def test_a_refused_answer_asks_to_send_again_and_keeps_the_draft(
    world: World, error: str
) -> None:
    lan = world.person(732201, "Lan")
    await to_description(lan)
    before = await draft_of(world, lan.id)
    counts = table_counts(world)
    async with failing(world, error, "INSERT INTO DRAFTS"):
        said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and NOT_SAVED in said[0], said
    assert await draft_of(world, lan.id) == before
    assert table_counts(world) == counts
    # Sent again, the answer is taken once, and the refused one is not replayed on top of it.
    said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == DESCRIPTION


@pytest.mark.parametrize("error", SQLITE_ERRORS.values(), ids=SQLITE_ERRORS.keys())
async def test_a_refused_confirm_leaves_nothing_half_written(world: World, error: str) -> None:
    lan = world.person(732301, "Lan")
    await review_with_a_photo(lan)
    before = await draft_of(world, lan.id)
    files = await world.db.drafts.draft_attachments(lan.id)
    counts = table_counts(world)
    # The outbox row is the last insert of the sending transaction: the report, its reporter,
    # its evidence and its history are written by then, and must all be rolled back.
    async with failing(world, error, "INSERT INTO OUTBOX"):
        confirm = lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        said = await said_after(world, lan.user, confirm)
    # The apology, then the review again with its Send button.
    assert len(said) == 2 and NOT_SAVED in said[0] and "kiểm tra" in said[1], said
    assert table_counts(world) == counts
    assert counts["reports"] == 0 and counts["draft_files"] == 1
    assert await draft_of(world, lan.id) == before
    assert await world.db.drafts.draft_attachments(lan.id) == files

    # Trying again once the database is back: exactly one complete report.
    await lan.say("/report", expect="kiểm tra")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    report = await report_of(world, code)
    assert report.fields == before.fields
    assert [a.file_id for a in await world.db.reports.report_attachments(report.id)] == [
        f.file_id for f in files
    ]
    after_all = table_counts(world)
    assert (after_all["reports"], after_all["reporters"], after_all["drafts"]) == (1, 1, 0)
    assert (after_all["report_files"], after_all["draft_files"]) == (1, 0)
    assert [e.action for e in await world.db.reports.audit_of(report.id)] == ["submitted"]


async def test_after_a_refused_confirm_the_send_button_is_still_there(world: World) -> None:
    lan = world.person(732401, "Lan")
    await review_with_a_photo(lan)
    async with failing(world, SQLITE_ERRORS["full"], "INSERT INTO OUTBOX"):
        mark = len(lan.messages)
        await lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        await world.sim.wait_for_message(lan.id, contains=NOT_SAVED, after=mark)
        await quiet(world, lan.id)
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    assert (await report_of(world, code)).status == Status.NEW


async def to_when(person: Person) -> None:
    await to_unit(person)
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")


Walk = Callable[[Person], Awaitable[Any]]
REPLAYED: dict[str, tuple[Walk, Walk, Walk]] = {
    # The walk there, the answer whose update is not forgotten, the citizen's next answer.
    "text-answer": (
        to_description,
        lambda lan: lan.say(DESCRIPTION, expect="bằng chứng"),
        lambda lan: lan.press("Bỏ qua", expect="ẩn danh"),
    ),
    "button": (
        to_when,
        lambda lan: lan.press("Hôm nay", expect="ở đâu"),
        lambda lan: lan.press("Bỏ qua", expect="Mô tả"),
    ),
}


@pytest.mark.parametrize("case", REPLAYED.keys())
async def test_a_lock_on_forgetting_a_handled_update_is_invisible_to_the_citizen(
    world: World, case: str
) -> None:
    walk, act, then = REPLAYED[case]
    lan = world.person(732501, "Lan")
    await walk(lan)
    await settled(world)
    mark = len(world.sim.calls)
    # The handler's own writes go through; another process takes the lock just before the
    # handled update is deleted from the inbound table.
    async with failing(world, SQLITE_ERRORS["locked"], "DELETE FROM INBOUND", times=1) as fake:
        await act(lan)
        await eventually(lambda: fake.failures == 1)
    await then(lan)
    await settled(world)
    await quiet(world, lan.id)
    # One message (sent, or the pressed question edited) per answer: nothing shown twice.
    said = world.sim.message_calls(lan.id, after=mark)
    assert len(said) == 2, said


# -- what a person is owed when Telegram fails at the wrong moment -----------------------------


async def test_a_502_on_every_step_of_a_report_loses_no_question_and_no_code(
    world: World,
) -> None:
    # Defect class: replies a person waits for were sent once, and a failure left them
    # waiting for good. Every step here meets one 502 before its reply gets through.
    lan = world.person(733101, "Lan")
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: lan.say("/start", expect="đồng ý", wait=10),
        lambda: lan.press("Tôi đồng ý", expect="Chọn loại", wait=10),
        lambda: lan.press("Thái độ", expect="đơn vị", wait=10),
        lambda: lan.say("ha long", expect="ha long", wait=10),
        lambda: lan.press("UBND phường Hạ Long", expect="cán bộ", wait=10),
        lambda: lan.press("Bỏ qua", expect="khi nào", wait=10),
        lambda: lan.press("Hôm nay", expect="ở đâu", wait=10),
        lambda: lan.press("Bỏ qua", expect="Mô tả", wait=10),
        lambda: lan.say(DESCRIPTION, expect="bằng chứng", wait=10),
        lambda: lan.press("Bỏ qua", expect="ẩn danh", wait=10),
        lambda: lan.press("Ẩn danh", expect="kiểm tra", wait=10),
        lambda: lan.press("Gửi phản ánh", expect="/status", wait=20),
    ]
    for step in steps:
        world.sim.inject("sendMessage", status=502, chat_id=lan.id, times=1)
        world.sim.inject("editMessageText", status=502, chat_id=lan.id, times=1)
        await step()
        world.sim.clear_injections()
    assert await world.db.reports.count_reports() == 1
    assert not any(WENT_WRONG in m["text"] for m in lan.messages)


async def test_an_alert_whose_answer_is_lost_twice_arrives_marked_as_resent(
    world: World,
) -> None:
    # Defect class: a part Telegram accepted but the bot never heard back about.
    world.sim.inject("sendMessage", status=200, chat_id=HA_LONG_CHAT, lose_answer=True, times=2)
    code = await quick_report(world.person(733201, "Hải"))
    await eventually(
        lambda: len([m for m in world.sim.messages(HA_LONG_CHAT) if code in m["text"]]) == 3,
        wait=20,
    )
    copies = [m["text"] for m in world.sim.messages(HA_LONG_CHAT) if code in m["text"]]
    assert "gửi lại" not in copies[0]
    assert all(text.startswith("🔁 (gửi lại)") for text in copies[1:])


async def test_a_banned_reporter_cannot_be_asked_through_the_ask_button(world: World) -> None:
    # Defect class: a question sent to someone whose answers the bot would drop.
    citizen, code, alert = await reported(world, 733301)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await world.db.admin.ban(citizen.id, "spam", by=ADMIN_ID)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press_data(world, officer, alert, next(d for t, d in alert["buttons"] if "Hỏi" in t))
    prompt = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="vui lòng trả lời", after=mark
    )
    citizen_mark = len(citizen.messages)
    said = await after(
        world,
        HA_LONG_CHAT,
        officer.send("Anh/chị còn giữ biên lai không?", chat_id=HA_LONG_CHAT, reply_to=prompt),
        "liên lạc",
    )
    assert code in said["text"]
    await quiet(world, citizen.id)
    assert citizen.messages[citizen_mark:] == []


# -- what arrives from Telegram itself ---------------------------------------------------------


async def test_an_unreadable_update_mid_report_is_set_aside_and_the_next_answer_taken(
    world: World,
) -> None:
    lan = world.person(732601, "Lan")
    await to_description(lan)
    mark = len(lan.messages)
    # An update python-telegram-bot cannot read, from the same citizen, then their answer.
    world.sim.queue_raw_update(
        {
            "message": {
                "message_id": 77,
                "date": 1_800_000_000,
                "chat": {"id": lan.id, "type": "private", "first_name": "Lan"},
                "from": {"id": lan.id, "is_bot": False, "first_name": "Lan"},
                "text": DESCRIPTION,
                "reply_markup": {"inline_keyboard": "?"},
            }
        }
    )
    said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == DESCRIPTION
    assert [p.kind for p in await world.db.inbound.quarantined()] == ["message"]
    assert len(lan.messages) == mark + 2


async def test_thirty_messages_pasted_at_once_mid_report_are_read_up_to_the_limit(
    world: World,
) -> None:
    lan = world.person(732701, "Lan")
    await to_description(lan)
    mark = len(lan.messages)
    for n in range(30):
        await lan.user.send(f"{DESCRIPTION} ({n})")
    await eventually(lambda: world.sim.pending_updates == [])
    await settled(world)
    await quiet(world, lan.id)
    said = [m["text"] for m in lan.messages[mark:]]
    # One notice (it goes out on its own, so anywhere among the answers); the first message
    # read is the description, those after it get the evidence hint.
    assert sum("quá nhanh" in text for text in said) == 1, said
    answers = [text for text in said if "quá nhanh" not in text]
    assert ASK_EVIDENCE in answers[0], answers
    # The limit counts the walk's own messages of the last seconds too (/start, the unit).
    read = 1 + sum(SEND_EVIDENCE in text for text in answers)
    assert 15 <= read <= 20, answers
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == f"{DESCRIPTION} (0)"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"update_id": 1000000000000000000000000000000}', 400, id="huge-id"),
        pytest.param(b'{"update_id": false, "message": {}}', 400, id="boolean-id"),
        pytest.param(b'{"update_id": 3, "message": ' + b"[" * 50_000 + b"}", 400, id="nested"),
    ],
)
async def test_a_malformed_webhook_body_is_refused_and_changes_nothing(
    sim: BotApiSimulator, tmp_path: Path, body: bytes, status: int
) -> None:
    secret = "bad-input-secret"
    settings = dataclasses.replace(
        make_settings(sim, tmp_path),
        webhook=WebhookConfig(url="https://bot.invalid/hook", secret_token=secret),
    )
    app = build_application(settings, clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/hook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, content=body, headers=headers)).status_code == status
        assert await services.db.inbound.highest_update_id() is None
