"""Telegram's length limits, and the means by which every text built from people's answers stays
within them by construction. Telegram counts a message after entity parsing — tags dropped,
entities decoded — in UTF-16 code units, so an emoji counts two, and refuses the whole message
when it is over 4,096 (a caption over 1,024). A value a person typed is therefore shortened to
its display budget before it is escaped (`cut`, `shown`), at a character boundary and with an
ellipsis, or split into pieces where all of it must be read (`pieces`); lists are packed into
as few messages as fit (`pack`). Each message's budgets sit next to the message, with the sums
that make it fit; the display budgets shared by several messages are defined here."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from html import escape, unescape

from bot.core.conversation import DOSSIER_MAX, PHONE_MAX, PLACE_MAX, SEARCH_MAX, SHORT_TEXT_MAX

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"

# Display budgets, in UTF-16 code units, of values shown in many messages. An answer's budget is
# twice its input limit, which counts characters: every answer the conversation accepted is
# shown whole, even one made only of emoji, and only a value that came in some other way is
# shortened. Unit names set by administrators in chat are at most 120 characters long; longer
# ones from the configuration file or a CSV import, or ones full of emoji, are shortened.
UNIT_NAME = 120
DOSSIER = 2 * DOSSIER_MAX  # 200
OFFICIAL = 2 * SHORT_TEXT_MAX  # 400
PLACE = 2 * PLACE_MAX  # 600
CONTACT_NAME = 2 * SHORT_TEXT_MAX  # 400: Telegram's first and last names are 64 each
PHONE = 2 * PHONE_MAX  # 64
SEARCH = 2 * SEARCH_MAX  # 200: what a citizen typed to find their unit
# Telegram's first_name is at most 64 characters; the handlers keep an officer's full name to 64.
PERSON_NAME = 64

_TAG = re.compile(r"<[^>]*>")
_ZWJ = "\u200d"


def length(text: str) -> int:
    """Return the length of plain text as Telegram counts it: in UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def visible_length(html: str) -> int:
    """Return the length Telegram counts for a text sent as HTML built by this package.

    The tags are dropped and the entities decoded, as Telegram's parser does; every value a
    person typed is escaped here, so a "<" always starts one of the package's own tags.
    """
    return length(unescape(_TAG.sub("", html)))


def _continues(text: str, index: int) -> bool:
    """Tell whether the character at `index` belongs to the character before it on screen.

    A combining mark (Vietnamese tone marks typed as separate code points), a variation
    selector, a skin tone, an emoji tag, the character after a zero-width joiner, and the
    second of a pair of regional indicators (a flag) are drawn with what precedes them; cutting
    before one of them would leave half a letter or half an emoji.
    """
    if index <= 0 or index >= len(text):
        return False
    char, before = text[index], text[index - 1]
    code = ord(char)
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or char == _ZWJ or before == _ZWJ:
        return True
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True
    if before == "\r" and char == "\n":
        return True
    if _regional(char):
        run = 0
        while index - run - 1 >= 0 and _regional(text[index - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _boundary(text: str, budget: int) -> int:
    """Return the largest index whose prefix fits in `budget` units and ends a whole character."""
    used = 0
    end = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            break
        end = index + 1
    while end > 0 and _continues(text, end):
        end -= 1
    return end


def cut(value: str | None, budget: int) -> str:
    """Return plain text shortened to `budget` UTF-16 units, an ellipsis ending a shortened one.

    The cut falls between whole characters as people see them, and the text is plain: escape
    it afterwards, so that an entity such as "&amp;" is never cut in two.
    """
    text = value or ""
    if length(text) <= budget:
        return text
    if budget < 1:
        return ""
    return text[: _boundary(text, budget - 1)].rstrip() + ELLIPSIS


def shown(value: str | None, budget: int) -> str:
    """Return a value a person typed as HTML: shortened to `budget` units, then escaped."""
    return escape(cut(value, budget))


def pieces(value: str, first: int, rest: int | None = None) -> list[str]:
    """Split plain text into pieces that, joined, give it back exactly.

    The first piece holds at most `first` UTF-16 units and may be empty, each later one at most
    `rest` (`first` by default) and is never empty. A piece ends after a line break or a space
    when one falls near its end, otherwise between two whole characters.
    """
    later = first if rest is None else rest
    if later < 1:
        raise ValueError("a piece must hold at least one unit")
    parts: list[str] = []
    text = value
    budget = max(first, 0)
    while not parts or text:
        if length(text) <= budget:
            parts.append(text)
            break
        end = _boundary(text, budget)
        if end == 0 and parts:
            # One character drawn with a longer run of marks than a piece holds: split the run.
            end = max(1, _boundary_raw(text, budget))
        # A break in the piece's last tenth, at most 200 units, keeps words whole.
        window = min(200, end // 10)
        for mark in ("\n", " "):
            found = text.rfind(mark, end - window, end)
            if found >= 0 and not _continues(text, found + 1):
                end = found + 1
                break
        parts.append(text[:end])
        text = text[end:]
        budget = later
    return parts


def _boundary_raw(text: str, budget: int) -> int:
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            return index
    return len(text)


def pack(lines: Sequence[str], limit: int = TEXT_LIMIT) -> list[str]:
    """Join lines of HTML into as few messages as `limit` allows, keeping their order.

    Every line must fit in a message of its own, which the budgets of the lines' values ensure.
    """
    messages: list[str] = []
    chunk: list[str] = []
    used = 0
    for line in lines:
        size = visible_length(line)
        if chunk and used + 1 + size > limit:
            messages.append("\n".join(chunk))
            chunk, used = [], 0
        used += size + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        messages.append("\n".join(chunk))
    return messages
