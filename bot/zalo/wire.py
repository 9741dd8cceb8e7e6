"""Zalo Bot API updates read into one shape (docs/channels.md has the wire format).

An update is `{"event_name": ..., "message": {...}}`, posted to a webhook wrapped as
`{"ok": true, "result": update}`; getUpdates answers the same wrapping. Anything that is not a
private message with an id and a sender is refused here, before it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
UNSUPPORTED = "message.unsupported.received"

# Ids are opaque strings on Zalo; anything longer is not one of theirs.
_ID_MAX = 128


class BadUpdate(ValueError):
    """A body that is not a Zalo update the bot can act on."""


@dataclass(frozen=True)
class ZaloEvent:
    """One message from a Zalo user, as the channel handles it."""

    event: str
    message_id: str
    user_id: str
    chat_id: str
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None


def updates_of(body: Any) -> list[dict[str, Any]]:
    """Return the updates in an API answer or a webhook body (one object, or a list)."""
    if isinstance(body, dict) and "result" in body:
        body = body["result"]
    if body is None:
        return []
    items = body if isinstance(body, list) else [body]
    return [item for item in items if isinstance(item, dict)]


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadUpdate(f"{what} missing")
    text = str(value)
    if not text or len(text) > _ID_MAX:
        raise BadUpdate(f"{what} malformed")
    return text


def read_event(update: dict[str, Any]) -> ZaloEvent:
    """Return the event of one update; BadUpdate when it lacks what the bot needs."""
    message = update.get("message")
    if not isinstance(message, dict):
        raise BadUpdate("no message")
    sender = message.get("from")
    chat = message.get("chat")
    if not isinstance(sender, dict) or not isinstance(chat, dict):
        raise BadUpdate("no sender")
    event = update.get("event_name")
    if not isinstance(event, str):
        # The documented getUpdates sample shows a text message without its event's name.
        event = TEXT if isinstance(message.get("text"), str) else UNSUPPORTED
    text = message.get("text")
    photo = message.get("photo_url", message.get("photo"))
    caption = message.get("caption")
    return ZaloEvent(
        event=event,
        message_id=_id(message.get("message_id"), "message_id"),
        user_id=_id(sender.get("id"), "from.id"),
        chat_id=_id(chat.get("id"), "chat.id"),
        text=text if isinstance(text, str) else None,
        photo_url=photo if isinstance(photo, str) and photo.startswith("http") else None,
        caption=caption if isinstance(caption, str) else None,
    )


def is_private(update: dict[str, Any]) -> bool:
    """Tell whether an update comes from a private chat (a bot may be added to groups)."""
    chat = (update.get("message") or {}).get("chat") or {}
    return str(chat.get("chat_type", "PRIVATE")).upper() == "PRIVATE"


def dumps(update: dict[str, Any]) -> str:
    """Return an update as stored."""
    return json.dumps(update, ensure_ascii=False, separators=(",", ":"))
