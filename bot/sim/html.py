"""Telegram's HTML dialect, parsed the way tdlib parses it: parse_html turns the text a bot
sends with parse_mode=HTML into the visible text and its entities, or raises HtmlParseError with
the words Telegram answers after "can't parse entities: ", so that escaping bugs in the project's
texts fail in tests exactly as they would on Telegram.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from bot.sim.protocol import JSONDict, utf16_len


class HtmlParseError(ValueError):
    """HTML that Telegram refuses; the text follows "can't parse entities: " in the answer."""


_HTML_TAGS = frozenset(
    """
    a b strong i em u ins s strike del span tg-spoiler code pre blockquote tg-emoji
    """.split()
)
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_SIMPLE_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}
_HTML_SPECIAL = re.compile(r"[<&]")


def parse_html(html: str, *, strict: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Bot API HTML into the visible text and its entities, or raise HtmlParseError."""
    return _HtmlParser(html, strict).parse()


@dataclass
class _OpenTag:
    """A start tag waiting for its end tag."""

    name: str
    argument: str
    offset: int
    piece: int


class _HtmlParser:
    """Telegram's HTML parser, following tdlib's so that errors read the same."""

    def __init__(self, html: str, strict: bool) -> None:
        self.html = html
        # tdlib keeps unknown "&name;" literally; strict mode refuses it to catch escaping bugs.
        self.strict = strict
        self.pos = 0
        self.pieces: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        """Run over the whole input."""
        html, end = self.html, len(self.html)
        while self.pos < end:
            match = _HTML_SPECIAL.search(html, self.pos)
            stop = match.start() if match else end
            if stop > self.pos:
                self.emit(html[self.pos : stop])
                self.pos = stop
            elif html[stop] == "&":
                decoded = self.decode_entity(stop)
                if decoded is None:
                    self.emit("&")
                    self.pos += 1
                else:
                    char, self.pos = decoded
                    self.emit(char)
            elif stop + 1 < end and html[stop + 1] == "/":
                self.end_tag(stop)
            else:
                self.start_tag(stop)
        if self.stack:
            name = self.stack[-1].name
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        for entity in self.entities:
            entity.pop("_language", None)
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.pieces), self.entities

    def emit(self, text: str) -> None:
        """Append visible text."""
        self.pieces.append(text)
        self.utf16 += utf16_len(text)

    def at(self, index: int) -> str:
        """The character at index, or "" past the end (tdlib reads a NUL there)."""
        return self.html[index] if index < len(self.html) else ""

    def byte_offset(self, index: int) -> int:
        """Telegram reports positions as UTF-8 byte offsets."""
        return len(self.html[:index].encode("utf-8", "surrogatepass"))

    def skip_spaces(self, index: int) -> int:
        """First index at or after index that is not whitespace."""
        while self.at(index).isspace():
            index += 1
        return index

    def decode_entity(self, pos: int) -> tuple[str, int] | None:
        """Decode the character reference at pos; None means the "&" stays literal."""
        end = pos + 1
        if self.at(end) == "#":
            end += 1
            hexadecimal = self.at(end) == "x"
            if hexadecimal:
                end += 1
            digits = string.hexdigits if hexadecimal else string.digits
            start = end
            while self.at(end) and self.at(end) in digits:
                end += 1
            if end == start or end - pos >= 10:
                return None
            value = int(self.html[start:end], 16 if hexadecimal else 10)
            if value == 0 or value >= 0x10FFFF:
                return None
            if 0xD800 <= value <= 0xDFFF:
                raise HtmlParseError(
                    "Text contains invalid Unicode characters after decoding HTML entities, "
                    "check for unmatched surrogate code units"
                )
            char = chr(value)
        else:
            while self.at(end).isascii() and self.at(end).isalpha():
                end += 1
            name = self.html[pos + 1 : end]
            if name not in _HTML_NAMED_ENTITIES:
                if self.strict and name and self.at(end) == ";":
                    offset = self.byte_offset(pos)
                    message = f'Unsupported HTML entity "&{name};" at byte offset {offset}'
                    raise HtmlParseError(message)
                return None
            char = _HTML_NAMED_ENTITIES[name]
        if self.at(end) == ";":
            end += 1
        return char, end

    def start_tag(self, begin: int) -> None:
        """Read "<name attr=value ...>" starting at begin."""
        offset = self.byte_offset(begin)
        index = begin + 1
        while self.at(index) and not self.at(index).isspace() and self.at(index) != ">":
            index += 1
        if not self.at(index):
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
        name = self.html[begin + 1 : index].lower()
        if name not in _HTML_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attributes: dict[str, str] = {}
        while True:
            index = self.skip_spaces(index)
            if not self.at(index):
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {offset}')
            if self.at(index) == ">":
                break
            attribute_begin = index
            while self.at(index) and not self.at(index).isspace() and self.at(index) not in "=>":
                index += 1
            attribute = self.html[attribute_begin:index].lower()
            if not attribute:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {offset}'
                )
            index = self.skip_spaces(index)
            if self.at(index) != "=":
                if name == "blockquote" and attribute == "expandable":
                    attributes[attribute] = ""
                    continue
                raise HtmlParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {offset}'
                )
            index = self.skip_spaces(index + 1)
            if not self.at(index):
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {offset}')
            attributes[attribute], index = self.attribute_value(index, offset)
        self.pos = index + 1
        self.open(name, attributes, offset)

    def attribute_value(self, index: int, tag_offset: int) -> tuple[str, int]:
        """Read a quoted string or a bare name token; return it and the index after it."""
        quote = self.at(index)
        if quote in ("'", '"'):
            index += 1
            chars: list[str] = []
            while self.at(index) and self.at(index) != quote:
                decoded = self.decode_entity(index) if self.at(index) == "&" else None
                if decoded is not None:
                    chars.append(decoded[0])
                    index = decoded[1]
                else:
                    chars.append(self.at(index))
                    index += 1
            if not self.at(index):
                raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
            return "".join(chars), index + 1
        token_begin = index
        while self.at(index) and (
            (self.at(index).isascii() and self.at(index).isalnum()) or self.at(index) in ".-"
        ):
            index += 1
        if self.at(index) and not self.at(index).isspace() and self.at(index) != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {self.byte_offset(token_begin)}"
            )
        return self.html[token_begin:index].lower(), index

    def open(self, name: str, attributes: dict[str, str], offset: int) -> None:
        """Remember a start tag and the argument its entity will need."""
        argument = ""
        if name == "a":
            argument = attributes.get("href", "")
        elif name == "code":
            css_class = attributes.get("class", "")
            if css_class.startswith("language-"):
                argument = css_class.removeprefix("language-")
        elif name == "span" and attributes.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        elif name == "tg-emoji":
            argument = attributes.get("emoji-id", "")
        elif name == "blockquote" and "expandable" in attributes:
            argument = "expandable"
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.pieces)))

    def end_tag(self, begin: int) -> None:
        """Read "</name>" starting at begin and close the matching entity."""
        offset = self.byte_offset(begin)
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        index = begin + 2
        while self.at(index) and not self.at(index).isspace() and self.at(index) != ">":
            index += 1
        end_name = self.html[begin + 2 : index].lower()
        index = self.skip_spaces(index)
        if self.at(index) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
        top = self.stack.pop()
        if end_name and end_name != top.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{top.name}>", '
                f'found "</{end_name}>"'
            )
        self.pos = index + 1
        self.close(top)

    def close(self, tag: _OpenTag) -> None:
        """Turn a closed tag into its entity; empty ranges make none, as on Telegram."""
        length = self.utf16 - tag.offset
        if length <= 0:
            return
        span = {"offset": tag.offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (tag.offset, length)
        entity: JSONDict
        if tag.name in _HTML_SIMPLE_ENTITIES:
            entity = {"type": _HTML_SIMPLE_ENTITIES[tag.name], **span}
        elif tag.name == "a":
            url = tag.argument or "".join(self.pieces[tag.piece :])
            if not url:
                return
            entity = {"type": "text_link", **span, "url": url}
        elif tag.name == "code":
            # <code class="language-x"> directly inside <pre> gives the pre block its language.
            if last is not None and same_span and last["type"] == "pre" and tag.argument:
                last["language"] = tag.argument
                return
            entity = {"type": "code", **span}
            if tag.argument:
                entity["_language"] = tag.argument
        elif tag.name == "pre":
            if last is not None and same_span and last["type"] == "code" and "_language" in last:
                last["type"] = "pre"
                last["language"] = last.pop("_language")
                return
            entity = {"type": "pre", **span}
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.argument else "blockquote"
            entity = {"type": kind, **span}
        else:
            entity = {"type": "custom_emoji", **span, "custom_emoji_id": tag.argument}
        self.entities.append(entity)
