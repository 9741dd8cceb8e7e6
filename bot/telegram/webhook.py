"""Webhook mode: Telegram POSTs updates here; 200 only once an update is in the database."""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.config import WebhookConfig
from bot.store.repository import StorageError
from bot.telegram.inbound import Inbound, secret_matches

log = logging.getLogger(__name__)

# Telegram's updates are small; anything far larger is not Telegram.
MAX_BODY = 1_000_000


class _UpdateHandler(tornado.web.RequestHandler):
    def initialize(self, inbound: Inbound, secret: str) -> None:
        self.inbound = inbound
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if not secret_matches(self.secret, given):
            # Whoever this is, they learn nothing and change nothing.
            self.set_status(403)
            return
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.set_status(415)
            return
        try:
            update = json.loads(self.request.body)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                raise ValueError("no update_id")
        except ValueError:
            self.set_status(400)
            return
        try:
            await self.inbound.accept([update])
        except StorageError:
            # Telegram retries an update it could not deliver: better later than lost.
            log.exception("could not store an update; Telegram will send it again")
            self.set_status(503)
            return
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:
        # A request body holds personal data: never let a traceback print it.
        log.error("webhook request failed")


class WebhookServer:
    """A small HTTP server on `listen:port` answering Telegram's POSTs on the URL's path."""

    def __init__(self, config: WebhookConfig, inbound: Inbound) -> None:
        if not config.url or not config.secret_token:
            raise ValueError("webhook mode needs [webhook] url and secret_token")
        self.config = config
        routes = [
            (config.path, _UpdateHandler, {"inbound": inbound, "secret": config.secret_token})
        ]
        self._app = tornado.web.Application(routes, log_function=lambda handler: None)
        self._server: tornado.httpserver.HTTPServer | None = None

    def start(self, port: int | None = None) -> int:
        """Listen; return the port (a free one when `port` is 0, for tests)."""
        server = tornado.httpserver.HTTPServer(self._app, max_body_size=MAX_BODY)
        sockets = tornado.netutil.bind_sockets(
            self.config.port if port is None else port, address=self.config.listen
        )
        server.add_sockets(sockets)
        self._server = server
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()
            await server.close_all_connections()
