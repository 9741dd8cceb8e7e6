"""Every message built from people's answers fits Telegram's length limits by construction.

Telegram counts a message after entity parsing — the visible text — in UTF-16 code units and
refuses a text over 4,096 (a caption over 1,024). Here every kind of message is built with every
answer at its maximum, in Vietnamese and in English, from letters with combining marks, emoji
that count twice and characters that escape to longer entities, and measured with the
simulator's parser, which follows Telegram's rules; hypothesis mixes those characters field by
field. Then a named report with every answer at its maximum goes through the running bot.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date, datetime
from html import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.conversation import (
    DESCRIPTION_MAX,
    DOSSIER_MAX,
    MAX_ATTACHMENTS,
    PHONE_MAX,
    PLACE_MAX,
    SEARCH_MAX,
    SHORT_TEXT_MAX,
)
from bot.core.domain import (
    VN_TZ,
    Actor,
    AuditEntry,
    Category,
    DeclineReason,
    Report,
    ReportFields,
    Status,
    Unit,
)
from bot.core.outbox import HeldAlertsNotice, TextNotice
from bot.core.parsing import MAX_AMOUNT
from bot.core.workflow import NOTE_MAX, QUESTION_MAX
from bot.figures.stats import Period, Stats, UnitStats, summary_text
from bot.i18n import SUPPORTED, Gettext, Translator
from bot.messages import admin, citizen, questions, relay, unit
from bot.messages import report as texts
from bot.messages.limits import cut, length, pack, pieces, shown, visible_length
from bot.sim.html import parse_html
from bot.sim.protocol import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, utf16_len
from tests.conftest import HA_LONG_CHAT, World, code_in

TRANSLATOR = Translator()
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ).timestamp()
CODE = "ABCDEFGH"

ALPHABETS = {
    "vietnamese": "Cán bộ một cửa hẹn lại, đòi tiền thì mới nhận hồ sơ. ",
    # Decomposed: each tone mark is a code point of its own, counted by the input limits.
    "combining": unicodedata.normalize("NFD", "Nguyễn Thị Hường ở phường Hạ Long ỗ ự ặ. "),
    "escapes": "<&>\"'",
    "emoji": "😡🤬💸🇻🇳",
    "mixed": "ắ"
    + unicodedata.normalize("NFD", "ộ")
    + "😡🇻🇳👨\u200d👩\u200d👧<&>\"' a\n\u202e\u200b",
}

# The input limits count code points; an answer here is that many, of one alphabet.
LIMITS = {
    "dossier": DOSSIER_MAX,
    "official": SHORT_TEXT_MAX,
    "place": PLACE_MAX,
    "description": DESCRIPTION_MAX,
    "name": SHORT_TEXT_MAX,
    "phone": PHONE_MAX,
    "note": NOTE_MAX,
    "question": QUESTION_MAX,
    "caption": MAX_CAPTION_LENGTH,
    "search": SEARCH_MAX,
    # Not limited anywhere a person types them: unit names from the configuration or a CSV,
    # officers' names (Telegram's are 64 + 64), a reason for a ban or a Telegram error.
    "unit": 1000,
    "person": 200,
    "reason": 1000,
}

Text = Callable[[str], str]
REGIONAL = "".join(chr(code) for code in range(0x1F1E6, 0x1F200))


@functools.cache
def fill(alphabet: str, count: int, seed: int = 0) -> str:
    """Return `count` characters drawn from `alphabet`, without spaces at either end."""
    rng = random.Random(seed)
    chars = [rng.choice(alphabet) for _ in range(count)]
    for index in (0, -1):
        if chars[index].isspace():
            chars[index] = "x"
    return "".join(chars)


def one_alphabet(name: str) -> Text:
    """Every field of one alphabet, at its limit."""
    return lambda field: fill(ALPHABETS[name], LIMITS[field])


def telegram_length(html: str) -> int:
    """The length Telegram counts: the visible text after parsing, in UTF-16 code units."""
    text, _entities = parse_html(html)
    return utf16_len(text)


def fields_at_max(category: str, text: Text, *, on_map: bool = False) -> ReportFields:
    """A named report's answers, each at its limit, its place typed or given on the map."""
    return ReportFields(
        category=category,
        unit_code="HL",
        dossier_code=text("dossier"),
        submitted_on="2026-11-02",
        promised_on="2026-11-12",
        amount=MAX_AMOUNT,
        official=text("official"),
        occurred_on="2026-11-28",
        location=None if on_map else text("place"),
        latitude=-89.999999 if on_map else None,
        longitude=-179.999999 if on_map else None,
        description=text("description"),
        anonymous=False,
        contact_name=text("name"),
        contact_phone=text("phone"),
    )


