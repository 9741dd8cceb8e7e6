"""A simulated Telegram Bot API server for end-to-end tests, the offline demo and benchmarks."""

# The server speaks the Bot API wire format on 127.0.0.1 so that an unmodified
# python-telegram-bot Application can poll it, while the test (or the demo) plays the people
# on the other side through SimUser/SimChat. Everything runs in the caller's event loop.

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import math
import mimetypes
import re
import signal
import socket
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

__all__ = [
    "BOT_ID",
    "DEFAULT_TOKEN",
    "BotApiSimulator",
    "FloodViolation",
    "HtmlParseError",
    "SimChat",
    "SimUser",
    "parse_html",
]

JSONDict = dict[str, Any]
Button = tuple[str, str | None]
MessageListener = Callable[[int, JSONDict, str], object]
Predicate = Callable[[JSONDict], bool]
_T = TypeVar("_T")

HOST = "127.0.0.1"
BOT_ID = 7000000001
DEFAULT_TOKEN = f"{BOT_ID}:SIMULATED-liemchinh-token"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_BYTES = 20_000_000
MAX_UPLOAD_BYTES = 50_000_000

# Telegram's own service account; it stands in when nobody is known to have acted.
TELEGRAM_USER: JSONDict = {"id": 777000, "is_bot": False, "first_name": "Telegram"}

_log = logging.getLogger(__name__)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
DEFAULT_UPDATE_TYPES = frozenset(
    """
    message edited_message channel_post edited_channel_post callback_query inline_query
    chosen_inline_result shipping_query pre_checkout_query poll poll_answer my_chat_member
    chat_join_request chat_boost removed_chat_boost business_connection business_message
    edited_business_message deleted_business_messages purchased_paid_media
    """.split()
)
_CHAT_TYPES = frozenset({"group", "supergroup", "channel"})
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})
_CHAT_ACTIONS = frozenset(
    """
    typing upload_photo record_video upload_video record_voice upload_voice upload_document
    choose_sticker find_location record_video_note upload_video_note
    """.split()
)
# Keys a stored bot message carries for readers of the simulation, never sent on the wire.
_EXTRA_KEYS = frozenset({"html", "buttons", "reply_keyboard", "method", "copied_from", "deleted"})
_MEDIA_KEYS = frozenset(
    """
    photo document voice video audio animation video_note sticker location contact poll
    venue dice
    """.split()
)
_CONTENT_KEYS = (*sorted(_MEDIA_KEYS), "text", "entities", "caption", "caption_entities")
_OTHER_BUTTON_KINDS = frozenset(
    """
    web_app login_url switch_inline_query switch_inline_query_current_chat
    switch_inline_query_chosen_chat copy_text callback_game pay
    """.split()
)
# Form fields Telegram reads as plain strings even when they look like numbers or JSON.
_STRING_FIELDS = frozenset(
    """
    text caption parse_mode callback_query_id inline_message_id question first_name
    last_name phone_number vcard title address url description short_description name emoji
    action secret_token ip_address language_code file_id photo document voice video audio
    animation video_note sticker thumbnail custom_title performer file_name
    business_connection_id message_effect_id
    """.split()
)
_FILE_FOLDERS = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "video": ("videos", ".mp4"),
    "audio": ("music", ".mp3"),
    "animation": ("animations", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
}
_SYNTHETIC_SIZES = {
    "photo": 120_000,
    "document": 200_000,
    "voice": 24_000,
    "video": 2_000_000,
    "audio": 3_000_000,
    "animation": 500_000,
    "video_note": 400_000,
    "sticker": 20_000,
}
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# What Telegram reports for an upload whose type the client did not name.
_DEFAULT_MIME_TYPES = {
    "voice": "audio/ogg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
}
_SYNTHETIC_CHUNK = bytes(range(256)) * 256


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _now() -> int:
    """Current Unix time as Telegram dates it."""
    return int(time.time())


# ---------------------------------------------------------------------------------------------
# Errors


class _ApiError(Exception):
    """An error answer of the Bot API, raised anywhere while a call is handled."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def answer(self) -> tuple[int, JSONDict]:
        """The HTTP status and JSON body Telegram sends for this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return self.status, body


def _bad(description: str) -> _ApiError:
    """A 400 answer worded the way Telegram words them."""
    return _ApiError(400, f"Bad Request: {description}")


def _migrated(new_chat_id: int) -> _ApiError:
    """The answer for a group that became a supergroup."""
    return _ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


# ---------------------------------------------------------------------------------------------
# Telegram's HTML dialect


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
        self.utf16 += _utf16_len(text)

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


def _command_entities(text: str) -> list[JSONDict]:
    """The bot_command entity Telegram adds to a message starting with a command."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    if len(command) < 2:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


def _format(
    raw: str, parse_mode: str | None, entities: Any, *, strict: bool
) -> tuple[str, list[JSONDict]]:
    """Apply parse_mode the way Telegram does and return visible text and entities."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            return parse_html(raw, strict=strict)
        except HtmlParseError as error:
            raise _bad(f"can't parse entities: {error}") from None
    if mode not in ("", "markdown", "markdownv2"):
        raise _bad("unsupported parse_mode")
    # Markdown is not interpreted: the project writes HTML, so such text is kept as sent.
    if entities is None:
        return raw, []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise _bad("can't parse entities JSON object")
    return raw, entities


# ---------------------------------------------------------------------------------------------
# Keyboards and messages


@dataclass
class _Markup:
    """What a reply_markup parameter means for the message and the chat."""

    inline: JSONDict | None = None
    buttons: list[Button] = field(default_factory=list)
    keyboard: list[str] | None = None
    one_time: bool = False
    remove_keyboard: bool = False


def _inline_button(button: Any) -> Button:
    """Check one inline button like Telegram and give its (text, callback_data or url)."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    text = button["text"]
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise _bad("BUTTON_DATA_INVALID")
        return text, data
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.strip() or " " in url.strip():
            raise _bad("BUTTON_URL_INVALID")
        return text, url
    if _OTHER_BUTTON_KINDS.isdisjoint(button):
        raise _bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    return text, None


def _keyboard_text(button: Any) -> str:
    """A reply-keyboard button as the list of texts shows it, request buttons marked."""
    if isinstance(button, str):
        return button
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
    text: str = button["text"]
    for request in ("request_contact", "request_location"):
        if button.get(request):
            return f"{text} [{request}]"
    return text


def _read_markup(markup: Any) -> _Markup:
    """Check a reply_markup like Telegram and split it into what the simulation keeps."""
    if markup is None:
        return _Markup()
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse inline keyboard markup JSON object")
        buttons = [_inline_button(button) for row in rows for button in row]
        return _Markup(inline={"inline_keyboard": rows}, buttons=buttons)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse keyboard markup JSON object")
        texts = [_keyboard_text(button) for row in rows for button in row]
        return _Markup(keyboard=texts, one_time=bool(markup.get("one_time_keyboard")))
    if markup.get("remove_keyboard"):
        return _Markup(remove_keyboard=True)
    if "force_reply" in markup:
        return _Markup()
    raise _bad("can't parse reply keyboard markup JSON object")


def _is_media(message: JSONDict) -> bool:
    """Whether the message carries something other than plain text."""
    return not _MEDIA_KEYS.isdisjoint(message)


def _wire(message: JSONDict) -> JSONDict:
    """A stored message as the Bot API sends it, without the simulation's own keys."""
    media = _is_media(message)
    return {
        key: value
        for key, value in message.items()
        if key not in _EXTRA_KEYS and not (media and key == "text")
    }


def _snapshot(message: JSONDict) -> JSONDict:
    """A message as embedded in another (reply_to_message), which Telegram does not nest."""
    wire = _wire(message)
    wire.pop("reply_to_message", None)
    return wire


def _member(user: JSONDict, status: str, chat_type: str) -> JSONDict:
    """A ChatMember object with the fields python-telegram-bot requires for its status."""
    # A basic group has no ban list: someone removed from it is reported as having left.
    if status == "kicked" and chat_type == "group":
        status = "left"
    member: JSONDict = {"status": status, "user": dict(user)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
        )
        if chat_type == "channel":
            member.update(can_post_messages=True, can_edit_messages=True)
        else:
            member["can_pin_messages"] = True
    elif status == "kicked":
        member["until_date"] = 0
    return member


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class _Upload:
    """A file uploaded in a multipart request."""

    filename: str
    body: bytes
    content_type: str


