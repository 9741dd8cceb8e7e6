"""The words of the web pages that the chat does not have: navigation, labels, refusals.

The questions, choices, refusals, review, notices and labels are the chat's own
(`bot.messages.questions`, `citizen`, `labels`); only what a page needs beyond them is here.
Values a person typed are escaped by the pages that show them.
"""

from __future__ import annotations

from bot.i18n import Gettext

# What this is, one paragraph per language (both shown on the first page, whatever the locale).
INTRO_VI = (
    "Liêm Chính giúp người dân phản ánh cán bộ gây khó khăn, phiền hà, chậm trễ, né tránh,"
    " đùn đẩy hoặc trục lợi khi giải quyết công việc. Phản ánh được chuyển ngay tới đơn vị chịu"
    " trách nhiệm, không kèm danh tính của bạn; bạn theo dõi bằng mã theo dõi và khóa bí mật,"
    " không cần ứng dụng hay tài khoản."
)
INTRO_EN = (
    "Liêm Chính lets citizens report officials who cause trouble, delay, shirk or pass on work,"
    " or profit from handling citizens' affairs. Your report goes at once to the responsible"
    " unit, without your identity; you follow it with its tracking code and secret key, with no"
    " app and no account."
)


def nav(_: Gettext) -> dict[str, str]:
    """Return the labels of the three pages, by path."""
    return {
        "/report": _("Report"),
        "/status": _("Follow a report"),
        "/board": _("Timeliness board"),
    }


def language_link(locale: str) -> str:
    """Return the label of the link to the other language, in that language."""
    return "English" if locale == "vi" else "Tiếng Việt"


def labels(_: Gettext) -> dict[str, str]:
    """Return the words of buttons and fields, by name."""
    return {
        "next": _("Next"),
        "search": _("Search"),
        "upload": _("Upload"),
        "open": _("Open the report"),
        "send_answer": _("Send answer"),
        "answer": _("Your answer"),
        "search_label": _("Part of the unit's name (accents not needed)"),
        "browse": _("Or choose from the list:"),
        "files": _("Files: photos (JPEG, PNG), PDF documents or MP4 videos, up to 20 MB each"),
        "name": _("Your full name"),
        "phone": _("Phone number (10 digits starting with 0, or +84)"),
        "code": _("Tracking code"),
        "key": _("Secret key"),
        "status": _("Status"),
        "deadline": _("Deadline"),
        "history": _("History"),
        "questions": _("Questions from the unit"),
        "your_answers": _("Your answers"),
        "resolved_q": _("Is the problem really resolved?"),
        "yes": _("Yes, it is resolved"),
        "no": _("No, it is not resolved"),
        "rate": _("Rate the unit's handling, from 1 (bad) to 5 (very good)"),
        "honeypot": _("Leave this field empty"),
        "start": _("Start a report"),
        "home": _("Home"),
    }


def report_sent(_: Gettext) -> str:
    """Explain the code and key shown once after a report is sent."""
    return _(
        "Your report has been sent and the unit is being alerted now. Write down both the"
        " tracking code and the secret key below, or take a photo of them: the key is shown"
        " only this once and cannot be recovered. You need both to follow the report, answer"
        " the unit's questions and confirm the result on the Follow a report page."
    )


def already_sent(_: Gettext) -> str:
    """Say that a form was sent again after its report was stored."""
    return _(
        "This report was already sent. Its code and secret key were shown when it was sent;"
        " use them on the Follow a report page."
    )


def expired_form(_: Gettext) -> str:
    """Refuse a form whose token does not belong to the session."""
    return _(
        "This form has expired or did not come from this site. Please open the page again"
        " and repeat your last step."
    )


def too_many(_: Gettext) -> str:
    """Refuse a request from an address that sent too many."""
    return _("Too many requests from your connection. Please wait a while and try again.")


def not_found(_: Gettext) -> str:
    """Answer a wrong code, a wrong key or a missing report alike."""
    return _("No report matches this tracking code and secret key.")


def locked(_: Gettext) -> str:
    """Refuse look-ups after too many failures."""
    return _("Too many failed attempts. Please wait 15 minutes and try again.")


def file_refused(reason: str, _: Gettext) -> str:
    """Say why an uploaded file was not taken."""
    if reason == "size":
        return _("This file is over 20 MB. Please send a smaller file or a shorter video.")
    return _("Only photos (JPEG, PNG), PDF documents and MP4 videos are accepted.")


def too_many_files(limit: int, _: Gettext) -> str:
    """Refuse an answer carrying more files than one answer may."""
    return _("Please attach at most %(max)d files to one answer.") % {"max": limit}


def bad_contact(_: Gettext) -> str:
    """Ask again for a name and a Vietnamese phone number."""
    return _(
        "Please give your name and a Vietnamese phone number: 10 digits starting with 0,"
        " or the +84 form."
    )


def consent_refused(_: Gettext) -> str:
    """Say that nothing is stored without consent."""
    return _("Without your agreement nothing is stored and no report can be sent.")


def answer_sent(_: Gettext) -> str:
    """Confirm an answer passed to the unit."""
    return _("Your answer has been passed on to the unit, without your identity.")


def answer_empty(_: Gettext) -> str:
    """Ask for a text or a file."""
    return _("Please write an answer or attach a file.")


def verdict_saved(_: Gettext) -> str:
    """Confirm the citizen's verdict or rating."""
    return _("Thank you, your answer has been recorded.")


def verdict_late(_: Gettext) -> str:
    """Say that the time to reopen has passed."""
    return _("It is too late to reopen this report.")


def asked(unit: str, _: Gettext) -> str:
    """Head a unit's question (the unit's name already escaped)."""
    return _("%(unit)s asked:") % {"unit": unit}


def answered(_: Gettext) -> str:
    """Head one of the citizen's answers."""
    return _("You answered:")


def board_title(_: Gettext) -> str:
    """Title the public board."""
    return _("How units handle reports")


def board_intro(minimum: int, _: Gettext) -> str:
    """Explain what the board shows and leaves out."""
    return _(
        "Figures per unit for reports received in the period. A unit is listed once it has"
        " at least %(min)d reports in the period. Times are in days."
    ) % {"min": minimum}


def board_period(days: int, _: Gettext) -> str:
    """Label one of the board's periods."""
    return _("Last %(days)d days") % {"days": days}


def board_columns(_: Gettext) -> list[str]:
    """Return the board's column headers."""
    return [
        _("Unit"),
        _("Reports received"),
        _("Acknowledged on time"),
        _("Resolved on time"),
        _("Overdue now"),
        _("Median days to acknowledge"),
        _("Median days to resolve"),
    ]


def board_empty(_: Gettext) -> str:
    """Say that no unit has enough reports yet."""
    return _("No unit has enough reports in this period yet.")


def board_csv(_: Gettext) -> str:
    """Label the CSV download."""
    return _("Download as CSV")


def board_chart(_: Gettext) -> str:
    """Describe the chart for those who cannot see it."""
    return _("Chart: reports received and resolved on time, per unit")


def rated(stars: int, _: Gettext) -> str:
    """Show the citizen's rating."""
    return _("Your rating: %(stars)d/5") % {"stars": stars}
