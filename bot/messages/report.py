"""A report as the people handling it read it: its answers line by line, the alert a unit sees
with its banner, status, deadline and history fitted into one message, the replies carrying
the rest of a description too long for it, the caption of a copied piece of evidence, and the
budgets that keep all of it within Telegram's limits. Every value a person typed, and every
unit name, is shortened to its display budget and HTML-escaped here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from html import escape

from bot.core.deadlines import deadline_day
from bot.core.domain import VN_TZ, AuditEntry, Category, Report, ReportFields
from bot.core.parsing import format_amount, format_code, format_date
from bot.i18n import N_, Gettext
from bot.messages.labels import category_label, status_label
from bot.messages.limits import (
    CAPTION_LIMIT,
    CONTACT_NAME,
    DOSSIER,
    OFFICIAL,
    PERSON_NAME,
    PHONE,
    PLACE,
    TEXT_LIMIT,
    UNIT_NAME,
    cut,
    length,
    pieces,
    shown,
    visible_length,
)


def code_html(code: str) -> str:
    """Return a report's tracking code as shown in a message (HTML)."""
    return f"<code>{format_code(code)}</code>"


def deadline_date(report: Report, locale: str) -> str:
    """Return the day the running deadline falls on, or "-" when none runs."""
    if report.deadline_at is None:
        return "-"
    return format_date(deadline_day(report.deadline_at), locale)


def _day(value: str | None, locale: str) -> str:
    if not value:
        return ""
    return format_date(date.fromisoformat(value), locale)


def field_lines(
    fields: ReportFields,
    unit_name: str | None,
    evidence_count: int,
    _: Gettext,
    locale: str,
    *,
    for_unit: bool,
) -> list[str]:
    """Describe a report's answers but its description, one labelled line each (HTML).

    Every typed answer and the unit's name are shown within their display budgets
    (`bot.messages.limits`), so these lines never hold more than about 2,400 units.
    """
    not_given = _("not given")
    lines = [
        _("Category: %(value)s") % {"value": escape(category_label(fields.category, _))},
        _("Unit: %(value)s") % {"value": shown(unit_name or not_given, UNIT_NAME)},
    ]
    if fields.category == Category.DELAY:
        lines.append(
            _("Dossier or procedure: %(value)s")
            % {"value": shown(fields.dossier_code or "-", DOSSIER)}
        )
        lines.append(
            _("Submitted on: %(value)s")
            % {"value": _day(fields.submitted_on, locale) or not_given}
        )
        lines.append(
            _("Promised for: %(value)s") % {"value": _day(fields.promised_on, locale) or not_given}
        )
    if fields.category == Category.BRIBE:
        amount = format_amount(fields.amount, locale) if fields.amount else not_given
        lines.append(_("Amount asked or taken: %(value)s") % {"value": escape(amount)})
    lines.append(
        _("Official involved: %(value)s") % {"value": shown(fields.official or "-", OFFICIAL)}
    )
    if fields.official and fields.official_head:
        lines.append(
            _("Head or deputy head of the unit: %(value)s")
            % {"value": escape(_(HEAD_ANSWERS.get(fields.official_head, "-")))}
        )
    lines.append(_("When: %(value)s") % {"value": _day(fields.occurred_on, locale) or not_given})
    if fields.location:
        where = shown(fields.location, PLACE)
    elif fields.latitude is not None and fields.longitude is not None:
        where = _("map location %(lat).5f, %(lon).5f") % {
            "lat": fields.latitude,
            "lon": fields.longitude,
        }
    else:
        where = "-"
    lines.append(_("Where: %(value)s") % {"value": where})
    lines.append(_("Evidence files: %(count)d") % {"count": evidence_count})
    if for_unit:
        # Units never learn who reported; a named reporter's contact stays with the admins,
        # who can hand it over through a formal, audited channel.
        if fields.anonymous is False:
            lines.append(_("Reporter: named (contact details are held by the administrators)"))
        else:
            lines.append(_("Reporter: anonymous"))
    elif fields.anonymous is False:
        lines.append(
            _("Reporter: %(name)s, %(phone)s")
            % {
                "name": shown(fields.contact_name, CONTACT_NAME),
                "phone": shown(fields.contact_phone, PHONE),
            }
        )
    else:
        lines.append(_("Reporter: anonymous"))
    return lines


