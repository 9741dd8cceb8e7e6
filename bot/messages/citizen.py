"""What a reporter reads about their own reports and their data: the notice sent at each step a
unit takes, the escalation notice, the answers to /status and /myreports, and the /privacy
notice. None of them names an officer, only units; unit names and officers' notes are
HTML-escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bot.config import PrivacyConfig
from bot.core.domain import Report, local_today
from bot.core.parsing import format_date
from bot.core.workflow import NOTE_MAX
from bot.i18n import Gettext
from bot.messages.labels import decline_label, status_label
from bot.messages.limits import TEXT_LIMIT, UNIT_NAME, shown, visible_length
from bot.messages.report import code_html, deadline_date

# A notice, in UTF-16 units: its sentence (at most 130 in either language), two unit names at
# their budget (240), the reason for declining (30) and the officer's note. The citizen has
# nowhere else to read the note, so it is shown whole: NOTE_MAX characters are 2,000 units even
# if every one is an emoji, and the notice stays under 2,400.
NOTE = 2 * NOTE_MAX


def status_notice(
    action: str,
    report: Report,
    unit: str,
    from_unit: str,
    note: str | None,
    _: Gettext,
    locale: str,
    *,
    history: bool = False,
) -> str | None:
    """Return the notice for one step of the report's handling, None for a step not told.

    `unit` is the unit the step leaves the report with, `from_unit` the one a transfer took it
    from, `note` what the officer wrote (a resolution, a reason for declining). In a `history`
    of past steps the notice asks nothing and names no deadline: the deadline it would name is
    today's, not the one the step set, and the verdict is asked once, below the history.
    """
    values = {
        "code": code_html(report.code),
        "unit": shown(unit, UNIT_NAME),
        "note": shown(note, NOTE),
    }
    if action == "acknowledged" and history:
        text = _("✅ Your report %(code)s has been acknowledged by %(unit)s.")
    elif action == "acknowledged":
        values["date"] = deadline_date(report, locale)
        text = _(
            "✅ Your report %(code)s has been acknowledged by %(unit)s."
            " It should be resolved by %(date)s."
        )
    elif action == "in_progress":
        text = _("🔧 %(unit)s is now handling your report %(code)s.")
    elif action == "transferred":
        values["from"] = shown(from_unit, UNIT_NAME)
        text = _(
            "↪️ Your report %(code)s has been transferred from %(from)s to %(unit)s,"
            " the unit responsible for it."
        )
    elif action == "extended" and history:
        text = _("⏳ %(unit)s has extended the deadline for your report %(code)s once.")
    elif action == "extended":
        values["date"] = deadline_date(report, locale)
        text = _(
            "⏳ %(unit)s has extended the deadline for your report %(code)s once, to %(date)s."
        )
    elif action == "resolved":
        text = _("🏁 %(unit)s says your report %(code)s is resolved.\nResolution: %(note)s")
        if not history:
            text += "\n\n" + verdict_question(_)
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
    values = {"code": code_html(code), "unit": shown(unit, UNIT_NAME)}
    if parent is not None:
        values["parent"] = shown(parent, UNIT_NAME)
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


def report_status(report: Report, unit_name: str, _: Gettext, locale: str) -> str:
    """Return the answer to /status CODE for one of the reporter's reports (HTML)."""
    return _("Report %(code)s\nStatus: %(status)s\nUnit: %(unit)s\nSent on: %(date)s") % {
        "code": code_html(report.code),
        "status": escape(status_label(report.status, _)),
        "unit": shown(unit_name, UNIT_NAME),
        "date": format_date(local_today(report.created_at), locale),
    }


def reports_list(reports: Sequence[Report], _: Gettext, locale: str) -> str:
    """Return the answer to /myreports: one line per report, in the order given (HTML).

    A line takes at most 80 units, so the 20 reports asked for take 1,600; were there ever more
    than fit, the list says how many it leaves out.
    """
    title = _("Your reports:")
    lines = [f"<b>{title}</b>"]
    foot = ["", _("Send /status CODE for details.")]
    more = _("… and %(count)d more") % {"count": len(reports)}
    room = TEXT_LIMIT - visible_length("\n".join([*lines, more, *foot]))
    for index, item in enumerate(reports):
        line = (
            f"{code_html(item.code)} · "
            f"{format_date(local_today(item.created_at), locale)} · "
            f"{escape(status_label(item.status, _))}"
        )
        room -= visible_length(line) + 1
        if room < 0:
            lines.append(_("… and %(count)d more") % {"count": len(reports) - index})
            break
        lines.append(line)
    return "\n".join([*lines, *foot])


def privacy_notice(policy: PrivacyConfig, _: Gettext) -> str:
    """Return /privacy: what is stored and why, who sees it, for how long, and the rights (HTML).

    The periods come from the configuration, so the notice always says what the bot does.
    """
    if policy.reporter_link_days:
        link = _(
            "For an anonymous report, the link between you and the report is deleted"
            " %(days)d days after the report is closed."
        ) % {"days": policy.reporter_link_days}
    else:
        link = _(
            "For an anonymous report, the link between you and the report is deleted within"
            " an hour after the report is closed."
        )
    paragraphs = [
        _(
            "<b>What we store, and why</b>\n"
            "• Your Telegram account number, your language and when you gave your consent:"
            " to talk with you.\n"
            "• Your reports — your answers, your files and, only for a report with your name,"
            " your name and phone number: to forward them to the responsible unit and tell you"
            " how they are handled.\n"
            "• Which reports you sent, kept apart from the reports themselves: to send you"
            " updates and let you check them."
        ),
        _(
            "<b>Who sees it</b>\n"
            "The unit sees the report but never your Telegram account, name or phone number."
            " Only the administrators can link a report to you."
        ),
        "\n".join(
            [
                _("<b>How long</b>"),
                _(
                    "A report you cancel is deleted at once; one left unfinished is deleted"
                    " after %(days)d days without an answer."
                )
                % {"days": policy.draft_days},
                link,
                _(
                    "For a report with your name, the link and your contact details are kept"
                    " until you erase them. The reports themselves are kept as the record of"
                    " how the units handled them."
                ),
                _(
                    "Each report you send is also counted for 24 hours under a code made from"
                    " your Telegram account number with a secret key, so that the limit on new"
                    " reports per day still holds after /forget. The code does not reveal who"
                    " you are, and it is deleted after 24 hours."
                ),
            ]
        ),
        _(
            "<b>Your rights</b>\n"
            "/mydata – a file with everything stored about you\n"
            "/forget – erase your personal data; your reports stay, without anything linking"
            " them to you"
        ),
    ]
    return "\n\n".join(paragraphs)


def verdict_question(_: Gettext) -> str:
    """Ask the reporter whether a report said to be resolved really is."""
    return _("Is the problem really resolved?")
