"""The words of the web pages for a citizen's rights over their data, and of a web ban.

The web has two kinds of reporter to serve: this browser (its session, while the browser keeps
the cookie) and whoever holds a report's code and secret key. Each gets its copy and its
erasure; the chat's /mydata and /forget are the model.
"""

from __future__ import annotations

from bot.i18n import Gettext

EXPORT_FILENAME = "liemchinh-mydata.json"
REPORT_FILENAME = "liemchinh-report-%(code)s.json"


def banned(_: Gettext) -> str:
    """Refuse a banned person, in the chat's words."""
    return _(
        "Sorry, you can no longer use this service. If you think this is a mistake,"
        " please contact the administrators."
    )


def data_link(_: Gettext) -> str:
    """Label the link, on every page, to the citizen's data."""
    return _("Your data")


def mydata_title(_: Gettext) -> str:
    """Title the page that gives a citizen a copy of their data."""
    return _("Your data")


def mydata_intro(_: Gettext) -> str:
    """Explain what the copies hold and how each is reached."""
    return _(
        "You can download, as a JSON file, everything stored about you. This browser: your"
        " language, your consent, a report you have not sent yet and the reports sent from"
        " this browser since it was last closed. A report: give its tracking code and secret"
        " key to download it with its history, the messages exchanged with the unit and the"
        " fingerprints of its files. Never an officer's name, never your address."
    )


def session_copy(_: Gettext) -> str:
    """Label the button that downloads this browser's data."""
    return _("Download the data of this browser")


def report_copy(_: Gettext) -> str:
    """Label the button that downloads one report's data."""
    return _("Download this report's data")


def export_about(_: Gettext) -> str:
    """Head the downloaded file."""
    return _(
        "Everything Liêm Chính stores about you, as of the moment below. Times are Vietnam"
        " time. The page Erase my data erases it."
    )


def forget_link(_: Gettext) -> str:
    """Label the link to the erasure page."""
    return _("Erase my data")


def forget_title(_: Gettext) -> str:
    """Title the erasure page."""
    return _("Erase my data")


def forget_intro(_: Gettext) -> str:
    """Say exactly what erasure removes and keeps, as the chat's /forget does."""
    return _(
        "Erased: your language and your consent, a report you have not sent yet, the link"
        " between you and each report (for a report: its secret key, so that the code and key"
        " open nothing any more), and the name and phone number given in reports sent with"
        " your name. Kept: the reports themselves (what you wrote, your files and the messages"
        " exchanged with the unit) without anything linking them to you, so that the units"
        " can still handle them. A ban, if there is one, is kept too. Afterwards you can no"
        " longer follow, answer or confirm these reports. This cannot be undone: download"
        " your data first if you want a copy."
    )


def forget_session(_: Gettext) -> str:
    """Label the button that erases this browser's data."""
    return _("Yes, erase the data of this browser")


def forget_report(_: Gettext) -> str:
    """Label the button that erases the link to one report."""
    return _("Yes, erase my link to this report")


def keep_it(_: Gettext) -> str:
    """Label the way out of the erasure page."""
    return _("No, keep it")


def session_erased(count: int, _: Gettext) -> str:
    """Confirm the erasure of this browser's data."""
    return _(
        "The data of this browser has been erased; %(count)d reports are no longer linked to"
        " you. They stay with the units."
    ) % {"count": count}


def report_erased(_: Gettext) -> str:
    """Confirm the erasure of the link to one report."""
    return _(
        "Your link to this report has been erased. It stays with the unit, without anything"
        " linking it to you; its code and secret key open nothing any more."
    )


def nothing_stored(_: Gettext) -> str:
    """Say that this browser has nothing stored."""
    return _("Nothing is stored about this browser.")