def report_at_max(fields: ReportFields, status: str, text: Text) -> Report:
    """A report in `status`: overdue while open, its officer's note at its limit once closed."""
    closed = status in (Status.RESOLVED, Status.DECLINED)
    return Report(
        id=1,
        code=CODE,
        status=status,
        fields=fields,
        locale="vi",
        created_at=NOW - 40 * 86400,
        deadline_kind=None if closed else "resolve",
        deadline_at=None if closed else NOW - 86400,
        escalation_level=3,
        resolution_note=text("note") if closed else None,
        decline_reason=DeclineReason.NOT_MISCONDUCT if status == Status.DECLINED else None,
    )


def history(report: Report, text: Text, _: Gettext, locale: str) -> list[str]:
    """A long history: every kind of entry, by officers with long names, between long units."""
    names = {"HL": text("unit"), "QN": text("unit") + "2"}
    actions = [*texts.ACTION_HISTORY, "transferred", "escalated", "rated"]
    entries = [
        AuditEntry(
            id=index,
            report_id=report.id,
            at=NOW - 86400 + index,
            actor=Actor("officer", 900000 + index, text("person")),
            action=actions[index % len(actions)],
            from_status=None,
            to_status=None,
            from_unit="HL",
            to_unit="QN",
            note="QN" if index % 2 else text("note"),
        )
        for index in range(60)
    ]
    return [texts.history_line(entry, names, _, locale) for entry in entries]


def banners(text: Text, _: Gettext) -> Iterator[str | None]:
    """Every banner an alert can carry, and none."""
    yield None
    for marks, live, top in (
        ({"overdue": True}, True, False),
        ({"overdue": True}, True, True),
        ({"reopened": True}, True, False),
        ({"transferred": True}, True, False),
        ({}, False, False),
    ):
        yield texts.alert_banner(marks, text("unit"), _, live=live, top=top)


def report_messages(category: str, text: Text, locale: str) -> Iterator[tuple[str, str, int]]:
    """Yield (kind, HTML, limit) for the messages that show a report of this category."""
    _ = TRANSLATOR.get(locale)
    unit_name = text("unit")
    for on_map in (False, True):
        fields = fields_at_max(category, text, on_map=on_map)
        for index, page in enumerate(
            questions.review_texts(fields, unit_name, MAX_ATTACHMENTS, _, locale)
        ):
            yield f"review {index}", page, MAX_TEXT_LENGTH
    fields = fields_at_max(category, text)
    for status in Status:
        report = report_at_max(fields, status, text)
        lines = history(report, text, _, locale)
        for banner in banners(text, _):
            for limit in (texts.HISTORY_LINES, None):
                # Every alert, and its copy sent again after a lost answer (marked as such).
                for resent in (False, True):
                    alert = texts.alert_text(
                        report,
                        unit_name,
                        MAX_ATTACHMENTS,
                        _,
                        locale,
                        banner=banner,
                        history=lines,
                        history_limit=limit,
                        now=NOW,
                        reply_hint=True,
                        resent=resent,
                    )
                    yield f"alert {status} {limit} {resent}", alert, MAX_TEXT_LENGTH
        status_text = citizen.report_status(report, unit_name, _, locale)
        yield f"status {status}", status_text, MAX_TEXT_LENGTH
        yield f"reminder {status}", unit.reminder(report, _, locale), MAX_TEXT_LENGTH
        # The admin's /report view adds the relays' count and the named reporter.
        yield "report extras", admin.report_extras(report, 10_000, _), MAX_TEXT_LENGTH
    for page in texts.continuation(report_at_max(fields, Status.DECLINED, text), _):
        yield "continuation", page, MAX_TEXT_LENGTH


