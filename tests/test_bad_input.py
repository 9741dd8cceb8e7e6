"""Bad input of every kind ends in a clear answer, with nothing lost or corrupted.

Each case drives the real application against the simulated Bot API, checks what the person
is told (the Vietnamese texts of locales/vi), and checks the database afterwards: the draft
or the report holds exactly the right answers, and no half-written rows are left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.core.domain import Status
from bot.messages.report import description_parts
from bot.sim import SimUser
from tests.bad_input_helpers import (
    ANSWER_WITH_TEXT,
    ASK_DESCRIPTION,
    ASK_EVIDENCE,
    ASK_UNIT,
    DESCRIPTION,
    EDITED,
    GROUP_HINT,
    NO_REPORT_HERE,
    NOT_ACTIVE,
    NOT_FOUND,
    OFFICER_HL,
    OFFICERS_ONLY,
    OFFICERS_ONLY_ASK,
    PLAIN_GROUP,
    REVIEW,
    SEND_EVIDENCE,
    STRANGER,
    TOO_BIG,
    TOO_SHORT,
    UNIT_CHAT_ONLY,
    WENT_WRONG,
    after,
    consent,
    draft_of,
    quiet,
    report_of,
    reported,
    said_after,
    settled,
    table_counts,
    to_description,
    to_evidence,
    to_unit,
)
from tests.conftest import (
    ADMIN_ID,
    CONFIRM_DATA,
    HA_LONG_CHAT,
    Person,
    World,
    code_in,
    current,
    eventually,
    labels,
    member,
    walk_to_review,
)

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