class _Params:
    """The parameters of one call, read the way the Bot API reads form fields."""

    def __init__(self, values: dict[str, Any], files: dict[str, _Upload]) -> None:
        self.values = values
        self.files = files
        self.abandoned: Callable[[], bool] = lambda: False

    @classmethod
    def from_request(cls, request: tornado.httputil.HTTPServerRequest) -> _Params:
        """Collect query, form or JSON fields and uploaded files."""
        values: dict[str, Any] = {
            key: raw[-1].decode("utf-8", "replace") for key, raw in request.query_arguments.items()
        }
        if request.headers.get("Content-Type", "").startswith("application/json"):
            # PTB never sends JSON, but Telegram accepts it and so do other clients.
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise _bad("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            values.update(body)
        else:
            values.update(
                {
                    key: raw[-1].decode("utf-8", "replace")
                    for key, raw in request.body_arguments.items()
                }
            )
        files = {
            key: _Upload(parts[0].filename, parts[0].body, parts[0].content_type)
            for key, parts in request.files.items()
            if parts
        }
        return cls(values, files)

    def has(self, name: str) -> bool:
        """Whether the field was sent at all."""
        return name in self.values

    def text(self, name: str) -> str | None:
        """A string field."""
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def integer(self, name: str) -> int | None:
        """An integer field; the form sends it as a decimal string."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value))
        except ValueError:
            raise _bad(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        """A float field."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        """A boolean field; PTB json-dumps it to "true"/"false"."""
        value = self.values.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))

    def json(self, name: str) -> Any:
        """A field PTB json-dumps (reply_markup, entities, media, ...)."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {name} JSON object") from None

    def decoded(self) -> JSONDict:
        """All fields with JSON and numbers decoded, uploads summarised, for sim.calls."""
        result: JSONDict = {}
        for key, value in self.values.items():
            if isinstance(value, str) and key not in _STRING_FIELDS:
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            result[key] = value
        for key, upload in self.files.items():
            result[key] = {"upload": upload.filename, "size": len(upload.body)}
        return result


@dataclass
class _StoredFile:
    """A file Telegram holds; content None means synthetic bytes made up on download."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int
    content: bytes | None
    meta: JSONDict = field(default_factory=dict)
    photo_sizes: list[JSONDict] | None = None
    file_path: str | None = None

    def media_object(self) -> JSONDict:
        """The object a message carries for this file."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            **self.meta,
        }

    def chunks(self) -> Iterable[bytes]:
        """The bytes served for a download, synthetic ones made piece by piece."""
        if self.content is not None:
            yield self.content
            return
        remaining = self.size
        while remaining > 0:
            piece = _SYNTHETIC_CHUNK[: min(remaining, len(_SYNTHETIC_CHUNK))]
            remaining -= len(piece)
            yield piece


@dataclass
class _Injection:
    """A planned answer for the next calls of one method."""

    method: str
    status: int
    description: str | None
    retry_after: int | None
    migrate_to_chat_id: int | None
    chat_id: int | None
    times: int
    delay: float
    lose_answer: bool

    def matches(self, method: str, chat_id: Any) -> bool:
        """Whether this injection applies to a call."""
        if self.method != method.lower():
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)

    def error(self) -> _ApiError:
        """The failure to answer with."""
        parameters: JSONDict = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        description = self.description
        if description is None:
            if self.migrate_to_chat_id is not None:
                description = "Bad Request: group chat was upgraded to a supergroup chat"
            elif self.status == 429:
                description = f"Too Many Requests: retry after {self.retry_after or 1}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(self.status, f"Error {self.status}")
        return _ApiError(self.status, description, parameters or None)


@dataclass(frozen=True)
class FloodViolation:
    """One call that broke a Telegram flood limit."""

    method: str
    chat_id: int | None
    limit: str
    retry_after: int


class _FloodControl:
    """Telegram's message limits: 30/s overall, 20/min per group, 1/s (burst 3) per person."""

    GLOBAL_PER_SECOND = 30
    GROUP_PER_MINUTE = 20
    PRIVATE_RATE = 1.0
    PRIVATE_BURST = 3.0

    def __init__(self) -> None:
        self._global: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}
        self._private: dict[int, tuple[float, float]] = {}

    @staticmethod
    def _prune(window: deque[float], horizon: float) -> None:
        """Forget sends older than the window."""
        while window and window[0] <= horizon:
            window.popleft()

    def admit(
        self, chat_id: int | None, chat_type: str | None, now: float
    ) -> tuple[str, int] | None:
        """Take a message slot, or take none and name the limit and the seconds to wait."""
        exceeded: list[tuple[float, str]] = []
        self._prune(self._global, now - 1.0)
        if len(self._global) >= self.GLOBAL_PER_SECOND:
            exceeded.append((self._global[0] + 1.0 - now, "global"))
        window: deque[float] | None = None
        tokens = 0.0
        if chat_id is not None and chat_type in _CHAT_TYPES:
            window = self._groups.setdefault(chat_id, deque())
            self._prune(window, now - 60.0)
            if len(window) >= self.GROUP_PER_MINUTE:
                exceeded.append((window[0] + 60.0 - now, "group"))
        elif chat_id is not None:
            tokens, last = self._private.get(chat_id, (self.PRIVATE_BURST, now))
            tokens = min(self.PRIVATE_BURST, tokens + (now - last) * self.PRIVATE_RATE)
            if tokens < 1.0:
                exceeded.append(((1.0 - tokens) / self.PRIVATE_RATE, "private"))
        if exceeded:
            wait, limit = max(exceeded)
            return limit, max(1, math.ceil(wait))
        self._global.append(now)
        if window is not None:
            window.append(now)
        elif chat_id is not None:
            self._private[chat_id] = (tokens - 1.0, now)
        return None


# ---------------------------------------------------------------------------------------------
# People and chats


