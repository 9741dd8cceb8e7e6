"""The Bot API's wire protocol as the simulated Telegram speaks it: the ids, limits and update
types every part of the simulator shares, error answers worded the way Telegram words them, and
the parameters of one call read the way the Bot API reads query, form, multipart and JSON fields.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tornado.httputil

JSONDict = dict[str, Any]
# An inline button as the simulation keeps it: its text and its callback_data or URL.
Button = tuple[str, str | None]

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
CHAT_TYPES = frozenset({"group", "supergroup", "channel"})
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})
CHAT_ACTIONS = frozenset(
    """
    typing upload_photo record_video upload_video record_voice upload_voice upload_document
    choose_sticker find_location record_video_note upload_video_note
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
DEFAULT_DESCRIPTIONS = {
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


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def date_now() -> int:
    """Current Unix time as Telegram dates it."""
    return int(time.time())


# ---------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
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


def bad(description: str) -> ApiError:
    """A 400 answer worded the way Telegram words them."""
    return ApiError(400, f"Bad Request: {description}")


def migrated(new_chat_id: int) -> ApiError:
    """The answer for a group that became a supergroup."""
    return ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class Upload:
    """A file uploaded in a multipart request."""

    filename: str
    body: bytes
    content_type: str


class Params:
    """The parameters of one call, read the way the Bot API reads form fields."""

    def __init__(self, values: dict[str, Any], files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files
        self.abandoned: Callable[[], bool] = lambda: False

    @classmethod
    def from_request(cls, request: tornado.httputil.HTTPServerRequest) -> Params:
        """Collect query, form or JSON fields and uploaded files."""
        values: dict[str, Any] = {
            key: raw[-1].decode("utf-8", "replace") for key, raw in request.query_arguments.items()
        }
        if request.headers.get("Content-Type", "").startswith("application/json"):
            # PTB never sends JSON, but Telegram accepts it and so do other clients.
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise bad("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad("can't parse JSON object")
            values.update(body)
        else:
            values.update(
                {
                    key: raw[-1].decode("utf-8", "replace")
                    for key, raw in request.body_arguments.items()
                }
            )
        files = {
            key: Upload(parts[0].filename, parts[0].body, parts[0].content_type)
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
            raise bad(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        """A float field."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad(f"invalid {name} specified") from None

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
            raise bad(f"can't parse {name} JSON object") from None

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
