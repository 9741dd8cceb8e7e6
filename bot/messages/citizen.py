"""What a reporter reads about their own reports: the notice sent at each step a unit takes and
the escalation notice. None of them names an officer, only units; unit names and officers' notes
are HTML-escaped here."""

from __future__ import annotations

from html import escape

from bot.core.domain import Report
from bot.i18n import Gettext
from bot.messages.labels import decline_label
from bot.messages.report import code_html, deadline_date


def status_notice(
    action: str,
    report: Report,
    unit: str,
    from_unit: str,
    note: str | None,
    _: Gettext,
    locale: str,
) -> str | None:
    """Return the notice for one step of the report's handling, None for a step not told.

    `unit` is the unit the step leaves the report with, `from_unit` the one a transfer took it
    from, `note` what the officer wrote (a resolution, a reason for declining).
    """
    values = {"code": code_html(report.code), "unit": escape(unit), "note": escape(note or "")}
    if action == "acknowledged":
        values["date"] = deadline_date(report, locale)
        text = _(
            "✅ Your report %(code)s has been acknowledged by %(unit)s."
            " It should be resolved by %(date)s."
        )
    elif action == "in_progress":
        text = _("🔧 %(unit)s is now handling your report %(code)s.")
    elif action == "transferred":
        values["from"] = escape(from_unit)
        text = _(
            "↪️ Your report %(code)s has been transferred from %(from)s to %(unit)s,"
            " the unit responsible for it."
        )
    elif action == "extended":
        values["date"] = deadline_date(report, locale)
        text = _(
            "⏳ %(unit)s has extended the deadline for your report %(code)s once, to %(date)s."
        )
    elif action == "resolved":
        text = _(
            "🏁 %(unit)s says your report %(code)s is resolved.\n"
            "Resolution: %(note)s\n\n"
            "Is the problem really resolved?"
        )
    elif action == "declined":
        values["reason"] = escape(decline_label(report.decline_reason, _))
        text = _(
            "🚫 %(unit)s will not handle your report %(code)s.\nReason: %(reason)s\nNote: %(note)s"
        )
    elif action == "reopened":
        text = _("🔁 Your report %(code)s has been reopened and sent back to %(unit)s.")
    else:
        return None
    return text % values


def escalation_notice(code: str, unit: str, parent: str | None, _: Gettext) -> str:
    """Return the notice that an overdue report went up to `parent`, or to the admins (None)."""
    values = {"code": code_html(code), "unit": escape(unit)}
    if parent is not None:
        values["parent"] = escape(parent)
        text = _(
            "⚠️ Your report %(code)s was not handled in time by %(unit)s and has been"
            " escalated to %(parent)s."
        )
    else:
        text = _(
            "⚠️ Your report %(code)s was not handled in time by %(unit)s and has been"
            " escalated to the system's administrators."
        )
    return text % values
