"""Updates reach the handlers only through the database, so a crash loses none of them.

python-telegram-bot's own updater confirms a batch to Telegram (the next getUpdates offset)
before it has handled it: a crash then loses whatever was waiting in memory. Here every raw
update is written to the `inbound` table first; only then is its offset confirmed (by the next
getUpdates call) or, for a webhook, is Telegram answered 200. Updates are handed to
`Application.process_update` in order and deleted once handled; at start, whatever a crash
left unhandled is replayed. Handling is therefore at least once: the one update that was being
handled at the moment of a crash runs again, and the handlers are written to take that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.storage import Repository, StorageError

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10
MAX_BACKOFF = 30.0


class Inbound:
    """Stores updates, then hands them to the application one at a time, in order."""

    def __init__(self, app: Any, db: Repository) -> None:
        self.app = app
        self.db = db
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def accept(self, raw: list[dict[str, Any]]) -> None:
        """Store raw updates (already received ones are ignored) and wake the handler loop."""
        rows = [(int(u["update_id"]), json.dumps(u, ensure_ascii=False)) for u in raw]
        await self.db.store_updates(rows)
        self._wake.set()

    async def drain(self) -> int:
        """Handle every stored update, oldest first; return how many were handled."""
        handled = 0
        # One drain at a time: the order of updates is the order of a conversation.
        async with self._lock:
            while batch := await self.db.unhandled_updates(limit=100):
                for update_id, payload in batch:
                    update = Update.de_json(json.loads(payload), self.app.bot)
                    # process_update hands handler errors to the error handler itself; an
                    # update is done once its handlers ran, whatever they concluded.
                    await self.app.process_update(update)
                    await self.db.update_handled(update_id)
                    handled += 1
        return handled

    def start_polling(self) -> None:
        """Fetch updates with getUpdates in the background, storing each before confirming it."""
        self._tasks.append(asyncio.create_task(self._poll(), name="liemchinh-poll"))
        self._tasks.append(asyncio.create_task(self._handle(), name="liemchinh-handle"))

    def start_handling(self) -> None:
        """Handle stored updates in the background (webhook mode: requests store them)."""
        self._tasks.append(asyncio.create_task(self._handle(), name="liemchinh-handle"))

    async def stop(self) -> None:
        """Stop fetching and handling; what is stored stays for the next start."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _handle(self) -> None:
        while True:
            try:
                await self.drain()
            except StorageError:
                log.exception("stored updates unreadable; retrying")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_TIMEOUT)
            self._wake.clear()

    async def _poll(self) -> None:
        highest = await self.db.highest_update_id()
        offset = highest + 1 if highest is not None else None
        failures = 0
        while True:
            try:
                # Passing `offset` confirms to Telegram everything below it, and everything
                # below it is in the database already.
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=Update.ALL_TYPES,
                )
                if updates:
                    await self.accept([u.to_dict() for u in updates])
                    offset = max(u.update_id for u in updates) + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                wait = exc.retry_after
                await asyncio.sleep(
                    wait.total_seconds() if not isinstance(wait, int | float) else float(wait)
                )
            except InvalidToken:
                log.critical("Telegram refused the token; stopping the poller")
                raise
            except (Conflict, NetworkError, TimedOut, StorageError) as exc:
                # Another poller on the token (409), a network or database hiccup: wait, retry.
                failures += 1
                backoff = min(MAX_BACKOFF, 2.0**failures) * random.uniform(0.8, 1.2)
                log.warning("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)


def secret_matches(expected: str, given: str | None) -> bool:
    """Compare the webhook's secret token in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