def evidence_caption(code: str, index: int, total: int, _: Gettext) -> str:
    """Return the caption placed on a copied piece of evidence (HTML)."""
    return _("Evidence %(index)d/%(total)d for report %(code)s") % {
        "index": index,
        "total": total,
        "code": code_html(code),
    }


# The answers to "is the official the head or deputy head of the unit?" (conversation.HEAD).
HEAD_ANSWERS: dict[str, str] = {"yes": N_("yes"), "no": N_("no"), "unsure": N_("don't know")}

HISTORY_LINES = 6

ACTION_HISTORY: dict[str, str] = {
    "submitted": N_("report received"),
    "acknowledged": N_("acknowledged"),
    "in_progress": N_("marked in progress"),
    "asked": N_("question sent to the reporter"),
    "answered": N_("answer received from the reporter"),
    "extended": N_("deadline extended"),
    "resolved": N_("resolved"),
    "declined": N_("declined"),
    "reminded": N_("deadline reminder sent"),
    "reopened": N_("reopened: the reporter says it is not resolved"),
    "confirmed": N_("the reporter confirmed it is resolved"),
    "deadline_set": N_("deadline set"),
    "forgotten": N_("the reporter's personal data was erased at their request"),
}


def history_line(entry: AuditEntry, unit_names: Mapping[str, str], _: Gettext, locale: str) -> str:
    """Describe one audit entry in one line (HTML), for people inside the units."""
    when = datetime.fromtimestamp(entry.at, tz=VN_TZ)
    stamp = f"{format_date(when.date(), locale)} {when:%H:%M}"

    def name(code: str | None) -> str:
        return shown(unit_names.get(code or "", code or ""), UNIT_NAME)

    if entry.action == "transferred":
        what = _("transferred from %(from)s to %(to)s") % {
            "from": name(entry.from_unit),
            "to": name(entry.to_unit),
        }
    elif entry.action == "escalated":
        if entry.note and entry.note in unit_names:
            what = _("overdue: escalated to %(unit)s") % {"unit": name(entry.note)}
        else:
            what = _("overdue: escalated to the administrators")
    elif entry.action == "rated":
        what = _("rated %(stars)s/5 by the reporter") % {"stars": shown(entry.note, 1)}
    else:
        what = _(ACTION_HISTORY.get(entry.action, entry.action))
    who = f" – {shown(entry.actor.name, PERSON_NAME)}" if entry.actor.name else ""
    return f"• {stamp} {what}{who}"


def deadline_line(report: Report, now: float, _: Gettext, locale: str) -> str | None:
    """Describe the running deadline, marked when it has passed (HTML)."""
    if report.deadline_at is None:
        return None
    day = format_date(deadline_day(report.deadline_at), locale)
    if report.deadline_kind == "ack":
        text = _("Acknowledge by: %(date)s") % {"date": day}
    else:
        text = _("Resolve by: %(date)s") % {"date": day}
    if report.overdue(now):
        text += " " + _("⚠️ OVERDUE")
    return text


def alert_banner(
    marks: Mapping[str, object], unit_name: str, _: Gettext, *, live: bool, top: bool
) -> str | None:
    """Return the line under an alert's title saying why it is in this chat (HTML), if any.

    `marks` are the alert's stored flags ("overdue", "reopened", "transferred"); `live` tells
    whether the chat's unit still handles the report, `top` whether the copy is an admin's.
    """
    if not live:
        return _("↪️ Transferred to %(unit)s: this unit no longer handles it.") % {
            "unit": shown(unit_name, UNIT_NAME)
        }
    if "overdue" in marks and top:
        return _("⚠️ Overdue: escalated to the administrators, the top of the tree.")
    if "overdue" in marks:
        return _("⚠️ Overdue at %(unit)s: escalated to this unit, the level above.") % {
            "unit": shown(unit_name, UNIT_NAME)
        }
    if "reopened" in marks:
        return _("🔁 Reopened: the reporter says it is not resolved.")
    if "transferred" in marks:
        return _("↪️ Transferred here from another unit.")
    return None


