"""Plain text for Zalo: the project's HTML texts without their tags, in messages of at most
2,000 characters, and numbered lines in place of buttons.

Zalo shows text as written (it documents no HTML), and refuses a message over 2,000 characters.
Length is counted in UTF-16 code units, which is never less than the characters Zalo counts,
so a message that fits here fits there whatever it contains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import unescape

# sendMessage takes 1 to 2,000 characters (docs/channels.md).
MESSAGE_LIMIT = 2000
# Choices shown at once; a longer list pages with "0 = more".
PAGE_SIZE = 9
_TAG = re.compile(r"<[^>]*>")


def length(text: str) -> int:
    """Return the length of `text` in UTF-16 code units (an upper bound of Zalo's count)."""
    return len(text.encode("utf-16-le")) // 2


def plain(html: str) -> str:
    """Return an HTML text of the project as plain text: tags removed, entities read."""
    return unescape(_TAG.sub("", html)).strip()


def _cut(text: str, limit: int) -> list[str]:
    """Split a text that has no line break where it could be cut, at the limit."""
    out: list[str] = []
    piece = ""
    for char in text:
        if length(piece + char) > limit:
            out.append(piece)
            piece = ""
        piece += char
    if piece:
        out.append(piece)
    return out


def pack(blocks: Sequence[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join blocks (paragraphs, numbered lines) into as few messages as fit `limit`.

    Blocks stay whole where they fit; a longer one is split at line breaks, and a single line
    longer than a message at the limit itself. No message is empty or over `limit`.
    """
    lines: list[str] = []
    for index, block in enumerate(blocks):
        if index:
            # A blank line between paragraphs, as on Telegram.
            lines.append("")
        for line in block.split("\n"):
            lines.extend(_cut(line, limit) if length(line) > limit else [line])
    messages: list[str] = []
    current: list[str] = []
    for line in lines:
        candidate = "\n".join([*current, line])
        if current and length(candidate) > limit:
            messages.append("\n".join(current))
            current = [line]
        else:
            current.append(line)
    if current:
        messages.append("\n".join(current))
    return [m.strip("\n") for m in messages if m.strip()]


def numbered(labels: Sequence[str], first: int = 1) -> str:
    """Return labels as numbered lines, from `first`."""
    return "\n".join(f"{first + i}. {label}" for i, label in enumerate(labels))


def fold(text: str) -> str:
    """Return text for comparing a typed answer with a label: no emoji, case or extra space."""
    kept = "".join(c for c in text if c.isalnum() or c.isspace())
    return " ".join(kept.casefold().split())
