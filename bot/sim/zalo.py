"""A simulated Zalo Bot API on 127.0.0.1, in the wire format docs/channels.md describes.

`POST /bot{token}/{method}` with a JSON body, answered `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": n, "description": ...}`. getUpdates is a long poll answering one
update (Zalo's getUpdates takes no offset: an update is handed over once); after setWebhook
each update is POSTed to the webhook with `X-Bot-Api-Secret-Token`. Photos are links to this
server that can be made to expire. sendMessage refuses texts over 2,000 characters, and any
method can be made to fail (`fail_next`) or a person made unreachable (`refuse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web

HOST = "127.0.0.1"
TEXT_LIMIT = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
JSON = dict[str, Any]


@dataclass
class Fault:
    """A refusal the next calls of a method get."""

    code: int
    description: str
    times: int = 1
    retry_after: int | None = None


@dataclass
class ZaloUser:
    """A person on the simulated Zalo, writing to the bot."""

    sim: ZaloSimulator
    id: str
    name: str

    async def send_text(self, text: str) -> JSON:
        """Send a text message."""
        return await self.sim.push(self, "message.text.received", {"text": text})

    async def send_photo(self, data: bytes, caption: str = "", *, expired: bool = False) -> JSON:
        """Send a photo (served by the simulator at a link, expired at once if asked)."""
        url = self.sim.host_photo(data, expired=expired)
        extra: JSON = {"photo_url": url}
        if caption:
            extra["caption"] = caption
        return await self.sim.push(self, "message.image.received", extra)

    async def send_sticker(self) -> JSON:
        """Send a sticker."""
        return await self.sim.push(
            self, "message.sticker.received", {"sticker": "0e078a2fb66a5f34067b"}
        )

    async def send_unsupported(self) -> JSON:
        """Send something Zalo does not pass on to bots (a voice note, a location)."""
        return await self.sim.push(self, "message.unsupported.received", {})


@dataclass
class _State:
    updates: deque[JSON] = field(default_factory=deque)
    sent: dict[str, list[JSON]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    photos: dict[str, tuple[bytes, bool]] = field(default_factory=dict)
    webhook: str | None = None
    secret: str | None = None


class _Api(tornado.web.RequestHandler):
    def initialize(self, sim: ZaloSimulator) -> None:
        self.sim = sim
        self.gone = False

    def on_connection_close(self) -> None:
        """The bot went away (stopped, or killed) while a long poll was held."""
        self.gone = True
        self.sim.wake()

    def check_xsrf_cookie(self) -> None:
        """The bot sends no cookie."""

    async def post(self, token: str, method: str) -> None:
        if token != self.sim.token:
            self._answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._answer(400, {"ok": False, "error_code": 400, "description": "Bad JSON"})
            return
        self.sim.calls.append((method, body))
        fault = self.sim.state.faults.get(method)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.sim.state.faults[method]
            answer: JSON = {
                "ok": False,
                "error_code": fault.code,
                "description": fault.description,
            }
            if fault.retry_after is not None:
                answer["parameters"] = {"retry_after": fault.retry_after}
            self._answer(fault.code, answer)
            return
        try:
            if method == "getUpdates":
                result = await self.sim.get_updates(body, lambda: self.gone)
            else:
                result = await self.sim.method(method, body)
        except _Refused as exc:
            self._answer(exc.code, {"ok": False, "error_code": exc.code, "description": str(exc)})
            return
        self._answer(200, {"ok": True, "result": result})

    def _answer(self, status: int, payload: JSON) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, ensure_ascii=False))


class _Photo(tornado.web.RequestHandler):
    def initialize(self, sim: ZaloSimulator) -> None:
        self.sim = sim

    def get(self, name: str) -> None:
        found = self.sim.state.photos.get(name)
        if found is None or found[1]:
            # An expired link: Zalo's CDN answers 403 or 404.
            self.set_status(403)
            self.finish("expired")
            return
        self.set_header("Content-Type", "image/jpeg")
        self.finish(found[0])


class _Refused(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code


class ZaloSimulator:
    """The simulated Zalo Bot API, started with `async with`."""

    def __init__(self, token: str = "1459232241454765289:sim-token") -> None:
        self.token = token
        self.state = _State()
        self.calls: list[tuple[str, JSON]] = []
        self.port = 0
        self._server: tornado.httpserver.HTTPServer | None = None
        self._arrived = asyncio.Condition()
        self._ids = itertools.count(1)
        self._pusher: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=10)

    @property
    def base_url(self) -> str:
        """Return the base URL the bot is configured with."""
        return f"http://{HOST}:{self.port}"

    async def __aenter__(self) -> Self:
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z]+)", _Api, {"sim": self}),
                (r"/photos/([0-9a-f]+)\.jpg", _Photo, {"sim": self}),
            ],
            log_function=lambda _h: None,
        )
        self._server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, address=HOST)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        async with self._arrived:
            self._arrived.notify_all()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        await self._http.aclose()

    # -- people ---------------------------------------------------------------------------------

    def user(self, name: str) -> ZaloUser:
        """Return a new person with a Zalo-like opaque id."""
        return ZaloUser(self, secrets.token_hex(10), name)

    def host_photo(self, data: bytes, *, expired: bool = False) -> str:
        """Serve bytes at a photo link; return the link."""
        name = secrets.token_hex(8)
        self.state.photos[name] = (data, expired)
        return f"{self.base_url}/photos/{name}.jpg"

    def expire_photos(self) -> None:
        """Make every photo link expire, as Zalo's do after a while."""
        self.state.photos = {k: (v, True) for k, (v, _e) in self.state.photos.items()}

    async def push(self, user: ZaloUser, event: str, extra: JSON) -> JSON:
        """Queue one update from `user`, for getUpdates or the webhook."""
        message: JSON = {
            "from": {"id": user.id, "display_name": user.name, "is_bot": False},
            "chat": {"id": user.id, "chat_type": "PRIVATE"},
            "message_id": f"{next(self._ids):020x}",
            "date": int(time.time() * 1000),
            **extra,
        }
        update = {"event_name": event, "message": message}
        async with self._arrived:
            self.state.updates.append(update)
            self._arrived.notify_all()
        return update

    # -- what the bot sent ----------------------------------------------------------------------

    def sent(self, chat_id: str) -> list[JSON]:
        """Return what the bot sent to a person, oldest first."""
        return self.state.sent.get(chat_id, [])

    def texts(self, chat_id: str) -> str:
        """Return every text the bot sent a person, one message a paragraph."""
        return "\n\n".join(m.get("text") or m.get("caption") or "" for m in self.sent(chat_id))

    async def wait_for(
        self,
        chat_id: str,
        contains: str,
        *,
        after: int = 0,
        wait: float = 10.0,
    ) -> JSON:
        """Return the first message to `chat_id` from index `after` containing `contains`."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            for message in self.sent(chat_id)[after:]:
                if contains.lower() in (message.get("text") or "").lower():
                    return message
            if asyncio.get_running_loop().time() > deadline:
                recent = [m.get("text", "")[:200] for m in self.sent(chat_id)[-4:]]
                raise AssertionError(f"no message with {contains!r} to {chat_id}: {recent}")
            await asyncio.sleep(0.02)

    # -- faults ---------------------------------------------------------------------------------

    def fail_next(
        self, method: str, code: int = 500, *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Make the next `times` calls of `method` fail with `code`."""
        self.state.faults[method] = Fault(code, "Simulated failure", times, retry_after)

    def refuse(self, chat_id: str, refused: bool = True) -> None:
        """Make Zalo refuse (403) messages to a person, or take them again."""
        if refused:
            self.state.refused.add(chat_id)
        else:
            self.state.refused.discard(chat_id)

    # -- methods --------------------------------------------------------------------------------

    async def method(self, name: str, body: JSON) -> Any:
        """Answer one Bot API method."""
        if name == "getMe":
            return {
                "id": "1459232241454765289",
                "account_name": "bot.sim",
                "account_type": "BASIC",
            }
        if name == "setWebhook":
            url, secret = body.get("url"), body.get("secret_token")
            if not isinstance(url, str) or not isinstance(secret, str) or not 8 <= len(secret):
                raise _Refused(400, "url and a secret_token of 8-256 characters are required")
            self.state.webhook, self.state.secret = url, secret
            if self._pusher is None:
                self._pusher = asyncio.create_task(self._push_loop())
            return {"url": url, "updated_at": int(time.time() * 1000)}
        if name == "deleteWebhook":
            self.state.webhook = self.state.secret = None
            return {"url": "", "updated_at": int(time.time() * 1000)}
        if name == "getWebhookInfo":
            return {"url": self.state.webhook or "", "updated_at": int(time.time() * 1000)}
        if name in ("sendMessage", "sendPhoto"):
            return self._send(name, body)
        if name == "sendChatAction":
            self._chat(body)
            return True
        raise _Refused(404, f"Method {name} not found")

    def _chat(self, body: JSON) -> str:
        chat_id = body.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise _Refused(400, "chat_id is required")
        return chat_id

    def _send(self, name: str, body: JSON) -> JSON:
        chat_id = self._chat(body)
        key = "text" if name == "sendMessage" else "caption"
        text = body.get(key)
        if name == "sendMessage" and (not isinstance(text, str) or not text):
            raise _Refused(400, "text is required")
        if isinstance(text, str) and len(text) > TEXT_LIMIT:
            raise _Refused(400, f"{key} must be 1 to {TEXT_LIMIT} characters")
        if chat_id in self.state.refused:
            raise _Refused(403, "The user has not interacted with the bot recently")
        message = {"message_id": secrets.token_hex(10), "date": int(time.time() * 1000)}
        record = {**message, key: text}
        if name == "sendPhoto":
            record["photo"] = body.get("photo")
        self.state.sent.setdefault(chat_id, []).append(record)
        return message

    def wake(self) -> None:
        """Wake held long polls (one of them lost its connection)."""
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def get_updates(self, body: JSON, gone: Callable[[], bool]) -> JSON:
        """Hold a long poll until an update arrives; never hand one to a closed connection."""
        if self.state.webhook is not None:
            raise _Refused(409, "A webhook is set; getUpdates does not work")
        try:
            timeout = float(body.get("timeout", 30))
        except (TypeError, ValueError):
            timeout = 30.0
        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(timeout, 30.0)):
                    await self._arrived.wait_for(lambda: bool(self.state.updates) or gone())
            if not self.state.updates or gone():
                raise _Refused(408, "Request timeout")
            return self.state.updates.popleft()

    async def _push_loop(self) -> None:
        """Post each queued update to the webhook until it is answered 200."""
        while True:
            async with self._arrived:
                await self._arrived.wait_for(
                    lambda: bool(self.state.updates) and self.state.webhook is not None
                )
                update = self.state.updates[0]
            url, secret = self.state.webhook, self.state.secret
            assert url is not None and secret is not None
            try:
                response = await self._http.post(
                    url,
                    content=json.dumps({"ok": True, "result": update}, ensure_ascii=False),
                    headers={SECRET_HEADER: secret, "Content-Type": "application/json"},
                )
                delivered = response.status_code == 200
            except httpx.HTTPError:
                delivered = False
            if delivered:
                async with self._arrived:
                    if self.state.updates and self.state.updates[0] is update:
                        self.state.updates.popleft()
            else:
                await asyncio.sleep(0.2)