def other_messages(text: Text, locale: str) -> Iterator[tuple[str, str, int]]:
    """Yield (kind, HTML, limit) for every other message built from people's answers."""
    _ = TRANSLATOR.get(locale)
    unit_name = text("unit")
    fields = fields_at_max(Category.DELAY, text)
    report = report_at_max(fields, Status.DECLINED, text)
    for index in (1, MAX_ATTACHMENTS):
        caption = texts.evidence_caption(CODE, index, MAX_ATTACHMENTS, _)
        yield "evidence caption", caption, MAX_CAPTION_LENGTH
    for action in (
        "acknowledged",
        "in_progress",
        "transferred",
        "extended",
        "resolved",
        "declined",
        "reopened",
    ):
        notice = citizen.status_notice(
            action, report, unit_name, text("unit") + "2", text("note"), _, locale
        )
        assert notice is not None
        yield f"notice {action}", notice, MAX_TEXT_LENGTH
    for parent in (text("unit"), None):
        notice = citizen.escalation_notice(CODE, unit_name, parent, _)
        yield "escalation notice", notice, MAX_TEXT_LENGTH
    reports = [report_at_max(fields, status, text) for status in Status] * 4
    yield "myreports", citizen.reports_list(reports[:20], _, locale), MAX_TEXT_LENGTH
    yield "myreports, many", citizen.reports_list(reports * 50, _, locale), MAX_TEXT_LENGTH
    heads = [
        (relay.question_head(unit_name, CODE, _), relay.question_foot(_)),
        (relay.answer_head(CODE, _), relay.answer_foot(_)),
    ]
    for head, foot in heads:
        yield "relayed text", relay.relay_text(head, text("question"), foot), MAX_TEXT_LENGTH
        caption = relay.relay_caption(head, text("caption"))
        yield "relayed caption", caption, MAX_CAPTION_LENGTH
    mention = f'<a href="tg://user?id=1">{escape(text("person")[:64])}</a>'
    for action in ("ask", "res", "ext", "transfer", "decline"):
        prompt = unit.prompt_text(action, CODE, mention, _, max_days=30, unit=unit_name)
        yield f"officer prompt {action}", prompt, MAX_TEXT_LENGTH
    yield "received", questions.received(CODE, unit_name, _), MAX_TEXT_LENGTH
    yield "answered unit", questions.answered_unit(unit_name, _), MAX_TEXT_LENGTH
    yield "units found", questions.units_found(text("search"), _), MAX_TEXT_LENGTH
    held = HeldAlertsNotice(unit="HL", reason=text("reason"))
    yield "admin notice", admin.held_alerts(held, unit_name, _), MAX_TEXT_LENGTH
    yield "admin text", admin.text_notice(TextNotice(text("reason"))), MAX_TEXT_LENGTH
    yield "resent alert", texts.resent_mark(unit.unreachable(CODE, _), _), MAX_TEXT_LENGTH
    yield from lists(fields, text, _, locale)


def lists(
    fields: ReportFields, text: Text, _: Gettext, locale: str
) -> Iterator[tuple[str, str, int]]:
    """The lists a channel packs into messages: /pending, /find, /units, /officers, /banned."""
    reports = [report_at_max(fields, Status.IN_PROGRESS, text)] * 50
    names = {"HL": text("unit")}
    units = [
        Unit(f"U{i:03d}", text("unit"), None if i == 0 else "U000", None, "ok", i % 2 == 0)
        for i in range(200)
    ]
    counts = {u.code: (10**6, 10**6) for u in units}
    built = {
        "pending": unit.pending_lines(reports, names, NOW, _, locale, limit=50),
        "find": admin.found_lines(text("search"), reports[:20], names, _, locale, limit=20),
        "units": admin.units_lines(units, counts, {u.code: True for u in units}, _),
        "officers": admin.officers_lines(units[0], [(10**12, "chat")] * 100, _),
        "banned": admin.banned_lines([{"user_id": 10**12, "reason": text("reason")}] * 100, _),
        "admins": admin.admins_lines(range(100), range(100, 200), _),
    }
    for kind, lines in built.items():
        for message in pack(lines):
            yield kind, message, MAX_TEXT_LENGTH
    stats = Stats(
        # /stats 30d UNIT names the unit in the period.
        period=Period(None, None, "30d · " + text("unit")),
        total=10**6,
        by_category={c.value: 10**5 for c in Category},
        by_status={s.value: 10**5 for s in Status},
        units=[
            UnitStats(f"U{i}", text("unit"), 10**6, 10**5, 10**5, 1, 1, 1234.5, 123.5, 4.5, 10**5)
            for i in range(300)
        ],
        overdue=10**6,
        rating_avg=4.5,
        rating_count=10**6,
    )
    summary = summary_text(stats, _, locale)
    yield "stats", summary, MAX_TEXT_LENGTH
    label = unit.week_label(date(2026, 11, 23), date(2026, 11, 30), locale)
    yield "digest", unit.digest_text(label, summary, _), MAX_TEXT_LENGTH


def check(messages: Iterator[tuple[str, str, int]], locale: str) -> None:
    """Measure each message as Telegram would and hold it to its limit."""
    for kind, html, limit in messages:
        size = telegram_length(html)  # parse_html also refuses malformed HTML, as Telegram does
        assert 0 < size <= limit, f"{kind} ({locale}): {size} > {limit}"
        # The package's own count is the one its budgets rely on.
        assert visible_length(html) == size, kind


