"""A report as the people handling it read it: its answers line by line, the alert a unit sees
with its banner, status, deadline and history fitted into one message, the caption of a copied
piece of evidence, and the message budgets that keep all of it within Telegram's limits. Every
value a person typed, and every unit name, is HTML-escaped here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from html import escape

from bot.core.deadlines import deadline_day
from bot.core.domain import VN_TZ, AuditEntry, Category, Report, ReportFields
from bot.core.parsing import format_amount, format_code, format_date
from bot.i18n import N_, Gettext
from bot.messages.labels import category_label, status_label

# Telegram counts a message's length after entity parsing; staying well under 4096 leaves room
# for the labels around a long description.
DESCRIPTION_CUT = 3000


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
    """Describe a report's answers, one labelled line each (HTML)."""
    not_given = _("not given")
    lines = [
        _("Category: %(value)s") % {"value": escape(category_label(fields.category, _))},
        _("Unit: %(value)s") % {"value": escape(unit_name or not_given)},
    ]
    if fields.category == Category.DELAY:
        lines.append(
            _("Dossier or procedure: %(value)s") % {"value": escape(fields.dossier_code or "-")}
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
    lines.append(_("Official involved: %(value)s") % {"value": escape(fields.official or "-")})
    lines.append(_("When: %(value)s") % {"value": _day(fields.occurred_on, locale) or not_given})
    if fields.location:
        where = escape(fields.location)
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
                "name": escape(fields.contact_name or ""),
                "phone": escape(fields.contact_phone or ""),
            }
        )
    else:
        lines.append(_("Reporter: anonymous"))
    description = (fields.description or "")[:DESCRIPTION_CUT]
    lines.append("")
    lines.append(_("Description:"))
    lines.append(escape(description))
    return lines


def evidence_caption(code: str, index: int, total: int, _: Gettext) -> str:
    """Return the caption placed on a copied piece of evidence (HTML)."""
    return _("Evidence %(index)d/%(total)d for report %(code)s") % {
        "index": index,
        "total": total,
        "code": code_html(code),
    }


# Telegram's limit is 4096 characters after entity parsing; the budget leaves room for error.
MESSAGE_BUDGET = 3900
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
        return escape(unit_names.get(code or "", code or ""))

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
        what = _("rated %(stars)s/5 by the reporter") % {"stars": escape(entry.note or "")}
    else:
        what = _(ACTION_HISTORY.get(entry.action, entry.action))
    who = f" – {escape(entry.actor.name)}" if entry.actor.name else ""
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
            "unit": escape(unit_name)
        }
    if "overdue" in marks and top:
        return _("⚠️ Overdue: escalated to the administrators, the top of the tree.")
    if "overdue" in marks:
        return _("⚠️ Overdue at %(unit)s: escalated to this unit, the level above.") % {
            "unit": escape(unit_name)
        }
    if "reopened" in marks:
        return _("🔁 Reopened: the reporter says it is not resolved.")
    if "transferred" in marks:
        return _("↪️ Transferred here from another unit.")
    return None


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
) -> str:
    """Return an alert as a unit sees it: what was reported, where it stands, what happened."""
    head = _("🔔 Report %(code)s") % {"code": code_html(report.code)}
    top = [f"<b>{head}</b>"]
    if banner:
        top.append(banner)
    top.append("")
    body = field_lines(report.fields, unit_name, evidence_count, _, locale, for_unit=True)
    # The description is the last line of field_lines; it is fitted to the budget below.
    body = body[:-1]
    state = [
        "",
        _("Status: %(status)s") % {"status": escape(status_label(report.status, _))},
    ]
    if report.is_open and now is not None:
        line = deadline_line(report, now, _, locale)
        if line:
            state.append(line)
    if report.resolution_note and not report.is_open:
        state.append(_("Note: %(note)s") % {"note": escape(report.resolution_note)})
    tail = []
    if report.is_open and reply_hint:
        tail = ["", _("Reply to this message to ask the reporter a question.")]
    description = (report.fields.description or "")[:DESCRIPTION_CUT]
    if history_limit:
        history = history[-history_limit:]
    # The newest history lines are kept first, then the description is cut to what is left,
    # so that even a long history never makes the message too long for Telegram.
    fixed = len("\n".join(top + body + state + tail)) + len(_("History:")) + 2
    room = MESSAGE_BUDGET - fixed - min(len(description), 600)
    kept: list[str] = []
    for line in reversed(history):
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    if kept:
        state.append(_("History:"))
        if len(kept) < len(history):
            state.append(_("… %(count)d earlier entries") % {"count": len(history) - len(kept)})
        state.extend(kept)
    used = len("\n".join(top + body + state + tail))
    description = description[: max(200, MESSAGE_BUDGET - used - 1)]
    return "\n".join([*top, *body, escape(description), *state, *tail])


def channel_banner(channel: str | None, _: Gettext) -> str | None:
    """Return the alert's line saying how the report arrived, None for Telegram."""
    if channel == "web":
        return _("🌐 Sent via the web pages.")
    if channel == "zalo":
        return _("💬 Sent via Zalo.")
    return None