# The alert is one message, edited at every step. So that the cut in a long description never
# moves from one version to the next (its rest is sent once, in replies), how much of the
# description the alert holds depends only on what a sent report never changes: its category,
# its three typed answers and a place given on the map; never on its status, history, unit or
# language. In UTF-16 units, for the longer language (Vietnamese), each line with its break:
#   the title ("🔔 Phản ánh ABCD-EFGH") and the blank line under it                    23
#   category, the longest one: "Loại vi phạm: " 14 + 87                             102
#   unit, a name at its budget: 8 + 120                                              129
#   the official's, when's and where's labels, a date, "-" for a place not given     54
#   the evidence count and the reporter line                                          96
#   a blank line, "Mô tả:" and the line saying where the rest of it is                75
#   the mark of a copy sent again after a lost answer, "🔁 (gửi lại) "               13
#   in all 492; ALERT_FRAME                                                          520
# and, for what changes as the report is handled:
#   the banner, naming a unit at its budget: 55 + 120                                175
#   a blank line and the status: 12 + 34                                              48
#   the deadline (38) and the reply hint (65), or a note's label (10) and NOTE_FLOOR 160
#   "Lịch sử xử lý:" and "… 999 mục trước đó"                                         34
#   in all 417; ALERT_STATE                                                          440
# A delay adds its dossier's label and two dates (82: ALERT_DELAY), a bribe the amount (44:
# ALERT_BRIBE), a place on the map its coordinates (40: ALERT_MAP). The description gets the
# rest: 4096 - 960 - the official's, the place's and the dossier's shown lengths: 2,436 when
# they are at their input limits (4096 - 960 - 200 - 300 - 100 - 100), 1,836 if every one of
# their characters is an emoji (display budgets 400, 600, 200). A description within it is
# shown whole, as is one of 3,000 plain characters beside short answers; a longer one is cut
# there and its rest follows in replies to the alert, CONTINUATION_ROOM at a time. The note and
# the history get what the rest of the alert leaves, at least ALERT_STATE. tests/test_limits.py
# builds every alert with every answer at its maximum in both languages against these sums.
ALERT_FRAME = 520
ALERT_STATE = 440
ALERT_DELAY = 100
ALERT_BRIBE = 60
ALERT_MAP = 50
NOTE_FLOOR = 150
# A continuation's heading, "📝 Phản ánh ABCD-EFGH: phần tiếp theo của mô tả (2/2)", is 55,
# and 68 with the mark of a resent copy.
CONTINUATION_ROOM = TEXT_LIMIT - 100


def description_room(fields: ReportFields) -> int:
    """Return how much of the description (UTF-16 units) an alert holds: see the sums above."""
    room = TEXT_LIMIT - ALERT_FRAME - ALERT_STATE
    room -= length(cut(fields.official or "-", OFFICIAL))
    if fields.category == Category.DELAY:
        room -= ALERT_DELAY + length(cut(fields.dossier_code or "-", DOSSIER))
    if fields.category == Category.BRIBE:
        room -= ALERT_BRIBE
    if fields.location:
        room -= length(cut(fields.location, PLACE))
    elif fields.latitude is not None and fields.longitude is not None:
        room -= ALERT_MAP
    return room


def description_parts(fields: ReportFields) -> list[str]:
    """Return the description as the alert holds it (first) and its rest, a piece a reply."""
    text = fields.description or ""
    room = description_room(fields)
    if length(text) <= room:
        return [text]
    return pieces(text, room, CONTINUATION_ROOM)


def continuation(report: Report, _: Gettext) -> list[str]:
    """Return the replies carrying what of the description an alert could not hold (HTML).

    Empty for almost every report: only a description longer than the alert's room, which
    takes long answers besides a long description, or many emoji, has a rest.
    """
    parts = description_parts(report.fields)
    texts = []
    for number, piece in enumerate(parts[1:], start=2):
        head = _("📝 Report %(code)s: the description, continued (%(part)d/%(parts)d)") % {
            "code": code_html(report.code),
            "part": number,
            "parts": len(parts),
        }
        texts.append(f"<b>{head}</b>\n\n{escape(piece)}")
    return texts


