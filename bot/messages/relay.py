"""Messages passed between a unit and a reporter without either learning the other: the header
and footer around a unit's question and a reporter's answer, and how a relayed text or a copied
file's caption is put together under its header. The relayed words themselves are HTML-escaped
here; nothing in a header names a person."""

from __future__ import annotations

from bot.i18n import Gettext
from bot.messages.limits import CAPTION_LIMIT, TEXT_LIMIT, UNIT_NAME, shown, visible_length
from bot.messages.report import code_html


def question_head(unit: str, code: str, _: Gettext) -> str:
    """Return the header of a unit's question as the reporter receives it (HTML)."""
    return _("❓ Question from %(unit)s about your report %(code)s:") % {
        "unit": shown(unit, UNIT_NAME),
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


# A relayed text, in UTF-16 units: the header (a sentence of at most 60 naming a unit at its
# budget, 120, and the code), the footer (at most 110) and the blank lines between them take
# under 300, which leaves at least 3,796 for the words: a text within QUESTION_MAX (3,500
# characters) is passed on whole unless some 300 of them are emoji, which Telegram counts
# twice; only then are the words cut, with an ellipsis, to what the message can hold. A copied
# file keeps its header and as much of its own caption as the 1,024 of a caption leave.
def relay_text(head: str, text: str | None, foot: str) -> str:
    """Return a relayed text message: the header, the words as written, the footer (HTML)."""
    room = TEXT_LIMIT - visible_length(head) - visible_length(foot) - 4
    return f"<b>{head}</b>\n\n{shown(text, room)}\n\n<i>{foot}</i>"


def relay_caption(head: str, text: str | None, note: str | None = None) -> str:
    """Return the caption of a relayed file: the header, its own caption cut to fit, and the
    bot's `note` on the file (HTML, already escaped) under them."""
    room = CAPTION_LIMIT - visible_length(head) - 1
    if note:
        room -= visible_length(note) + 1
        return f"<b>{head}</b>\n{shown(text, room)}\n{note}"
    return f"<b>{head}</b>\n{shown(text, room)}"
