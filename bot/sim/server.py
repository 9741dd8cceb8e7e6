"""The simulated Telegram Bot API server: BotApiSimulator serves the Bot API wire format over
HTTP on 127.0.0.1 (tornado, in the caller's event loop) so that an unmodified python-telegram-bot
Application can poll it, while the test, the demo or the benchmark plays the people on the other
side. This module holds the HTTP side, the server's lifecycle, getUpdates long polling, flood
accounting and fault injection, and gathers the Bot API methods of the mixins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import time
from typing import Self

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.sim.chats import ChatsMixin
from bot.sim.core import Handler
from bot.sim.editing import EditingMixin
from bot.sim.faults import Injection
from bot.sim.flood import FloodViolation, counts_as_message
from bot.sim.protocol import (
    DEFAULT_DESCRIPTIONS,
    DEFAULT_UPDATE_TYPES,
    HOST,
    MAX_UPLOAD_BYTES,
    ApiError,
    JSONDict,
    Params,
)
from bot.sim.settings import SettingsMixin
from bot.sim.webhook import WebhookMixin
from bot.sim.world import WorldMixin

_log = logging.getLogger(__name__)


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
        try:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; Telegram writes it as the escape \ud800.
            body = json.dumps(payload).encode("ascii")
        self.finish(body)


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


class BotApiSimulator(WorldMixin, EditingMixin, ChatsMixin, SettingsMixin, WebhookMixin):
    """A Telegram Bot API server on 127.0.0.1 with simulated people, chats and faults."""

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
            Injection(
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

    def clear_injections(self) -> None:
        """Forget every planned answer not yet used: calls succeed again."""
        self._injections.clear()

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
            return ApiError(502, "Bad Gateway").answer()
        if token != self.token:
            return ApiError(401, "Unauthorized").answer()
        try:
            params = Params.from_request(handler.request)
        except ApiError as error:
            return error.answer()
        params.abandoned = lambda: handler.gone
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        self.calls.append((name, params.decoded()))
        if entry is None:
            return ApiError(404, "Not Found: method not found").answer()
        injection = self._take_injection(name, params)
        if injection is not None:
            if injection.delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(injection.delay):
                        await self._stop_event.wait()
            if injection.status != 200:
                return injection.error().answer()
        try:
            if counts_as_message(name):
                self._check_flood(name, params)
            result = await entry[1](params)
        except ApiError as error:
            return error.answer()
        if injection is not None and injection.lose_answer:
            handler.detach().close()
            return None
        return 200, {"ok": True, "result": result}

    def _take_injection(self, method: str, params: Params) -> Injection | None:
        """Use up one planned answer for this call, if any applies."""
        chat_id = params.values.get("chat_id")
        for injection in self._injections:
            if injection.matches(method, chat_id):
                injection.times -= 1
                if injection.times == 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _check_flood(self, method: str, params: Params) -> None:
        """Count a message against Telegram's limits; answer 429 if they are enforced."""
        try:
            chat_id = params.integer("chat_id")
        except ApiError:
            chat_id = None
        chat = self._chats.get(chat_id) if chat_id is not None else None
        verdict = self._flood.admit(chat_id, chat.type if chat else None, time.monotonic())
        if verdict is None:
            return
        limit, retry_after = verdict
        self.flood_violations += 1
        self.flood_log.append(FloodViolation(method, chat_id, limit, retry_after))
        if self.enforce_limits:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    async def _serve_file(self, handler: _FileHandler, token: str, file_path: str) -> None:
        """Stream a file's bytes."""
        if self.is_down:
            handler.answer(*ApiError(502, "Bad Gateway").answer())
            return
        if token != self.token:
            handler.answer(*ApiError(401, "Unauthorized").answer())
            return
        stored = self._files_by_path.get(file_path)
        if stored is None:
            handler.answer(*ApiError(404, "Not Found").answer())
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

    # -- the Bot API methods of the mixins ------------------------------------------------

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

    # -- long polling ---------------------------------------------------------------------

    async def _get_updates(self, p: Params) -> list[JSONDict]:
        """Long poll: hold until an update can be delivered or the timeout passes."""
        if self.webhook_url:
            raise ApiError(
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
                raise ApiError(409, DEFAULT_DESCRIPTIONS[409])
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
            kind = next((key for key in update if key != "update_id"), None)
            if kind is None or kind in self._allowed_updates:
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch
