"""Webhook mode: Telegram POSTs updates here; 200 only once an update is in the database.

Anything that is not a well-formed update is refused with 400 (never 500): a body that is not
a JSON object, or whose update_id is not a 32-bit integer. A well-formed update that
python-telegram-bot cannot read is set aside (quarantine) and answered 200, so that Telegram
does not send it forever. A body over 1 MB is refused with 413 before it is read. The route is
mounted on the process's one web server (`bot.app.http_routes`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.web

from bot.config import WebhookConfig
from bot.store.repository import StorageError
from bot.telegram.inbound import Inbound, secret_matches
from bot.telegram.wire import valid_update_id

log = logging.getLogger(__name__)

# Telegram's updates are small; anything far larger is not Telegram.
MAX_BODY = 1_000_000


@tornado.web.stream_request_body
class _UpdateHandler(tornado.web.RequestHandler):
    # Not in the request log: Telegram's POSTs come with every update.
    quiet = True

    def initialize(self, inbound: Inbound, secret: str) -> None:
        self.inbound = inbound
        self.secret = secret
        self._chunks: list[bytes] = []
        self._size = 0

    async def prepare(self) -> None:
        # Runs once the headers are in and before any of the body is read.
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if not secret_matches(self.secret, given):
            # Whoever this is, they learn nothing and change nothing.
            await self._refuse(403)
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await self._refuse(413)
            return
        # A body sent in chunks has no length to check: data_received counts it instead. Up
        # to twice the limit reaches it; tornado itself refuses a single chunk beyond that.
        self.request.connection.set_max_body_size(2 * MAX_BODY)  # type: ignore[union-attr]

    async def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._size += len(chunk)
        if self._size > MAX_BODY:
            await self._refuse(413)
            return
        self._chunks.append(chunk)

    async def post(self) -> None:
        if self._finished:
            return
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.set_status(415)
            return
        try:
            # Bytes that are not UTF-8 are read as U+FFFD, as python-telegram-bot reads answers.
            update = json.loads(b"".join(self._chunks).decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            self.set_status(400)
            return
        if not isinstance(update, dict) or not valid_update_id(update.get("update_id")):
            self.set_status(400)
            return
        try:
            await self.inbound.accept([update])
        except StorageError:
            # Telegram retries an update it could not deliver: better later than lost.
            log.warning("could not store an update; Telegram will send it again")
            self.set_status(503)
            return
        self.set_status(200)

    async def _refuse(self, status: int) -> None:
        self.set_status(status)
        await self.finish()
        # Closing the connection is what keeps the rest of the body from being read.
        self.request.connection.close()  # type: ignore[union-attr]

    def log_exception(self, *args: Any) -> None:
        # A request body holds personal data: never let a traceback print it.
        log.error("webhook request failed")


def webhook_routes(config: WebhookConfig, inbound: Inbound) -> list[tuple[Any, ...]]:
    """Return the route answering Telegram's POSTs on the URL's path, for the one server."""
    if not config.url or not config.secret_token:
        raise ValueError("webhook mode needs [webhook] url and secret_token")
    return [(config.path, _UpdateHandler, {"inbound": inbound, "secret": config.secret_token})]
