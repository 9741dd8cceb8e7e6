"""Messages passed between a unit and a reporter without either learning the other: the header
and footer around a unit's question and a reporter's answer, and how a relayed text or a copied
file's caption is put together under its header. The relayed words themselves are HTML-escaped
here; nothing in a header names a person."""

from __future__ import annotations

from html import escape

from bot.i18n import Gettext
from bot.messages.report import code_html

# A copied file's caption holds at most 1024 characters, the header included.
CAPTION_LIMIT = 1024


def question_head(unit: str, code: str, _: Gettext) -> str:
    """Return the header of a unit's question as the reporter receives it (HTML)."""
    return _("❓ Question from %(unit)s about your report %(code)s:") % {
        "unit": escape(unit),
        "code": code_html(code),
    }


def question_foot(_: Gettext) -> str:
    """Return the line under a relayed question telling the reporter how to answer."""
    return _(
        "Reply to this message to answer; you may add photos or files."
        " The unit will not learn who you are."
    )


def answer_head(code: str, _: Gettext) -> str:
    """Return the header of a reporter's answer as the unit receives it (HTML)."""
    return _("💬 Answer from the reporter of %(code)s:") % {"code": code_html(code)}


def answer_foot(_: Gettext) -> str:
    """Return the line under a relayed answer telling the unit how to ask again."""
    return _("Reply to this message to ask a follow-up question.")


def relay_text(head: str, text: str | None, foot: str) -> str:
    """Return a relayed text message: the header, the words as written, the footer (HTML)."""
    return f"<b>{head}</b>\n\n{escape(text or '')}\n\n<i>{foot}</i>"


def relay_caption(head: str, text: str | None) -> str:
    """Return the caption of a relayed file: the header, then its own caption cut to fit."""
    room = CAPTION_LIMIT - len(head) - 2
    original = text or ""
    if len(original) > room:
        original = original[: room - 1] + "…"
    return f"<b>{head}</b>\n{escape(original)}"
