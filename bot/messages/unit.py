"""What the people of a unit read besides the alert itself: deadline reminders and the weekly
digest's heading (the digest goes to the top units' chats and to the admins). Everything people
typed is HTML-escaped here."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

from bot.core.domain import Report
from bot.core.parsing import format_date
from bot.i18n import Gettext
from bot.messages.report import code_html, deadline_date


def reminder(report: Report, _: Gettext, locale: str) -> str:
    """Return the reminder that the report's running deadline is near (HTML)."""
    values = {"code": code_html(report.code), "date": deadline_date(report, locale)}
    if report.deadline_kind == "ack":
        text = _("⏰ Reminder: report %(code)s must be acknowledged by %(date)s.")
    else:
        text = _("⏰ Reminder: report %(code)s must be resolved by %(date)s.")
    return text % values


def week_label(first: date, until: date, locale: str) -> str:
    """Return a digest's week as people read it: its first and last day (`until` excluded)."""
    return f"{format_date(first, locale)}–{format_date(until - timedelta(days=1), locale)}"


def digest_text(label: str, summary: str, _: Gettext) -> str:
    """Return the weekly digest: a heading naming the week, then the figures' summary (HTML)."""
    head = _("📊 Last week's reports (%(period)s)") % {"period": label}
    return f"<b>{escape(head)}</b>\n\n" + summary