def alert_text(
    report: Report,
    unit_name: str,
    evidence_count: int,
    _: Gettext,
    locale: str,
    *,
    banner: str | None = None,
    history: Sequence[str] = (),
    history_limit: int | None = HISTORY_LINES,
    now: float | None = None,
    reply_hint: bool = False,
    resent: bool = False,
    limit: int = TEXT_LIMIT,
) -> str:
    """Return an alert as a unit sees it: what was reported, where it stands, what happened.

    It always fits in one message: the description gets the room computed above, the note and
    the history what is left after everything else, the newest history entries first. An
    alert that is the caption of its one photo (`limit` CAPTION_LIMIT) was sent only with
    ALERT_STATE to spare (`fits_caption`), which the note and the history share the same way.
    """
    head = _("🔔 Report %(code)s") % {"code": code_html(report.code)}
    # A copy sent again after a lost answer says so in its first line, within the budget.
    top = [resent_mark(f"<b>{head}</b>", _) if resent else f"<b>{head}</b>"]
    if banner:
        top.append(banner)
    top.append("")
    body = field_lines(report.fields, unit_name, evidence_count, _, locale, for_unit=True)
    first, *rest = description_parts(report.fields)
    body += ["", _("Description:"), escape(first)]
    if rest:
        body.append(_("✂️ The rest of the description is in a reply to this alert."))
    state = [
        "",
        _("Status: %(status)s") % {"status": escape(status_label(report.status, _))},
    ]
    if report.is_open and now is not None:
        line = deadline_line(report, now, _, locale)
        if line:
            state.append(line)
    tail = []
    if report.is_open and reply_hint:
        tail = ["", _("Reply to this message to ask the reporter a question.")]
    if history_limit:
        history = history[-history_limit:]
    title = _("History:")
    more = _("… %(count)d earlier entries") % {"count": len(history)}
    # What the history needs at the least: its title and the line counting what is left out.
    least = visible_length(title) + visible_length(more) + 2 if history else 0

    def left() -> int:
        return limit - visible_length("\n".join(top + body + state + tail)) - least

    if report.resolution_note and not report.is_open:
        label = _("Note: %(note)s")
        room = left() - visible_length(label % {"note": ""}) - 1
        state.append(label % {"note": shown(report.resolution_note, room)})
    if history:
        room = left() + visible_length(more) + 1
        kept = _newest(history, room)
        if len(kept) < len(history):
            kept = _newest(history, room - visible_length(more) - 1)
        state.append(title)
        if len(kept) < len(history):
            state.append(_("… %(count)d earlier entries") % {"count": len(history) - len(kept)})
        state.extend(kept)
    return "\n".join([*top, *body, *state, *tail])


def fits_caption(text: str) -> bool:
    """Tell whether a new alert can be its photo's caption for as long as it is edited.

    What changes as the report is handled (banner, status, deadline, note, history) takes at
    most ALERT_STATE more than the new alert shows, so that much is kept free.
    """
    return visible_length(text) + ALERT_STATE <= CAPTION_LIMIT


def _newest(lines: Sequence[str], room: int) -> list[str]:
    """Return the newest of `lines` whose total, line breaks included, fits in `room` units."""
    kept: list[str] = []
    for line in reversed(lines):
        size = visible_length(line) + 1
        if size > room:
            break
        kept.insert(0, line)
        room -= size
    return kept


def resent_mark(text: str, _: Gettext) -> str:
    """Mark a message sent again because an earlier copy may have arrived (HTML)."""
    # The unit recognises a repeat by the report's code, which every such message carries.
    return _("🔁 (resent) %(message)s") % {"message": text}


def channel_banner(channel: str | None, _: Gettext) -> str | None:
    """Return the alert's line saying how the report arrived, None for Telegram."""
    if channel == "web":
        return _("🌐 Sent via the web pages.")
    if channel == "zalo":
        return _("💬 Sent via Zalo.")
    return None