class SimChat:
    """A chat as the simulated Telegram knows it: private, group, supergroup or channel."""

    def __init__(
        self,
        sim: BotApiSimulator,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        user: SimUser | None = None,
        bot_status: str = "member",
    ) -> None:
        self.sim = sim
        self.id = chat_id
        self.type = chat_type
        self.title = title
        self.username = username
        self.user = user
        self.members: dict[int, str] = {}
        self.bot_status = bot_status
        # Private chats only: Telegram refuses to let a bot write first.
        self.started = True
        self.migrated_to: int | None = None
        self.pinned_message_id: int | None = None
        self.reply_keyboard: list[str] = []
        self.one_time_keyboard = False
        self.last_message_id = 0
        self._cursor = 0

    def __repr__(self) -> str:
        return f"SimChat({self.id}, {self.type!r}, {self.title or self.user!r})"

    def to_api(self) -> JSONDict:
        """The Chat object of the Bot API."""
        chat: JSONDict = {"id": self.id, "type": self.type}
        if self.user is not None:
            chat["first_name"] = self.user.first_name
            if self.user.last_name:
                chat["last_name"] = self.user.last_name
        else:
            chat["title"] = self.title or ""
        if self.username:
            chat["username"] = self.username
        return chat

    def add_member(self, user: SimUser, status: str = "member") -> None:
        """Make the user a member of this chat with the given status."""
        if self.type == "private":
            raise ValueError("private chats have no members to add")
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        self.members[user.id] = status

    @property
    def messages(self) -> list[JSONDict]:
        """The bot's messages in this chat, oldest first."""
        return self.sim.messages(self.id)

    async def next_message(
        self,
        contains: str | None = None,
        *,
        predicate: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The next bot message here not yet returned by next_message (skipping non-matching)."""
        index, message = await self.sim._wait_for_message(
            self.id, contains, predicate, self._cursor, timeout
        )
        self._cursor = index + 1
        return message


class SimUser:
    """A person on Telegram; each action queues the update Telegram would send the bot."""

    def __init__(
        self,
        sim: BotApiSimulator,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> None:
        self.sim = sim
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.first_name!r})"

    def to_api(self) -> JSONDict:
        """The User object of the Bot API."""
        user: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> SimChat:
        """This user's private chat with the bot."""
        return self.sim.chat(self.id)

    @property
    def inbox(self) -> list[JSONDict]:
        """The bot's messages in the private chat, oldest first."""
        return self.sim.messages(self.id)

    async def next_message(
        self,
        contains: str | None = None,
        *,
        predicate: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The next bot message in the private chat not yet returned by next_message."""
        return await self.chat.next_message(contains, predicate=predicate, timeout=timeout)

    async def send(
        self, text: str, *, chat_id: int | None = None, reply_to: JSONDict | None = None
    ) -> JSONDict:
        """Write a text message (a command if it starts with "/")."""
        content: JSONDict = {"text": text}
        entities = _command_entities(text)
        if entities:
            content["entities"] = entities
        return await self.sim._post(self, chat_id, content, reply_to)

    async def send_photo(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a photo; Telegram delivers it as a list of sizes, largest last."""
        photo = self.sim._media_content(self.sim._new_photo(content, size), "photo")
        return await self.sim._post(self, chat_id, _captioned("photo", photo, caption), reply_to)

    async def send_document(
        self,
        file_name: str,
        *,
        content: bytes | None = None,
        size: int | None = None,
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a file as a document."""
        meta = {"file_name": file_name, "mime_type": mime_type}
        stored = self.sim._new_file("document", content, size, meta)
        body = _captioned("document", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_voice(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        duration: int = 3,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a voice note."""
        meta = {"duration": duration, "mime_type": "audio/ogg"}
        stored = self.sim._new_file("voice", content, size, meta)
        body = _captioned("voice", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_video(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        duration: int = 5,
        width: int = 640,
        height: int = 360,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a video."""
        meta = {"width": width, "height": height, "duration": duration, "mime_type": "video/mp4"}
        stored = self.sim._new_file("video", content, size, meta)
        body = _captioned("video", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_sticker(self, *, emoji: str = "👍", chat_id: int | None = None) -> JSONDict:
        """Send a sticker."""
        meta = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        stored = self.sim._new_file("sticker", None, None, meta)
        return await self.sim._post(self, chat_id, {"sticker": stored.media_object()}, None)

    async def send_location(
        self, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> JSONDict:
        """Share a location."""
        location = {"latitude": latitude, "longitude": longitude}
        return await self.sim._post(self, chat_id, {"location": location}, None)

    async def send_contact(
        self,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
        chat_id: int | None = None,
    ) -> JSONDict:
        """Share a contact, by default the user's own (as a request_contact button does)."""
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": self.id if user_id is None else user_id,
        }
        if last_name:
            contact["last_name"] = last_name
        return await self.sim._post(self, chat_id, {"contact": contact}, None)

    async def send_poll(
        self,
        question: str,
        options: Iterable[str] = ("Có", "Không"),
        *,
        chat_id: int | None = None,
    ) -> JSONDict:
        """Send a poll, something the bot is not expected to understand."""
        poll = {
            "id": str(self.sim._next_sequence()),
            "question": question,
            "options": [
                {"text": option, "voter_count": 0, "persistent_id": str(number)}
                for number, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            # Required by python-telegram-bot 22.8 (Bot API 9.6 and 10.0).
            "allows_revoting": False,
            "members_only": False,
        }
        return await self.sim._post(self, chat_id, {"poll": poll}, None)

    async def edit(self, message: JSONDict, new_text: str) -> JSONDict:
        """Edit one of this user's text messages; the bot gets an edited_message update."""
        return await self.sim._edit_user_message(self, message, new_text)

    async def press(
        self, message: JSONDict, callback_data: str, *, check_button: bool = True
    ) -> JSONDict:
        """Press an inline button of a bot message; returns the queued callback query."""
        return await self.sim._press(self, message, callback_data, check_button)

    async def press_button(self, message: JSONDict, text_fragment: str) -> JSONDict:
        """Press the inline button whose text contains text_fragment (case-insensitive)."""
        current = self.sim._stored(message)
        buttons: list[Button] = current.get("buttons", [])
        wanted = text_fragment.casefold()
        exact = [button for button in buttons if button[0].casefold() == wanted]
        found = exact or [button for button in buttons if wanted in button[0].casefold()]
        if not found:
            raise AssertionError(f"no button containing {text_fragment!r}; buttons: {buttons}")
        text, data = found[0]
        if data is None or data.startswith(("http://", "https://", "tg://")):
            raise AssertionError(f"button {text!r} opens {data!r}, it sends no callback")
        return await self.press(current, data)


def _captioned(kind: str, media: Any, caption: str | None) -> JSONDict:
    """Message content for a media item with an optional caption."""
    content: JSONDict = {kind: media}
    if caption:
        content["caption"] = caption
    return content


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _SimHandler(tornado.web.RequestHandler):
    """Base for the simulator's request handlers."""

    def initialize(self, sim: BotApiSimulator) -> None:
        """Keep a reference to the simulator."""
        self.sim = sim
        self.gone = False

    def on_connection_close(self) -> None:
        """The client went away, e.g. PTB cancelled a long poll while stopping."""
        self.gone = True
        self.sim._wake_pollers()

    def compute_etag(self) -> str | None:
        """No ETag: every answer is fresh, and hashing each one would only cost time."""
        return None

    def answer(self, status: int, payload: JSONDict) -> None:
        """Send a JSON answer."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, ensure_ascii=False))


class _NotFoundHandler(_SimHandler):
    """Any other path."""

    async def prepare(self) -> None:
        """Answer the way Telegram does for unknown paths."""
        self.answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})


class _ApiHandler(_SimHandler):
    """POST (or GET) /bot{token}/{method}."""

    async def get(self, *args: str) -> None:
        """Serve a call sent as a query string."""
        await self.sim._serve_call(self, args[0], args[1])

    async def post(self, *args: str) -> None:
        """Serve a call sent as a form, multipart form or JSON."""
        await self.sim._serve_call(self, args[0], args[1])


class _FileHandler(_SimHandler):
    """GET /file/bot{token}/{file_path}."""

    async def get(self, *args: str) -> None:
        """Serve the bytes of a file that getFile gave a path to."""
        await self.sim._serve_file(self, args[0], args[1])


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Log requests quietly; the path is cut so the token never reaches a log."""
    path = handler.request.path.rsplit("/", 1)[-1]
    _log.debug("%s %s -> %d", handler.request.method, path, handler.get_status())


# ---------------------------------------------------------------------------------------------
# The simulator


Handler = Callable[[_Params], Awaitable[Any]]


class BotApiSimulator:
    """A Telegram Bot API server on 127.0.0.1 with simulated people, chats and faults."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
        enforce_limits: bool = False,
        strict_html: bool = True,
        bot_username: str = "liemchinh_bot",
        bot_name: str = "Liêm Chính",
    ) -> None:
        self.token = token
        self.enforce_limits = enforce_limits
        self.strict_html = strict_html
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else BOT_ID
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.calls: list[tuple[str, JSONDict]] = []
        self.callback_answers: dict[str, JSONDict] = {}
        self.flood_violations = 0
        self.flood_log: list[FloodViolation] = []
        self.internal_errors: list[BaseException] = []
        self.webhook_url: str | None = None
        self._requested_port = port
        self._port: int | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, SimChat] = {}
        self._store: dict[int, dict[int, JSONDict]] = {}
        self._bot_messages: dict[int, list[JSONDict]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._updates: list[JSONDict] = []
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._updates_changed = asyncio.Event()
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._sequence = 0
        self._update_id = 0
        self._open_callbacks: set[str] = set()
        self._listeners: list[MessageListener] = []
        self._injections: list[_Injection] = []
        self._flood = _FloodControl()
        self._down = False
        self._down_until = 0.0
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._menu_buttons: dict[int | None, JSONDict] = {}
        self._settings: dict[str, JSONDict] = {}
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._method_table().items()
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port unless one was given; the same one on restart)."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        port = self._port if self._port is not None else self._requested_port
        sockets = tornado.netutil.bind_sockets(port, address=HOST, family=socket.AF_INET)
        self._port = sockets[0].getsockname()[1]
        application = tornado.web.Application(
            [
                (r"/bot([^/]+)/([^/]+)", _ApiHandler, {"sim": self}),
                (r"/file/bot([^/]+)/(.+)", _FileHandler, {"sim": self}),
            ],
            default_handler_class=_NotFoundHandler,
            default_handler_args={"sim": self},
            log_function=_log_request,
        )
        # Uploads above 50 MB get Telegram's 413 from the handler, so tornado must let them in.
        self._server = tornado.httpserver.HTTPServer(
            application, max_body_size=MAX_UPLOAD_BYTES + 16_000_000
        )
        self._server.add_sockets(sockets)
        self._stopping = False
        self._stop_event = asyncio.Event()

    async def stop(self) -> None:
        """Answer held polls at once, then close every connection; safe to call twice."""
        if self._server is None:
            return
        self._stopping = True
        self._stop_event.set()
        self._wake_pollers()
        self._notify()
        # Let the woken polls write their answers before the connections are cut.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while self._inflight:
                    await self._idle.wait()
        server, self._server = self._server, None
        server.stop()
        await server.close_all_connections()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """What ApplicationBuilder.base_url needs."""
        return f"http://{HOST}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What ApplicationBuilder.base_file_url needs."""
        return f"http://{HOST}:{self.port}/file/bot"

    # -- people and chats -----------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        started: bool = True,
    ) -> SimUser:
        """Create a person and their private chat; started=False means they never wrote."""
        if user_id in self._users or user_id in self._chats:
            raise ValueError(f"id {user_id} is already used")
        user = SimUser(
            self,
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._users[user_id] = user
        chat = SimChat(self, user_id, "private", user=user, username=username)
        chat.started = started
        self._chats[user_id] = chat
        return user

    def add_chat(
        self,
        chat_id: int,
        title: str,
        type: str = "supergroup",
        *,
        username: str | None = None,
        bot_status: str = "administrator",
    ) -> SimChat:
        """Create a group, supergroup or channel; bot_status="left" if the bot is not in it."""
        if type not in _CHAT_TYPES:
            raise ValueError(f"chat type must be one of {sorted(_CHAT_TYPES)}, not {type!r}")
        if bot_status not in _MEMBER_STATUSES:
            raise ValueError(f"unknown bot status {bot_status!r}")
        if chat_id in self._chats:
            raise ValueError(f"chat {chat_id} already exists")
        chat = SimChat(self, chat_id, type, title=title, username=username, bot_status=bot_status)
        self._chats[chat_id] = chat
        return chat

    def user(self, user_id: int) -> SimUser:
        """A person added with add_user."""
        try:
            return self._users[user_id]
        except KeyError:
            raise KeyError(f"no simulated user {user_id}") from None

    def chat(self, chat_id: int) -> SimChat:
        """A chat: a user's private chat or one added with add_chat."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise KeyError(f"no simulated chat {chat_id}") from None

    async def add_bot_to_chat(
        self, chat_id: int, by_user_id: int, status: str = "administrator"
    ) -> None:
        """Someone adds the bot to a chat; queues the updates Telegram sends for that."""
        if status not in ("member", "administrator"):
            raise ValueError("the bot joins as 'member' or 'administrator'")
        chat = self.chat(chat_id)
        user = self.user(by_user_id)
        old = chat.bot_status
        chat.bot_status = status
        self._member_update(chat, user.to_api(), old, status)
        if chat.type != "channel" and old in ("left", "kicked"):
            content = {"new_chat_members": [dict(self.bot_user)]}
            joined = self._new_message(chat, content, user.to_api())
            self._queue_update("message", joined)
        await asyncio.sleep(0)

    # -- what the tests read --------------------------------------------------------------

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded or a person sent."""
        stored = self._files.get(file_id)
        if stored is None:
            raise KeyError(f"no file {file_id!r}")
        return b"".join(stored.chunks())

    def messages(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in a chat, oldest first, edits applied, deletions flagged."""
        return list(self._bot_messages.get(chat_id, ()))

    def count(self, method: str, chat_id: int | None = None) -> int:
        """How many calls of a method (case-insensitive) were received, optionally per chat."""
        wanted = method.lower()
        return sum(
            1
            for name, params in self.calls
            if name.lower() == wanted
            and (chat_id is None or str(params.get("chat_id")) == str(chat_id))
        )

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued for the bot and not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def bot_commands(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """The commands the bot set for a scope and language."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self._commands.get(key, ()))

    def on_message(self, callback: MessageListener) -> Callable[[], None]:
        """Call callback(chat_id, message, "new" | "edit") for bot messages; returns a remover."""
        self._listeners.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return remove

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        contains: str | None = None,
        predicate: Predicate | None = None,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The first bot message in the chat at index >= after that matches, waiting for it."""
        _, message = await self._wait_for_message(chat_id, contains, predicate, after, timeout)
        return message

    async def wait_for_callback_answer(
        self,
        callback_query_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The bot's answerCallbackQuery parameters for a pressed button, waiting for them."""

        def answered() -> JSONDict | None:
            return self.callback_answers.get(callback_query_id)

        return await self._wait_until(
            answered, timeout, lambda: f"callback query {callback_query_id} was not answered"
        )

    async def _wait_for_message(
        self,
        chat_id: int,
        contains: str | None,
        predicate: Predicate | None,
        after: int,
        seconds: float,
    ) -> tuple[int, JSONDict]:
        """Wait for a matching bot message and return its index and itself."""

        def find() -> tuple[int, JSONDict] | None:
            messages = self._bot_messages.get(chat_id, [])
            for index in range(after, len(messages)):
                message = messages[index]
                if contains is not None and contains not in message["text"]:
                    continue
                if predicate is None or predicate(message):
                    return index, message
            return None

        def report() -> str:
            wanted = f"containing {contains!r}" if contains is not None else "matching"
            recent = self._bot_messages.get(chat_id, [])[-10:]
            first = len(self._bot_messages.get(chat_id, [])) - len(recent)
            lines = [f"  [{first + i}] {message['text']!r}" for i, message in enumerate(recent)]
            text = (
                f"no bot message {wanted} in chat {chat_id} at index >= {after} "
                f"within {seconds:g} s; recent bot messages:\n" + ("\n".join(lines) or "  none")
            )
            if self.internal_errors:
                text += f"\nsimulator errors: {self.internal_errors!r}"
            return text

        return await self._wait_until(find, seconds, report)

    async def _wait_until(
        self, check: Callable[[], _T | None], seconds: float, report: Callable[[], str]
    ) -> _T:
        """Re-check whenever the simulation changes until check gives a value or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = check()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(report())
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    # -- faults ---------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        lose_answer: bool = False,
    ) -> None:
        """Plan the answer of the next `times` calls of method (to chat_id if given)."""
        # status=200 lets the call succeed after `delay`; with lose_answer the call is performed
        # and the connection then dropped, so the client believes a delivered message failed.
        if times < 1:
            raise ValueError("times must be at least 1")
        if lose_answer and status != 200:
            raise ValueError("lose_answer needs status=200: the call succeeds, its answer is lost")
        self._injections.append(
            _Injection(
                method.lower(),
                status,
                description,
                retry_after,
                migrate_to_chat_id,
                chat_id,
                times,
                delay,
                lose_answer,
            )
        )

    def set_down(self, down: bool) -> None:
        """While down, every call and download answers 502 Bad Gateway."""
        self._down = down
        if not down:
            self._down_until = 0.0

    def outage(self, seconds: float) -> None:
        """Be down for the given number of seconds from now."""
        self._down_until = time.monotonic() + seconds

    @property
    def is_down(self) -> bool:
        """Whether calls currently answer 502."""
        return self._down or time.monotonic() < self._down_until

    async def migrate_chat(self, old_id: int, new_id: int) -> SimChat:
        """Upgrade a group to a supergroup with the same members; sends to old_id then fail."""
        old = self.chat(old_id)
        # Only basic groups migrate on Telegram, but the bot sees the same either way, so a test
        # may declare the chat as a supergroup in its configuration and still migrate it.
        if old.type not in ("group", "supergroup"):
            raise ValueError("only a group can be upgraded to a supergroup")
        if new_id in self._chats:
            raise ValueError(f"chat {new_id} already exists")
        new = SimChat(
            self,
            new_id,
            "supergroup",
            title=old.title,
            username=old.username,
            bot_status=old.bot_status,
        )
        new.members = dict(old.members)
        self._chats[new_id] = new
        old.migrated_to = new_id
        actor = self._chat_actor(old)
        for chat, content in (
            (old, {"migrate_to_chat_id": new_id}),
            (new, {"migrate_from_chat_id": old_id}),
        ):
            self._queue_update("message", self._new_message(chat, content, actor))
        await asyncio.sleep(0)
        return new

    async def kick_bot(self, chat_id: int, *, by_user_id: int | None = None) -> None:
        """Remove the bot from a group or channel; sends there answer 403 from now on."""
        chat = self.chat(chat_id)
        if chat.type == "private":
            raise ValueError("a private chat cannot kick the bot: use block_bot")
        actor = self.user(by_user_id).to_api() if by_user_id is not None else None
        old, chat.bot_status = chat.bot_status, "kicked"
        self._member_update(chat, actor or self._chat_actor(chat), old, "kicked")
        await asyncio.sleep(0)

    async def block_bot(self, user_id: int) -> None:
        """The user blocks the bot; sends to them answer 403 until they write again."""
        chat = self.chat(user_id)
        old, chat.bot_status = chat.bot_status, "kicked"
        self._member_update(chat, self.user(user_id).to_api(), old, "kicked")
        await asyncio.sleep(0)

    async def unblock_bot(self, user_id: int) -> None:
        """The user unblocks the bot."""
        chat = self.chat(user_id)
        old, chat.bot_status = chat.bot_status, "member"
        self._member_update(chat, self.user(user_id).to_api(), old, "member")
        await asyncio.sleep(0)

    # -- internals: updates and messages --------------------------------------------------

    def _next_sequence(self) -> int:
        """A fresh number for ids that only need to be unique."""
        self._sequence += 1
        return self._sequence

    def _wake_pollers(self) -> None:
        """Wake every held getUpdates so it looks again."""
        event, self._updates_changed = self._updates_changed, asyncio.Event()
        event.set()

    def _notify(self) -> None:
        """Wake everyone waiting for bot messages or callback answers."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _queue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        """Queue an update for the bot with a fresh, increasing update_id."""
        self._update_id += 1
        update = {"update_id": self._update_id, kind: payload}
        self._updates.append(update)
        self._wake_pollers()
        return update

    def _chat_actor(self, chat: SimChat) -> JSONDict:
        """Whoever plausibly changed a chat: its creator, else an admin, else Telegram."""
        for wanted in ("creator", "administrator"):
            for user_id, status in chat.members.items():
                if status == wanted and user_id in self._users:
                    return self._users[user_id].to_api()
        return dict(TELEGRAM_USER)

    def _member_update(self, chat: SimChat, actor: JSONDict, old: str, new: str) -> None:
        """Queue the my_chat_member update for a change of the bot's status."""
        payload = {
            "chat": chat.to_api(),
            "from": actor,
            "date": _now(),
            "old_chat_member": _member(self.bot_user, old, chat.type),
            "new_chat_member": _member(self.bot_user, new, chat.type),
        }
        self._queue_update("my_chat_member", payload)

    def _new_message(self, chat: SimChat, content: JSONDict, sender: JSONDict) -> JSONDict:
        """Store a new message in a chat, sent by a User object (the bot's or a person's)."""
        chat.last_message_id += 1
        message: JSONDict = {
            "message_id": chat.last_message_id,
            "date": _now(),
            "chat": chat.to_api(),
        }
        if chat.type == "channel":
            # Channel posts are signed by the channel; only the bot's own results name it too.
            message["sender_chat"] = chat.to_api()
        if chat.type != "channel" or sender["id"] == self.bot_user["id"]:
            message["from"] = dict(sender)
        message.update(content)
        self._store.setdefault(chat.id, {})[message["message_id"]] = message
        return message

    def _stored(self, message: JSONDict) -> JSONDict:
        """The current stored version of a message the test holds."""
        chat_id = message["chat"]["id"]
        stored = self._store.get(chat_id, {}).get(message["message_id"])
        if stored is None:
            raise AssertionError(
                f"message {message['message_id']} in chat {chat_id} does not exist (deleted?)"
            )
        return stored

    async def _post(
        self,
        user: SimUser,
        chat_id: int | None,
        content: JSONDict,
        reply_to: JSONDict | None,
    ) -> JSONDict:
        """A user posts in a chat: store the message and queue its update."""
        chat = self.chat(user.id if chat_id is None else chat_id)
        if chat.type == "private" and chat.id != user.id:
            raise ValueError(f"{user!r} cannot write in another person's private chat")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat.id} became {chat.migrated_to}; post there")
        if chat.type == "private":
            chat.started = True
            if chat.bot_status == "kicked":
                # Writing to a blocked bot means restarting it, which Telegram reports first.
                await self.unblock_bot(user.id)
        message = self._new_message(chat, content, user.to_api())
        if reply_to is not None:
            if reply_to["chat"]["id"] != chat.id:
                raise ValueError("reply_to must be a message of the same chat")
            message["reply_to_message"] = _snapshot(self._stored(reply_to))
        if chat.one_time_keyboard:
            chat.reply_keyboard = []
            chat.one_time_keyboard = False
        self._queue_update("channel_post" if chat.type == "channel" else "message", message)
        await asyncio.sleep(0)
        return message

    async def _edit_user_message(self, user: SimUser, message: JSONDict, text: str) -> JSONDict:
        """A user edits their text message."""
        stored = self._stored(message)
        chat = self.chat(stored["chat"]["id"])
        if chat.type != "channel" and stored.get("from", {}).get("id") != user.id:
            raise AssertionError(f"{user!r} can only edit their own messages")
        if "text" not in stored:
            raise AssertionError("only text messages can be edited this way")
        edited = {key: value for key, value in stored.items() if key != "entities"}
        edited.update(text=text, edit_date=_now())
        entities = _command_entities(text)
        if entities:
            edited["entities"] = entities
        self._store[chat.id][edited["message_id"]] = edited
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        self._queue_update(kind, edited)
        await asyncio.sleep(0)
        return edited

    async def _press(
        self, user: SimUser, message: JSONDict, data: str, check_button: bool
    ) -> JSONDict:
        """A user presses an inline button; the query carries the bot message as stored."""
        stored = self._stored(message)
        if check_button and data not in [value for _, value in stored.get("buttons", [])]:
            raise AssertionError(
                f"message {stored['message_id']} has no button with callback_data {data!r}; "
                f"buttons: {stored.get('buttons', [])}"
            )
        query_id = str(4_000_000_000 + self._next_sequence())
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": _wire(stored),
            "chat_instance": f"sim{abs(stored['chat']['id'])}",
            "data": data,
        }
        self._open_callbacks.add(query_id)
        self._queue_update("callback_query", query)
        await asyncio.sleep(0)
        return query

    def _emit(self, chat_id: int, message: JSONDict, kind: str) -> None:
        """Tell listeners and waiters about a new or edited bot message."""
        for listener in list(self._listeners):
            try:
                listener(chat_id, message, kind)
            except Exception:  # a broken printer must not break the server
                _log.exception("message listener failed")
        self._notify()

    # -- internals: files -----------------------------------------------------------------

    def _new_file(
        self, kind: str, content: bytes | None, size: int | None, meta: JSONDict | None = None
    ) -> _StoredFile:
        """Register a file; without content its bytes are synthetic and cost no memory."""
        if content is not None and size is not None and size != len(content):
            raise ValueError("size must match len(content)")
        number = self._next_sequence()
        if content is not None:
            size = len(content)
        elif size is None:
            size = _SYNTHETIC_SIZES.get(kind, 10_000)
        stored = _StoredFile(
            file_id=f"sim-{kind}-{number}",
            file_unique_id=f"simu{number}",
            kind=kind,
            size=size,
            content=content,
            meta=dict(meta or {}),
        )
        self._files[stored.file_id] = stored
        return stored

    def _new_photo(self, content: bytes | None, size: int | None) -> _StoredFile:
        """Register a photo as Telegram does, a thumbnail and the full size; return the latter."""
        full = self._new_file("photo", content, size)
        thumb = self._new_file("photo", None, min(full.size, 1_500) or 1)
        sizes = [
            {**thumb.media_object(), "width": 90, "height": 68},
            {**full.media_object(), "width": 1280, "height": 960},
        ]
        full.photo_sizes = thumb.photo_sizes = sizes
        return full

    def _upload(self, upload: _Upload, kind: str, p: _Params) -> _StoredFile:
        """Store an uploaded file."""
        if len(upload.body) > MAX_UPLOAD_BYTES:
            raise _ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            return self._new_photo(upload.body, None)
        mime_type = upload.content_type
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = (
                mimetypes.guess_type(upload.filename)[0]
                or _DEFAULT_MIME_TYPES.get(kind)
                or "application/octet-stream"
            )
        meta: JSONDict = {}
        if kind in ("document", "audio", "video", "animation"):
            meta["file_name"] = upload.filename
        if kind != "video_note":
            meta["mime_type"] = mime_type
        if kind in ("voice", "audio", "video", "animation", "video_note"):
            meta["duration"] = p.integer("duration") or 1
        if kind in ("video", "animation"):
            meta["width"] = p.integer("width") or 640
            meta["height"] = p.integer("height") or 360
        if kind == "video_note":
            meta["length"] = p.integer("length") or 240
        if kind == "sticker":
            meta = {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        return self._new_file(kind, upload.body, None, meta)

    def _resolve_file(
        self, value: Any, upload: _Upload | None, p: _Params, kind: str
    ) -> _StoredFile:
        """Find the file a media parameter means: an upload, attach://name, file_id or URL."""
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = p.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
        if upload is not None:
            return self._upload(upload, kind, p)
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            # Telegram would fetch the URL; the simulator never leaves 127.0.0.1.
            if kind == "photo":
                return self._new_photo(None, None)
            return self._new_file(kind, None, None, {"file_name": value.rsplit("/", 1)[-1]})
        stored = self._files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        # A photo is not a file of any other kind; documents may carry any other kind.
        if (stored.kind == "photo") != (kind == "photo") or (
            kind not in ("document", "photo") and stored.kind != kind
        ):
            raise _bad(f"can't use file of type {_title(stored.kind)} as {_title(kind)}")
        return stored

    def _media_content(self, stored: _StoredFile, kind: str) -> Any:
        """What a message carries for a file sent as kind."""
        if kind == "photo":
            return [dict(size) for size in stored.photo_sizes or [stored.media_object()]]
        media = stored.media_object()
        if kind == "document" and stored.kind != "document":
            media = {key: media[key] for key in ("file_id", "file_unique_id", "file_size")}
        return media

    # -- internals: serving ---------------------------------------------------------------

    async def _serve_call(self, handler: _ApiHandler, token: str, method: str) -> None:
        """Answer one Bot API call."""
        self._inflight += 1
        self._idle.clear()
        try:
            answer = await self._answer_call(handler, token, method)
        except Exception as error:  # a simulator bug must show, not pass for a Telegram answer
            _log.exception("simulator failed while answering %s", method)
            self.internal_errors.append(error)
            description = f"Internal Server Error: simulator bug: {error!r}"
            answer = (500, {"ok": False, "error_code": 500, "description": description})
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
        if answer is not None:
            handler.answer(*answer)

    async def _answer_call(
        self, handler: _ApiHandler, token: str, method: str
    ) -> tuple[int, JSONDict] | None:
        """The HTTP status and body for a call, or None when the answer is to be lost."""
        if self.is_down:
            return _ApiError(502, "Bad Gateway").answer()
        if token != self.token:
            return _ApiError(401, "Unauthorized").answer()
        try:
            params = _Params.from_request(handler.request)
        except _ApiError as error:
            return error.answer()
        params.abandoned = lambda: handler.gone
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        self.calls.append((name, params.decoded()))
        if entry is None:
            return _ApiError(404, "Not Found: method not found").answer()
        injection = self._take_injection(name, params)
        if injection is not None:
            if injection.delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(injection.delay):
                        await self._stop_event.wait()
            if injection.status != 200:
                return injection.error().answer()
        try:
            if _counts_as_message(name):
                self._check_flood(name, params)
            result = await entry[1](params)
        except _ApiError as error:
            return error.answer()
        if injection is not None and injection.lose_answer:
            handler.detach().close()
            return None
        return 200, {"ok": True, "result": result}

    def _take_injection(self, method: str, params: _Params) -> _Injection | None:
        """Use up one planned answer for this call, if any applies."""
        chat_id = params.values.get("chat_id")
        for injection in self._injections:
            if injection.matches(method, chat_id):
                injection.times -= 1
                if injection.times == 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _check_flood(self, method: str, params: _Params) -> None:
        """Count a message against Telegram's limits; answer 429 if they are enforced."""
        try:
            chat_id = params.integer("chat_id")
        except _ApiError:
            chat_id = None
        chat = self._chats.get(chat_id) if chat_id is not None else None
        verdict = self._flood.admit(chat_id, chat.type if chat else None, time.monotonic())
        if verdict is None:
            return
        limit, retry_after = verdict
        self.flood_violations += 1
        self.flood_log.append(FloodViolation(method, chat_id, limit, retry_after))
        if self.enforce_limits:
            raise _ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    async def _serve_file(self, handler: _FileHandler, token: str, file_path: str) -> None:
        """Stream a file's bytes."""
        if self.is_down:
            handler.answer(*_ApiError(502, "Bad Gateway").answer())
            return
        if token != self.token:
            handler.answer(*_ApiError(401, "Unauthorized").answer())
            return
        stored = self._files_by_path.get(file_path)
        if stored is None:
            handler.answer(*_ApiError(404, "Not Found").answer())
            return
        mime_type = stored.meta.get("mime_type", "application/octet-stream")
        handler.set_header("Content-Type", mime_type)
        handler.set_header("Content-Length", str(stored.size))
        for chunk in stored.chunks():
            if handler.gone:
                return
            handler.write(chunk)
            await handler.flush()
        handler.finish()

    # -- Bot API methods ------------------------------------------------------------------

    def _method_table(self) -> dict[str, Handler]:
        """Every Bot API method the simulator answers, by its canonical name."""
        media = self._send_media
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": self._true,
            "close": self._true,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "setMyDescription": functools.partial(self._remember, "setMyDescription"),
            "setMyShortDescription": functools.partial(self._remember, "setMyShortDescription"),
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "sendPhoto": functools.partial(media, "sendPhoto", "photo"),
            "sendDocument": functools.partial(media, "sendDocument", "document"),
            "sendVoice": functools.partial(media, "sendVoice", "voice"),
            "sendVideo": functools.partial(media, "sendVideo", "video"),
            "sendAudio": functools.partial(media, "sendAudio", "audio"),
            "sendAnimation": functools.partial(media, "sendAnimation", "animation"),
            "sendVideoNote": functools.partial(media, "sendVideoNote", "video_note"),
            "sendSticker": functools.partial(media, "sendSticker", "sticker"),
            "sendLocation": self._send_location,
            "sendContact": self._send_contact,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "leaveChat": self._leave_chat,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "unpinAllChatMessages": self._unpin_chat_message,
        }

    async def _true(self, p: _Params) -> bool:
        """Methods that only need to succeed."""
        return True

    async def _remember(self, method: str, p: _Params) -> bool:
        """Methods whose parameters are only recorded."""
        self._settings[method] = p.decoded()
        return True

    async def _get_me(self, p: _Params) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: _Params) -> list[JSONDict]:
        """Long poll: hold until an update can be delivered or the timeout passes."""
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.integer("offset")
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = max(p.number("timeout") or 0.0, 0.0)
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) or DEFAULT_UPDATE_TYPES
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # Telegram serves one poller: a newer getUpdates ends an older one with 409.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(409, _DEFAULT_DESCRIPTIONS[409])
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._stopping or p.abandoned():
                return batch
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def _deliverable(self, limit: int) -> list[JSONDict]:
        """Pending updates of the allowed types, oldest first."""
        batch: list[JSONDict] = []
        for update in self._updates:
            kind = next(key for key in update if key != "update_id")
            if kind in self._allowed_updates:
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    async def _delete_webhook(self, p: _Params) -> bool:
        self.webhook_url = None
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _set_webhook(self, p: _Params) -> bool:
        self.webhook_url = p.text("url") or None
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, p: _Params) -> JSONDict:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _commands_key(self, p: _Params) -> tuple[str, str]:
        """Commands are kept per scope and language, as Telegram does."""
        scope = p.json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.text("language_code") or ""

    async def _set_my_commands(self, p: _Params) -> bool:
        commands = p.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse commands JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(p)
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _delete_my_commands(self, p: _Params) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    async def _get_my_commands(self, p: _Params) -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(p), ()))

    async def _set_chat_menu_button(self, p: _Params) -> bool:
        button = p.json("menu_button") or {"type": "default"}
        self._menu_buttons[p.integer("chat_id")] = button
        return True

    async def _get_chat_menu_button(self, p: _Params) -> JSONDict:
        chat_id = p.integer("chat_id")
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))

    # -- chats as the sending side sees them --------------------------------------------

    def _chat_param(self, p: _Params, name: str = "chat_id") -> SimChat:
        """The chat a parameter names (id or @username), refusing upgraded groups."""
        value = p.values.get(name)
        if value is None or value == "":
            raise _bad(f"{name} is empty")
        chat: SimChat | None
        if isinstance(value, str) and value.startswith("@"):
            wanted = value[1:].lower()
            chat = next(
                (c for c in self._chats.values() if (c.username or "").lower() == wanted), None
            )
        else:
            try:
                chat = self._chats.get(int(value))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise _bad("chat not found")
        if chat.migrated_to is not None:
            raise _migrated(chat.migrated_to)
        return chat

    def _target(self, p: _Params, *, sending: bool) -> SimChat:
        """The chat of a call, with the 403s Telegram gives when the bot may not act there."""
        chat = self._chat_param(p)
        if chat.type == "private":
            if sending and chat.bot_status == "kicked":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if sending and not chat.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat
        if chat.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if (
            sending
            and chat.type == "channel"
            and chat.bot_status not in ("administrator", "creator")
        ):
            raise _bad("need administrator rights in the channel chat")
        return chat

    def _formatted(
        self, p: _Params, name: str, entities_name: str, limit: int, too_long: str
    ) -> tuple[str, list[JSONDict], str]:
        """Visible text, entities and the raw string of a text or caption parameter."""
        raw = p.text(name) or ""
        text, entities = _format(
            raw, p.text("parse_mode"), p.json(entities_name), strict=self.strict_html
        )
        if len(text) > limit:
            raise _bad(too_long)
        return text, entities, raw

    def _reply(self, p: _Params, chat: SimChat) -> JSONDict | None:
        """The message a send replies to, from reply_parameters or reply_to_message_id."""
        parameters = p.json("reply_parameters")
        if isinstance(parameters, dict):
            message_id = parameters.get("message_id")
            allow = bool(parameters.get("allow_sending_without_reply"))
            chat_id = parameters.get("chat_id", chat.id)
        else:
            message_id = p.integer("reply_to_message_id")
            allow = p.flag("allow_sending_without_reply")
            chat_id = chat.id
        if message_id is None:
            return None
        try:
            original = self._store.get(int(chat_id), {}).get(int(message_id))
        except (TypeError, ValueError):
            original = None
        if original is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return _snapshot(original)

    def _bot_message(
        self,
        chat: SimChat,
        content: JSONDict,
        *,
        method: str,
        raw: str,
        markup: _Markup,
        reply: JSONDict | None,
        p: _Params,
        copied_from: tuple[int, int] | None = None,
    ) -> JSONDict:
        """Store a message the bot sent, with the keys readers of the simulation use."""
        message = self._new_message(chat, content, self.bot_user)
        thread = p.integer("message_thread_id")
        if thread is not None:
            message["message_thread_id"] = thread
        if reply is not None:
            message["reply_to_message"] = reply
        if markup.inline is not None:
            message["reply_markup"] = markup.inline
        if p.flag("protect_content"):
            message["has_protected_content"] = True
        media = _is_media(content)
        message.update(
            text=content.get("caption", "") if media else content.get("text", ""),
            html=raw,
            buttons=markup.buttons,
            reply_keyboard=markup.keyboard or [],
            method=method,
            copied_from=copied_from,
        )
        if markup.keyboard is not None:
            chat.reply_keyboard = list(markup.keyboard)
            chat.one_time_keyboard = markup.one_time
        elif markup.remove_keyboard:
            chat.reply_keyboard = []
            chat.one_time_keyboard = False
        self._bot_messages.setdefault(chat.id, []).append(message)
        self._emit(chat.id, message, "new")
        return message

    # -- sending ------------------------------------------------------------------------

    async def _send_message(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        text, entities, raw = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text.strip():
            raise _bad("message text is empty")
        markup = _read_markup(p.json("reply_markup"))
        reply = self._reply(p, chat)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._bot_message(
            chat, content, method="sendMessage", raw=raw, markup=markup, reply=reply, p=p
        )
        return _wire(message)

    def _caption(self, p: _Params) -> tuple[JSONDict, str]:
        """Caption keys for a media message and the raw caption."""
        caption, entities, raw = self._formatted(
            p, "caption", "caption_entities", MAX_CAPTION_LENGTH, "message caption is too long"
        )
        content: JSONDict = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content, raw

    async def _send_media(self, method: str, kind: str, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        stored = self._resolve_file(p.values.get(kind), p.files.get(kind), p, kind)
        content, raw = self._caption(p)
        content[kind] = self._media_content(stored, kind)
        markup = _read_markup(p.json("reply_markup"))
        reply = self._reply(p, chat)
        message = self._bot_message(
            chat, content, method=method, raw=raw, markup=markup, reply=reply, p=p
        )
        return _wire(message)

    async def _send_location(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        latitude, longitude = p.number("latitude"), p.number("longitude")
        if latitude is None or not -90 <= latitude <= 90:
            raise _bad("wrong latitude")
        if longitude is None or not -180 <= longitude <= 180:
            raise _bad("wrong longitude")
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        message = self._bot_message(
            chat,
            content,
            method="sendLocation",
            raw="",
            markup=_read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
        )
        return _wire(message)

    async def _send_contact(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        phone, first_name = p.text("phone_number"), p.text("first_name")
        if not phone:
            raise _bad("phone_number is empty")
        if not first_name:
            raise _bad("first_name is empty")
        contact: JSONDict = {"phone_number": phone, "first_name": first_name}
        if p.text("last_name"):
            contact["last_name"] = p.text("last_name")
        message = self._bot_message(
            chat,
            {"contact": contact},
            method="sendContact",
            raw="",
            markup=_read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
        )
        return _wire(message)

    async def _send_media_group(self, p: _Params) -> list[JSONDict]:
        chat = self._target(p, sending=True)
        media = p.json("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("media group must include 2-10 items")
        # Telegram sends all of an album or nothing, so everything is checked first.
        prepared: list[tuple[JSONDict, str]] = []
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "video", "document", "audio"):
                raise _bad("can't parse InputMedia JSON object")
            stored = self._resolve_file(item.get("media"), None, p, kind)
            raw = item.get("caption") or ""
            caption, entities = _format(
                raw,
                item.get("parse_mode"),
                item.get("caption_entities"),
                strict=self.strict_html,
            )
            if len(caption) > MAX_CAPTION_LENGTH:
                raise _bad("message caption is too long")
            content: JSONDict = {kind: self._media_content(stored, kind)}
            if caption:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            prepared.append((content, raw))
        group_id = str(10_000_000 + self._next_sequence())
        reply = self._reply(p, chat)
        results = []
        for content, raw in prepared:
            content["media_group_id"] = group_id
            message = self._bot_message(
                chat,
                content,
                method="sendMediaGroup",
                raw=raw,
                markup=_Markup(),
                reply=reply,
                p=p,
            )
            results.append(_wire(message))
        return results

    async def _send_chat_action(self, p: _Params) -> bool:
        self._target(p, sending=True)
        if p.text("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _copy_message(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        source_chat = self._chat_param(p, "from_chat_id")
        message_id = p.integer("message_id")
        original = self._store.get(source_chat.id, {}).get(message_id or 0)
        if original is None:
            raise _bad("message to copy not found")
        source = _wire(original)
        content = {key: source[key] for key in _CONTENT_KEYS if key in source}
        if not content:
            raise _bad("message can't be copied")
        raw = original.get("html", content.get("text", content.get("caption", "")))
        if p.has("caption") and _is_media(content):
            content.pop("caption", None)
            content.pop("caption_entities", None)
            caption, raw = self._caption(p)
            content.update(caption)
        message = self._bot_message(
            chat,
            content,
            method="copyMessage",
            raw=raw,
            markup=_read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
            copied_from=(source_chat.id, original["message_id"]),
        )
        return {"message_id": message["message_id"]}

    async def _forward_message(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=True)
        source_chat = self._chat_param(p, "from_chat_id")
        message_id = p.integer("message_id")
        original = self._store.get(source_chat.id, {}).get(message_id or 0)
        if original is None:
            raise _bad("message to forward not found")
        source = _wire(original)
        content = {key: source[key] for key in _CONTENT_KEYS if key in source}
        if not content:
            raise _bad("message can't be forwarded")
        origin: JSONDict
        if source_chat.type == "channel":
            origin = {
                "type": "channel",
                "chat": source_chat.to_api(),
                "message_id": original["message_id"],
                "date": original["date"],
            }
        else:
            origin = {"type": "user", "sender_user": source["from"], "date": original["date"]}
        content["forward_origin"] = origin
        message = self._bot_message(
            chat,
            content,
            method="forwardMessage",
            raw=content.get("text", content.get("caption", "")),
            markup=_Markup(),
            reply=None,
            p=p,
            copied_from=(source_chat.id, original["message_id"]),
        )
        return _wire(message)

    # -- editing and deleting -------------------------------------------------------------

    def _editable(self, p: _Params) -> tuple[SimChat, JSONDict]:
        """The bot message an edit* call names."""
        if p.text("inline_message_id"):
            # Inline mode is not simulated; the project does not use it.
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._target(p, sending=True)
        message = self._store.get(chat.id, {}).get(p.integer("message_id") or 0)
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad("message can't be edited")
        return chat, message

    def _edit_markup(self, p: _Params) -> _Markup:
        """An edit keeps only inline keyboards; leaving reply_markup out removes it."""
        markup = _read_markup(p.json("reply_markup"))
        return markup if markup.inline is not None else _Markup()

    def _apply_edit(
        self, chat: SimChat, message: JSONDict, changes: JSONDict, markup: _Markup, raw: str | None
    ) -> JSONDict:
        """Apply an edit in place, refusing one that changes nothing."""
        current = {key: message.get(key) for key in changes}
        if current == changes and message.get("reply_markup") == markup.inline:
            raise _bad(NOT_MODIFIED)
        for key, value in changes.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        if markup.inline is not None:
            message["reply_markup"] = markup.inline
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = _now()
        message["buttons"] = markup.buttons
        if _is_media(message):
            message["text"] = message.get("caption", "")
        if raw is not None:
            message["html"] = raw
        self._emit(chat.id, message, "edit")
        return _wire(message)

    async def _edit_message_text(self, p: _Params) -> JSONDict:
        chat, message = self._editable(p)
        if _is_media(message):
            raise _bad("there is no text in the message to edit")
        text, entities, raw = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text.strip():
            raise _bad("message text is empty")
        changes = {"text": text, "entities": entities or None}
        return self._apply_edit(chat, message, changes, self._edit_markup(p), raw)

    async def _edit_message_caption(self, p: _Params) -> JSONDict:
        chat, message = self._editable(p)
        if not _is_media(message):
            raise _bad("there is no caption in the message to edit")
        caption, raw = self._caption(p)
        changes = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
        }
        return self._apply_edit(chat, message, changes, self._edit_markup(p), raw)

    async def _edit_message_reply_markup(self, p: _Params) -> JSONDict:
        chat, message = self._editable(p)
        return self._apply_edit(chat, message, {}, self._edit_markup(p), None)

    async def _delete_message(self, p: _Params) -> bool:
        chat = self._target(p, sending=False)
        messages = self._store.get(chat.id, {})
        message = messages.get(p.integer("message_id") or 0)
        if message is None:
            raise _bad("message to delete not found")
        own = message.get("from", {}).get("id") == self.bot_user["id"]
        if (
            not own
            and chat.type != "private"
            and chat.bot_status not in ("administrator", "creator")
        ):
            raise _bad("message can't be deleted")
        del messages[message["message_id"]]
        if own:
            message["deleted"] = True
            self._notify()
        return True

    async def _answer_callback_query(self, p: _Params) -> bool:
        query_id = p.text("callback_query_id") or ""
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        answer = p.decoded()
        answer.pop("callback_query_id", None)
        self.callback_answers[query_id] = answer
        self._notify()
        return True

    # -- files and chats ----------------------------------------------------------------

    async def _get_file(self, p: _Params) -> JSONDict:
        stored = self._files.get(p.text("file_id") or "")
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        if stored.file_path is None:
            folder, extension = _FILE_FOLDERS.get(stored.kind, ("documents", ""))
            name = str(stored.meta.get("file_name", ""))
            if not extension and "." in name:
                extension = "." + name.rsplit(".", 1)[-1]
            stored.file_path = f"{folder}/file_{self._next_sequence()}{extension}"
            self._files_by_path[stored.file_path] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def _get_chat(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=False)
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.pinned_message_id is not None:
            pinned = self._store.get(chat.id, {}).get(chat.pinned_message_id)
            if pinned is not None:
                info["pinned_message"] = _snapshot(pinned)
        return info

    async def _get_chat_member(self, p: _Params) -> JSONDict:
        chat = self._target(p, sending=False)
        user_id = p.integer("user_id")
        if user_id == self.bot_user["id"]:
            status = "member" if chat.type == "private" else chat.bot_status
            return _member(self.bot_user, status, chat.type)
        user = self._users.get(user_id or 0)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            status = "member" if chat.id == user.id else "left"
        else:
            status = chat.members.get(user.id, "left")
        return _member(user.to_api(), status, chat.type)

    async def _get_chat_administrators(self, p: _Params) -> list[JSONDict]:
        chat = self._target(p, sending=False)
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        admins = [
            _member(self._users[user_id].to_api(), status, chat.type)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator") and user_id in self._users
        ]
        if chat.bot_status == "administrator":
            admins.append(_member(self.bot_user, "administrator", chat.type))
        return admins

    async def _leave_chat(self, p: _Params) -> bool:
        chat = self._target(p, sending=False)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        old, chat.bot_status = chat.bot_status, "left"
        self._member_update(chat, dict(self.bot_user), old, "left")
        return True

    async def _pin_chat_message(self, p: _Params) -> bool:
        chat = self._target(p, sending=True)
        message_id = p.integer("message_id") or 0
        if message_id not in self._store.get(chat.id, {}):
            raise _bad("message to pin not found")
        if chat.type != "private" and chat.bot_status not in ("administrator", "creator"):
            raise _bad("not enough rights to manage pinned messages in the chat")
        chat.pinned_message_id = message_id
        return True

    async def _unpin_chat_message(self, p: _Params) -> bool:
        chat = self._target(p, sending=True)
        chat.pinned_message_id = None
        return True


def _counts_as_message(method: str) -> bool:
    """Whether a call sends or edits a message, the calls Telegram's flood limits count."""
    if method == "sendChatAction":
        return False
    return method.startswith(("send", "edit")) or method in ("copyMessage", "forwardMessage")


def _title(kind: str) -> str:
    """A file kind as Telegram names it in errors ("video_note" -> "VideoNote")."""
    return "".join(part.capitalize() for part in kind.split("_"))


# ---------------------------------------------------------------------------------------------
# Running on its own


async def _serve_forever(port: int, token: str, enforce_limits: bool) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    async with BotApiSimulator(token=token, port=port, enforce_limits=enforce_limits) as sim:
        print(sim.port, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in its own process and print the port it listens on."""
    parser = argparse.ArgumentParser(description="Simulated Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bot token to accept")
    parser.add_argument(
        "--enforce-limits", action="store_true", help="answer 429 when flood limits are broken"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.port, args.token, args.enforce_limits))


if __name__ == "__main__":
    main()
