"""Webhook delivery as Telegram does it: updates POSTed to the bot, retried until answered 2xx.

Once the bot sets a webhook on 127.0.0.1 (`setWebhook`), the simulator POSTs each pending update
to it as JSON, with the secret token in `X-Telegram-Bot-Api-Secret-Token`, up to
`max_connections` at a time (Telegram's default 40), and a chat's updates one at a time, in
order: its next update goes out once the one before was answered 2xx, as Telegram's own server
queues them per chat. An update answered 2xx is delivered; any other answer, a refused
connection or a timeout leaves it pending and it is sent again after a growing delay, as
Telegram retries. The bot's webhook must be https://, as Telegram requires:
`route_webhook` says where the operator's HTTPS proxy would pass it on 127.0.0.1 (a balancer,
a worker). A webhook elsewhere without a route is only recorded (the tests post to it
themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient

from bot.sim.core import SimCore
from bot.sim.protocol import JSONDict, Params

DEFAULT_CONNECTIONS = 40
RETRY_FIRST = 0.2
RETRY_MAX = 2.0
POST_TIMEOUT = 10.0


class WebhookMixin(SimCore):
    """Pushes pending updates to the bot's webhook and counts what it answered."""

    webhook_secret: str | None = None
    webhook_connections: int = DEFAULT_CONNECTIONS
    # Answers other than 2xx (or no answer), by status (0: refused, reset or timed out).
    webhook_refusals: dict[int, int]
    _pusher: asyncio.Task[None] | None = None
    _retry_at: dict[int, tuple[float, float]]
    _routes: dict[str, str]

    def _posting(self, update: JSONDict) -> None:
        """Called as an update is posted (again, after a refusal): a probe may time it."""

    def route_webhook(self, url: str, local: str) -> None:
        """Deliver what is sent to the webhook `url` to `local`, an address on 127.0.0.1."""
        if urlsplit(local).hostname != "127.0.0.1":
            raise ValueError("the simulator delivers webhooks on 127.0.0.1 only")
        if not hasattr(self, "_routes"):
            self._routes = {}
        self._routes[url] = local

    async def _set_webhook(self, p: Params) -> bool:
        self.webhook_url = p.text("url") or None
        self.webhook_secret = p.text("secret_token") or None
        self.webhook_connections = int(p.text("max_connections") or DEFAULT_CONNECTIONS)
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        self._start_pushing()
        return True

    async def _delete_webhook(self, p: Params) -> bool:
        self.webhook_url = None
        self._stop_pushing()
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, p: Params) -> JSONDict:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
            "max_connections": self.webhook_connections,
        }

    def _start_pushing(self) -> None:
        """Push updates to the webhook just set, if it is on this machine."""
        self._stop_pushing()
        url = getattr(self, "_routes", {}).get(self.webhook_url or "", self.webhook_url)
        if url is None or urlsplit(url).hostname != "127.0.0.1":
            return
        if not hasattr(self, "webhook_refusals"):
            self.webhook_refusals = {}
        self._retry_at = {}
        self._pusher = asyncio.create_task(self._push(url), name="sim-webhook")

    def _stop_pushing(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            self._pusher = None

    async def _push(self, url: str) -> None:
        in_flight: dict[int, asyncio.Task[None]] = {}
        # tornado's client, not httpx's: httpx looks over its whole pool of connections for
        # each request, which at 40 connections made the simulator the slowest part of a load
        # test. tornado's opens a connection per request, as cheap on 127.0.0.1.
        client = AsyncHTTPClient(force_instance=True, max_clients=self.webhook_connections)
        with contextlib.closing(client):
            try:
                while not self._stopping:
                    loop = asyncio.get_running_loop()
                    now = loop.time()
                    # Chats with an update not yet delivered: their later updates wait.
                    waiting: set[int] = set()
                    for update in list(self._updates):
                        uid = update["update_id"]
                        chat = update_chat(update)
                        if chat is not None:
                            if chat in waiting:
                                continue
                            waiting.add(chat)
                        if len(in_flight) >= self.webhook_connections:
                            break
                        if uid in in_flight or self._retry_at.get(uid, (0.0, 0.0))[0] > now:
                            continue
                        in_flight[uid] = asyncio.create_task(
                            self._post_update(client, url, update)
                        )
                    changed = self._updates_changed
                    woken = asyncio.ensure_future(changed.wait())
                    waits: set[asyncio.Future[Any]] = {woken, *in_flight.values()}
                    soonest = min((t for t, _ in self._retry_at.values()), default=now + 1.0)
                    await asyncio.wait(
                        waits, timeout=max(0.01, soonest - now), return_when="FIRST_COMPLETED"
                    )
                    woken.cancel()
                    for uid, task in list(in_flight.items()):
                        if task.done():
                            del in_flight[uid]
            finally:
                for task in in_flight.values():
                    task.cancel()
                for task in in_flight.values():
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _post_update(self, client: AsyncHTTPClient, url: str, update: JSONDict) -> None:
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        status = 0
        self._posting(update)
        try:
            answer = await client.fetch(
                url,
                method="POST",
                body=json.dumps(update, ensure_ascii=False).encode("utf-8"),
                headers=headers,
                connect_timeout=POST_TIMEOUT,
                request_timeout=POST_TIMEOUT,
                # An answer other than 2xx is returned; no answer at all is raised.
                raise_error=False,
            )
            status = answer.code
        except Exception:
            # Refused, reset or timed out (tornado raises the network's own errors as they
            # come): nothing was answered, and Telegram tries again later.
            status = 0
        uid = update["update_id"]
        if 200 <= status < 300:
            self._retry_at.pop(uid, None)
            if update in self._updates:
                self._updates.remove(update)
            return
        self.webhook_refusals[status] = self.webhook_refusals.get(status, 0) + 1
        _, delay = self._retry_at.get(uid, (0.0, RETRY_FIRST / 2))
        delay = min(RETRY_MAX, delay * 2)
        self._retry_at[uid] = (asyncio.get_running_loop().time() + delay, delay)


def update_chat(update: JSONDict) -> int | None:
    """The chat an update belongs to (a press: the pressed message's), or None."""
    for kind, body in update.items():
        if kind == "update_id" or not isinstance(body, dict):
            continue
        if kind == "callback_query":
            body = body.get("message") or {}
        chat = body.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return None
