"""What the people of a unit read besides the alert itself: deadline reminders, the officers'
/pending list, the prompt asking an officer to type what a step needs, and the weekly digest's
heading (the digest goes to the top units' chats and to the admins). Unit names and everything
else people typed are HTML-escaped here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

from bot.core.domain import Report
from bot.core.parsing import format_date
from bot.i18n import Gettext
from bot.messages.labels import category_label, status_label
from bot.messages.limits import TEXT_LIMIT, UNIT_NAME, cut, shown, visible_length
from bot.messages.report import code_html, deadline_date


def reminder(report: Report, _: Gettext, locale: str) -> str:
    """Return the reminder that the report's running deadline is near (HTML)."""
    values = {"code": code_html(report.code), "date": deadline_date(report, locale)}
    if report.deadline_kind == "ack":
        text = _("⏰ Reminder: report %(code)s must be acknowledged by %(date)s.")
    else:
        text = _("⏰ Reminder: report %(code)s must be resolved by %(date)s.")
    return text % values


def pending_lines(
    reports: Sequence[Report],
    unit_names: Mapping[str, str],
    now: float,
    _: Gettext,
    locale: str,
    *,
    limit: int,
) -> list[str]:
    """Return /pending: the open reports one line each, in the order given, then hints (HTML).

    `limit` is how many reports were asked for; a list that long says more may exist.
    """
    title = _("Open reports, earliest deadline first:")
    lines = [f"<b>{title}</b>"]
    for report in reports:
        unit = unit_names.get(report.fields.unit_code or "", "")
        mark = " ⚠️ " + _("OVERDUE") if report.overdue(now) else ""
        lines.append(
            f"{code_html(report.code)} · {shown(unit, UNIT_NAME)}"
            f" · {escape(category_label(report.fields.category, _))}"
            f" · {escape(status_label(report.status, _))} · {deadline_date(report, locale)}{mark}"
        )
    lines.append("")
    if len(reports) == limit:
        lines.append(_("Only the first %(count)d are shown.") % {"count": limit})
    lines.append(_("Send /report CODE to see one of them with its history."))
    return lines


def prompt_text(
    action: str, code: str, officer: str, _: Gettext, *, max_days: int, unit: str | None = None
) -> str:
    """Return the request that an officer type what a step needs, as a reply (HTML).

    `action` is the step ("ask", "res", "ext", "transfer" or "decline"), `officer` the channel's
    way of naming the officer, already HTML, `unit` the unit a transfer goes to.
    """
    questions = {
        "ask": _("type your question for the reporter of %(code)s."),
        "res": _("type the resolution of %(code)s; the reporter will read it."),
        "ext": _(
            "type the number of days (1–%(max)d) to extend %(code)s by, then the reason,"
            " for example: 15 waiting for the land registry's answer"
        ),
        "transfer": _("type why %(code)s goes to %(unit)s."),
        "decline": _(
            "type a note explaining why %(code)s is declined; the reporter will read it."
        ),
    }
    values: dict[str, object] = {"code": code_html(code), "max": max_days}
    if unit is not None:
        values["unit"] = shown(unit, UNIT_NAME)
    return _("%(officer)s, reply to this message: %(question)s") % {
        "officer": officer,
        "question": questions[action] % values,
    }


def week_label(first: date, until: date, locale: str) -> str:
    """Return a digest's week as people read it: its first and last day (`until` excluded)."""
    return f"{format_date(first, locale)}–{format_date(until - timedelta(days=1), locale)}"


def digest_text(label: str, summary: str, _: Gettext) -> str:
    """Return the weekly digest: a heading naming the week, then the figures' summary (HTML).

    The summary keeps within SUMMARY_BUDGET (3,500 units, `bot.figures.stats`) and the heading
    within 100, so the digest fits in one message.
    """
    head = _("📊 Last week's reports (%(period)s)") % {"period": label}
    head = cut(head, TEXT_LIMIT - visible_length(summary) - 2)
    return f"<b>{escape(head)}</b>\n\n" + summary


def unreachable(code: str, _: Gettext) -> str:
    """Say in a unit's chat that a question could not reach the reporter (HTML)."""
    return _(
        "The reporter of %(code)s can no longer be reached through the bot; the question was"
        " not delivered."
    ) % {"code": code_html(code)}
