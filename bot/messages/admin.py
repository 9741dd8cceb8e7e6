"""What the administrators read that is built from stored data: the notice that a unit's alerts
are held, the lists of administrators, units, officers and banned users, the results of a search
and what the full view of one report adds for them. Lists come back as lines, so that a channel
can split a long one over several messages; every stored name and reason is HTML-escaped here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from bot.core.domain import VN_TZ, Report, Unit
from bot.core.outbox import HeldAlertsNotice, TextNotice
from bot.core.parsing import format_date
from bot.i18n import Gettext
from bot.messages.labels import status_label, unit_label
from bot.messages.limits import CONTACT_NAME, PHONE, SEARCH, UNIT_NAME, cut, shown
from bot.messages.report import code_html

# How much of a report's description a search result shows.
SNIPPET = 80
# A reason for a ban is kept to 200 characters by /ban; a notice's words (Telegram's answer
# about a broken chat, a text queued for an admin) to 1,000. Every line of a list is thus far
# shorter than a message, and the channel packs the lines into as few messages as fit.
REASON = 200
NOTICE = 1000


def _bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def held_alerts(payload: HeldAlertsNotice, unit_name: str | None, _: Gettext) -> str:
    """Return the notice that a unit's alerts are held (HTML); `unit_name` None if unknown."""
    return _(
        "⚠️ Alerts for %(unit)s cannot be delivered: %(reason)s. They are kept and will"
        " be sent once the unit's chat is fixed (add the bot back as an administrator"
        " or correct chat_id)."
    ) % {
        "unit": shown(unit_name if unit_name is not None else payload.unit, UNIT_NAME),
        "reason": shown(payload.reason, NOTICE),
    }


def text_notice(payload: TextNotice) -> str:
    """Return a plain queued text as HTML."""
    return shown(payload.text, NOTICE)


def admins_lines(configured: Iterable[int], added: Iterable[int], _: Gettext) -> list[str]:
    """Return /admins: those named in the configuration file, then those added in chat."""
    lines = [_bold(_("Administrators:"))]
    for user_id in sorted(configured):
        lines.append(_("%(user)s (configuration file)") % {"user": user_id})
    for user_id in sorted(added):
        lines.append(_("%(user)s (added in chat)") % {"user": user_id})
    return lines


def units_lines(
    units: Iterable[Unit],
    counts: Mapping[str, tuple[int, int]],
    edited: Mapping[str, object],
    _: Gettext,
    qualifiers: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Return /units: the tree, each unit with its chat's state and open and overdue counts.

    `counts` gives (open, overdue) by unit code, `edited` marks the units changed in chat,
    `qualifiers` tells units of the same name apart (`UnitStore.qualifiers`).
    """
    qualifiers = qualifiers or {}
    children: dict[str | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent, []).append(unit)
    states = {
        "ok": _("chat ok"),
        "unset": _("no chat set"),
        "broken": _("bot removed from its chat"),
    }
    lines = [
        _bold(_("Units")),
        escape(
            _(
                "✏️ = changed in chat: the configuration file no longer overrides it."
                " Others follow the configuration file at every start."
            )
        ),
        "",
    ]

    def walk(parent: str | None, depth: int) -> None:
        for unit in sorted(children.get(parent, []), key=lambda u: u.code):
            open_, overdue = counts.get(unit.code, (0, 0))
            marks = (" ✏️" if edited.get(unit.code) else "") + (
                " ⛔ " + _("disabled") if unit.disabled else ""
            )
            lines.append(
                "  " * depth
                + f"<code>{escape(unit.code)}</code> "
                # A namesake's label adds the names above it: room for the name and two more.
                + shown(unit_label(unit, qualifiers.get(unit.code, ())), 3 * UNIT_NAME)
                + f"{marks} · "
                + escape(states.get(unit.chat_state, unit.chat_state))
                + " · "
                + _("%(open)d open, %(overdue)d overdue") % {"open": open_, "overdue": overdue}
            )
            walk(unit.code, depth + 1)

    walk(None, 0)
    return lines


def officers_lines(unit: Unit, rows: Sequence[tuple[int, str]], _: Gettext) -> list[str]:
    """Return /officers CODE: the unit's officers, each with where they were added."""
    lines = [f"<b>{shown(unit.name, UNIT_NAME)}</b>"]
    if not rows:
        lines.append(
            _("No officers yet. Add one with /officer_add %(code)s USER_ID.")
            % {"code": escape(unit.code)}
        )
    sources = {
        "config": _("configuration file"),
        "chat": _("added in chat"),
        "import": _("imported"),
    }
    for user_id, source in rows:
        lines.append(f"<code>{user_id}</code> · {escape(sources.get(source, source))}")
    return lines


def banned_lines(rows: Iterable[Mapping[str, Any]], _: Gettext) -> list[str]:
    """Return /banned: each banned user with the reason given, if any."""
    lines = [_bold(_("Banned users:"))]
    for row in rows:
        reason = shown(row["reason"] or "-", REASON)
        lines.append(f"<code>{row['user_id']}</code> · {reason}")
    return lines


def found_lines(
    text: str,
    found: Sequence[Report],
    unit_names: Mapping[str, str],
    _: Gettext,
    locale: str,
    *,
    limit: int,
) -> list[str]:
    """Return /find TEXT: each report found with its day, unit, status and a snippet.

    `limit` is how many reports were asked for; a list that long says more may exist.
    """
    title = _("Reports matching “%(text)s”:") % {"text": cut(text, SEARCH)}
    lines = [f"<b>{escape(title)}</b>"]
    for report in found:
        unit = unit_names.get(report.fields.unit_code or "", "")
        snippet = cut(report.fields.description, SNIPPET)
        day = format_date(datetime.fromtimestamp(report.created_at, tz=VN_TZ).date(), locale)
        lines.append(
            f"{code_html(report.code)} · {day} · "
            f"{shown(unit, UNIT_NAME)} · "
            f"{escape(status_label(report.status, _))}\n   {escape(snippet)}"
        )
    if len(found) == limit:
        lines.append(_("Only the first %(count)d are shown.") % {"count": limit})
    lines.append(_("Send /report CODE for the whole report."))
    return lines


def report_extras(report: Report, relayed: int, _: Gettext) -> str:
    """Return what an admin's full view adds under the alert: relayed messages, the reporter."""
    extra = [_("Messages relayed: %(count)d") % {"count": relayed}]
    fields = report.fields
    if fields.anonymous is False and (fields.contact_name or fields.contact_phone):
        extra.append(
            _("Reporter (named): %(name)s, %(phone)s")
            % {
                "name": shown(fields.contact_name, CONTACT_NAME),
                "phone": shown(fields.contact_phone, PHONE),
            }
        )
    return "\n".join(extra)