@pytest.mark.parametrize("alphabet", ALPHABETS)
@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_message_fits_with_every_answer_at_its_maximum(locale: str, alphabet: str) -> None:
    text = one_alphabet(alphabet)
    # A delay shows the most answers, a bribe the amount, a breach of discipline the longest
    # category name.
    for category in (Category.DELAY, Category.BRIBE, Category.DISCIPLINE):
        check(report_messages(category, text, locale), locale)
    check(other_messages(text, locale), locale)


@st.composite
def mixed_answers(draw: st.DrawFn) -> Text:
    """Each field its own alphabet and draw, at its limit."""
    chosen = {
        field: (draw(st.sampled_from(sorted(ALPHABETS))), draw(st.integers(0, 2**16)))
        for field in LIMITS
    }
    return lambda field: fill(ALPHABETS[chosen[field][0]], LIMITS[field], chosen[field][1])


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    text=mixed_answers(),
    category=st.sampled_from(list(Category)),
    locale=st.sampled_from(SUPPORTED),
)
def test_every_message_fits_with_mixed_answers(text: Text, category: str, locale: str) -> None:
    check(report_messages(category, text, locale), locale)
    check(other_messages(text, locale), locale)


# -- the unit's view of a long description is complete -----------------------------------------


@pytest.mark.parametrize("alphabet", ALPHABETS)
@pytest.mark.parametrize("locale", SUPPORTED)
def test_the_alert_and_its_replies_hold_the_whole_description(locale: str, alphabet: str) -> None:
    _ = TRANSLATOR.get(locale)
    text = one_alphabet(alphabet)
    report = report_at_max(fields_at_max(Category.DELAY, text), Status.RESOLVED, text)
    description = report.fields.description or ""
    banner = texts.alert_banner({"overdue": True}, text("unit"), _, live=True, top=False)
    lines = history(report, text, _, locale)
    alert = texts.alert_text(
        report, text("unit"), 0, _, locale, banner=banner, history=lines, now=NOW
    )
    shown_text = parse_html(alert)[0]
    parts = texts.description_parts(report.fields)
    assert "".join(parts) == description
    assert parts[0] in shown_text
    rest = texts.continuation(report, _)
    assert len(rest) == len(parts) - 1
    for piece, page in zip(parts[1:], rest, strict=True):
        assert piece in parse_html(page)[0]
    if rest:
        assert _("✂️ The rest of the description is in a reply to this alert.") in shown_text
    # Even beside the longest description the alert can hold, the note keeps its floor.
    after = shown_text.split(_("Note: %(note)s") % {"note": ""}, 1)[1]
    assert length(after.split("\n" + _("History:"), 1)[0]) >= texts.NOTE_FLOOR


@pytest.mark.parametrize("locale", SUPPORTED)
def test_a_long_plain_description_beside_short_answers_stays_whole_in_the_alert(
    locale: str,
) -> None:
    _ = TRANSLATOR.get(locale)
    fields = ReportFields(
        category=Category.DISCIPLINE,
        official="Bàn số 3",
        description=fill(ALPHABETS["vietnamese"], DESCRIPTION_MAX),
        anonymous=False,
    )
    report = report_at_max(fields, Status.NEW, one_alphabet("vietnamese"))
    assert texts.continuation(report, _) == []
    alert = texts.alert_text(report, "x" * 500, 10, _, locale, now=NOW, reply_hint=True)
    assert fields.description in parse_html(alert)[0]


@pytest.mark.parametrize("locale", SUPPORTED)
def test_a_review_that_fits_stays_one_message(locale: str) -> None:
    _ = TRANSLATOR.get(locale)
    fields = ReportFields(category=Category.CONDUCT, description="Cán bộ quát tháo <b> & </b>.")
    assert len(questions.review_texts(fields, "UBND phường Hạ Long", 0, _, locale)) == 1


