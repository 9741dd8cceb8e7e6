"""Zalo's webhook: POSTs carrying `X-Bot-Api-Secret-Token`, stored before they are answered 200.

`zalo_routes()` returns the routes (the webhook, and the photos units send), which the
application mounts on its one web server (`bot.app.http_routes`), beside Telegram's webhook.
A wrong or missing secret (compared in constant time) gets 403 and changes nothing; a body
that is not an update gets 400; a body over 1 MB gets 413 before it is read.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import tornado.web

from bot.config import ZaloConfig
from bot.store.repository import StorageError
from bot.zalo.intake import ZaloIntake
from bot.zalo.media import MediaShelf, media_routes
from bot.zalo.wire import BadUpdate, updates_of

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000


@tornado.web.stream_request_body
class ZaloWebhook(tornado.web.RequestHandler):
    """Takes Zalo's POSTs."""

    def initialize(self, config: ZaloConfig, intake: ZaloIntake) -> None:
        """Receive the configuration and the intake."""
        self.config = config
        self.intake = intake
        self._chunks: list[bytes] = []
        self._size = 0

    async def prepare(self) -> None:
        """Check the secret and the declared size before any of the body is read."""
        expected = (self.config.secret_token or "").encode()
        given = self.request.headers.get(SECRET_HEADER, "").encode()
        # compare_digest takes as long whatever the first differing byte: nothing is learnt.
        if not expected or not hmac.compare_digest(given, expected):
            self._answer(403, "forbidden")
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            self._answer(413, "too large")
            return
        self.request.connection.set_max_body_size(2 * MAX_BODY)  # type: ignore[union-attr]

    async def data_received(self, chunk: bytes) -> None:
        """Count a chunked body, refusing it past the limit."""
        if self._finished:
            return
        self._size += len(chunk)
        if self._size > MAX_BODY:
            self._answer(413, "too large")
            return
        self._chunks.append(chunk)

    async def post(self) -> None:
        """Store the update, then answer 200; 400 for a body that is not one."""
        if self._finished:
            return
        try:
            body: Any = json.loads(b"".join(self._chunks).decode("utf-8", "replace"))
            updates = updates_of(body)
            if not updates:
                raise BadUpdate("no update")
            for update in updates:
                await self.intake.receive(update)
        except (ValueError, RecursionError):
            self._answer(400, "not a Zalo update")
            return
        except StorageError:
            # Not stored, so not acknowledged: Zalo tries again.
            log.exception("Zalo update not stored")
            self._answer(503, "try again")
            return
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": status == 200, "description": text}))

    def log_exception(self, *args: Any) -> None:
        """Log without the request (its body is a citizen's message)."""
        log.error("Zalo webhook request failed")


def zalo_routes(
    config: ZaloConfig, intake: ZaloIntake, shelf: MediaShelf
) -> list[tuple[str, Any, dict[str, Any]]]:
    """Return the webhook's route (in webhook mode) and the photos', to mount in tornado."""
    routes = media_routes(shelf, config.media_path) if shelf.enabled else []
    if config.webhook:
        routes.append((config.path, ZaloWebhook, {"config": config, "intake": intake}))
    return routes
