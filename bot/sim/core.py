"""The state of the simulated Telegram and the primitives every group of Bot API methods
shares: its people, chats, stored messages, files and queued updates, the events that wake held
polls and waiting tests, and the checks on the chat a call names. SimCore is the base of the
mixins that make up BotApiSimulator; it answers nothing by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httpserver

from bot.sim.faults import Injection
from bot.sim.files import SYNTHETIC_SIZES, StoredFile
from bot.sim.flood import FloodControl, FloodViolation
from bot.sim.objects import chat_member
from bot.sim.people import SimChat, SimUser
from bot.sim.protocol import (
    BOT_ID,
    DEFAULT_TOKEN,
    DEFAULT_UPDATE_TYPES,
    TELEGRAM_USER,
    ApiError,
    JSONDict,
    Params,
    bad,
    date_now,
    migrated,
)

MessageListener = Callable[[int, JSONDict, str], object]
Handler = Callable[[Params], Awaitable[Any]]

_log = logging.getLogger(__name__)


class SimCore:
    """What the simulated Telegram knows, and how it changes; see BotApiSimulator for the rest."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
        enforce_limits: bool = False,
        strict_html: bool = True,
        bot_username: str = "liemchinh_bot",
        bot_name: str = "Liêm Chính",
        global_per_second: int = FloodControl.GLOBAL_PER_SECOND,
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
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._updates: list[JSONDict] = []
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._updates_changed = asyncio.Event()
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._sequence = 0
        self._update_id = 0
        self._open_callbacks: set[str] = set()
        self._listeners: list[MessageListener] = []
        self._injections: list[Injection] = []
        self._flood = FloodControl(global_per_second)
        self._down = False
        self._down_until = 0.0
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._menu_buttons: dict[int | None, JSONDict] = {}
        self._settings: dict[str, JSONDict] = {}
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._method_table().items()
        }

    def _method_table(self) -> dict[str, Handler]:
        """Every Bot API method the simulator answers, by its canonical name."""
        raise NotImplementedError  # BotApiSimulator gathers the methods of its mixins

    # -- people and chats by id -----------------------------------------------------------

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
            "date": date_now(),
            "old_chat_member": chat_member(self.bot_user, old, chat.type),
            "new_chat_member": chat_member(self.bot_user, new, chat.type),
        }
        self._queue_update("my_chat_member", payload)

    def _new_message(self, chat: SimChat, content: JSONDict, sender: JSONDict) -> JSONDict:
        """Store a new message in a chat, sent by a User object (the bot's or a person's)."""
        chat.last_message_id += 1
        message: JSONDict = {
            "message_id": chat.last_message_id,
            "date": date_now(),
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

    def _emit(self, chat_id: int, message: JSONDict, kind: str) -> None:
        """Tell listeners and waiters about a new or edited bot message."""
        for listener in list(self._listeners):
            try:
                listener(chat_id, message, kind)
            except Exception:  # a broken printer must not break the server
                _log.exception("message listener failed")
        self._notify()

    # -- files ----------------------------------------------------------------------------

    def _new_file(
        self, kind: str, content: bytes | None, size: int | None, meta: JSONDict | None = None
    ) -> StoredFile:
        """Register a file; without content its bytes are synthetic and cost no memory."""
        if content is not None and size is not None and size != len(content):
            raise ValueError("size must match len(content)")
        number = self._next_sequence()
        if content is not None:
            size = len(content)
        elif size is None:
            size = SYNTHETIC_SIZES.get(kind, 10_000)
        stored = StoredFile(
            file_id=f"sim-{kind}-{number}",
            file_unique_id=f"simu{number}",
            kind=kind,
            size=size,
            content=content,
            meta=dict(meta or {}),
        )
        self._files[stored.file_id] = stored
        return stored

    def _new_photo(self, content: bytes | None, size: int | None) -> StoredFile:
        """Register a photo as Telegram does, a thumbnail and the full size; return the latter."""
        full = self._new_file("photo", content, size)
        thumb = self._new_file("photo", None, min(full.size, 1_500) or 1)
        sizes = [
            {**thumb.media_object(), "width": 90, "height": 68},
            {**full.media_object(), "width": 1280, "height": 960},
        ]
        full.photo_sizes = thumb.photo_sizes = sizes
        return full

    def _media_content(self, stored: StoredFile, kind: str) -> Any:
        """What a message carries for a file sent as kind."""
        if kind == "photo":
            return [dict(size) for size in stored.photo_sizes or [stored.media_object()]]
        media = stored.media_object()
        if kind == "document" and stored.kind != "document":
            media = {key: media[key] for key in ("file_id", "file_unique_id", "file_size")}
        return media

    # -- the chat a call names ------------------------------------------------------------

    def _chat_param(self, p: Params, name: str = "chat_id") -> SimChat:
        """The chat a parameter names (id or @username), refusing upgraded groups."""
        value = p.values.get(name)
        if value is None or value == "":
            raise bad(f"{name} is empty")
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
            raise bad("chat not found")
        if chat.migrated_to is not None:
            raise migrated(chat.migrated_to)
        return chat

    def _target(self, p: Params, *, sending: bool) -> SimChat:
        """The chat of a call, with the 403s Telegram gives when the bot may not act there."""
        chat = self._chat_param(p)
        if chat.type == "private":
            if sending and chat.bot_status == "kicked":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if sending and not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if (
            sending
            and chat.type == "channel"
            and chat.bot_status not in ("administrator", "creator")
        ):
            raise bad("need administrator rights in the channel chat")
        return chat