# -- the helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_cut_keeps_whole_characters_within_the_budget(alphabet: str) -> None:
    value = fill(ALPHABETS[alphabet], 500, seed=7)
    assert cut(value, 10_000) == value
    for budget in range(1, 60):
        short = cut(value, budget)
        assert length(short) <= budget
        assert short.endswith("…")
        kept = short.removesuffix("…")
        assert value.startswith(kept)
        dropped = value[len(kept)]
        if not kept:
            continue
        # Nothing cut in two: the first character left out starts a character of its own.
        assert unicodedata.category(dropped) not in ("Mn", "Mc", "Me")
        assert dropped not in "\u200d\ufe0f" and not kept.endswith("\u200d")
        flags = len(kept) - len(kept.rstrip(REGIONAL))
        assert dropped not in REGIONAL or flags % 2 == 0
        # Cut before escaping: the HTML is well formed and shows exactly the cut text.
        assert parse_html(shown(value, budget))[0] == short


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_pieces_give_the_text_back_exactly(alphabet: str) -> None:
    value = fill(ALPHABETS[alphabet], DESCRIPTION_MAX, seed=3)
    for first, rest in ((0, 1000), (57, 400), (2456, 3996), (10_000, 10_000)):
        parts = pieces(value, first, rest)
        assert "".join(parts) == value
        assert length(parts[0]) <= first
        assert all(0 < length(p) <= rest for p in parts[1:])
        for part in parts[1:]:
            assert unicodedata.category(part[0]) not in ("Mn", "Mc", "Me")


def test_pack_keeps_every_line_and_each_message_within_the_limit() -> None:
    lines = [escape(fill(ALPHABETS["mixed"], 300, seed=i)) for i in range(100)]
    messages = pack(lines)
    assert "\n".join(messages) == "\n".join(lines)
    assert all(telegram_length(m) <= MAX_TEXT_LENGTH for m in messages)


# -- end to end ---------------------------------------------------------------------------------


FILES = MAX_ATTACHMENTS - 3


async def test_a_named_report_with_every_answer_at_its_maximum_goes_through(world: World) -> None:
    """The review that once could never be sent: every answer at its limit, a long name."""
    first_name = fill(ALPHABETS["mixed"].replace("\n", ""), 64, seed=1)
    last_name = fill(ALPHABETS["combining"], 64, seed=2)
    phone = "+84 912 345 678 " + "9" * (PHONE_MAX - 16)
    dossier, official, place, description = (
        fill(ALPHABETS["mixed"], limit, seed=seed)
        for seed, limit in enumerate((DOSSIER_MAX, SHORT_TEXT_MAX, PLACE_MAX, DESCRIPTION_MAX))
    )
    lan = world.person(740001, first_name, last_name=last_name)
    await lan.say("/start", expect="đồng ý")
    await lan.press("Tôi đồng ý", expect="Chọn loại")
    await lan.press("Chậm trễ", expect="đơn vị")
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="mã thủ tục")
    await lan.say(dossier, expect="nộp hồ sơ vào ngày nào")
    await lan.say("02/11/2026", expect="hẹn trả kết quả")
    await lan.say("12/11/2026", expect="cán bộ đó là ai")
    await lan.say(official, expect="lãnh đạo")
    await lan.press("Không", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.say(place, expect="Mô tả")
    await lan.say(description, expect="bằng chứng")
    # Seven files, not the ten allowed: the unit chat's look-up, the alert, the copies and the
    # reply then stay within the ten calls a minute the bot makes to a group, so the test does
    # not wait for the limit; the property tests above count ten files.
    for count in range(1, FILES + 1):
        await lan.send_document(f"bien-nhan-{count}.pdf", b"%PDF-1.4 " * count, f"{count} tệp")
    await lan.press("Xong", expect="ẩn danh")
    await lan.press("Có danh tính", expect="chia sẻ họ tên")
    mark = len(lan.messages)
    await lan.user.send_contact(phone, first_name, last_name=last_name)
    review = await world.sim.wait_for_message(lan.id, contains="kiểm tra", after=mark)

    # The description comes first, whole, in a message of its own; the review names the rest.
    shown_first = [m["text"] for m in lan.messages[mark:]]
    assert any(description in text for text in shown_first[:-1])
    for answer in (dossier, official, place, f"{first_name} {last_name}", phone):
        assert answer in review["text"], answer
    assert "Gửi phản ánh" in str(review["buttons"])

    confirmation = await lan.press("Gửi phản ánh", expect="/status")
    code = code_in(confirmation["text"])
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    rest = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="phần tiếp theo của mô tả", timeout=15
    )
    assert rest["reply_to_message"]["message_id"] == alert["message_id"]
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.fields.description == description
    # The unit reads every word: the alert's share, then the rest in its reply.
    first, second = texts.description_parts(report.fields)
    assert first in alert["text"] and second in rest["text"]
    for answer in (dossier, official, place):
        assert answer in alert["text"], answer
    # Documents go one by one (an image among them would be cleaned of its metadata first).
    assert world.sim.count("copyMessage", chat_id=HA_LONG_CHAT) == FILES
    unit_chat = "\n".join(m.get("text") or "" for m in world.sim.messages(HA_LONG_CHAT))
    for trace in (first_name, last_name, phone):
        assert trace not in unit_chat
