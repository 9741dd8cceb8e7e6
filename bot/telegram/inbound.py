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
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.i18n import pick_locale
from bot.store.repository import Repository, StorageError

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
        # Updates handled whose row could not be deleted yet (the database refused): they must
        # not run again, so this process remembers them until the deletion goes through.
        self._done: set[int] = set()
        # People already told that the service is briefly down, so each hears it once.
        self._told: set[int] = set()

    async def accept(self, raw: list[dict[str, Any]]) -> None:
        """Store raw updates (already received ones are ignored) and wake the handler loop."""
        rows = [(int(u["update_id"]), json.dumps(u, ensure_ascii=False)) for u in raw]
        await self.db.inbound.store_updates(rows)
        self._wake.set()

    async def drain(self) -> int:
        """Handle every stored update, oldest first; return how many were handled."""
        handled = 0
        # One drain at a time: the order of updates is the order of a conversation.
        async with self._lock:
            while batch := await self.db.inbound.unhandled_updates(limit=100):
                for update_id, payload in batch:
                    if update_id not in self._done:
                        update = Update.de_json(json.loads(payload), self.app.bot)
                        # process_update hands handler errors to the error handler itself; an
                        # update is done once its handlers ran, whatever they concluded.
                        await self.app.process_update(update)
                        self._done.add(update_id)
                        handled += 1
                    await self.db.inbound.update_handled(update_id)
                    self._done.discard(update_id)
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
        highest = await self.db.inbound.highest_update_id()
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
                    try:
                        await self.accept([u.to_dict() for u in updates])
                    except StorageError:
                        # Not stored, so not confirmed: Telegram keeps them and sends them
                        # again. The people waiting are told once that their message is safe.
                        await self._tell_unavailable(updates)
                        raise
                    self._told.clear()
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

    async def _tell_unavailable(self, updates: list[Update]) -> None:
        settings = self.app.bot_data["services"].settings
        translator = self.app.bot_data["services"].translator
        for update in updates:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None or chat.type != chat.PRIVATE or user.id in self._told:
                continue
            self._told.add(user.id)
            _ = translator.get(pick_locale(user.language_code, settings.default_locale))
            # A button press is left unanswered here: its handler answers it when it runs.
            with contextlib.suppress(TelegramError):
                await self.app.bot.send_message(
                    chat.id,
                    _(
                        "Sorry, the service is briefly unavailable. Your message is kept and"
                        " will be handled as soon as it is back; there is no need to send it"
                        " again."
                    ),
                )


def secret_matches(expected: str, given: str | None) -> bool:
    """Compare the webhook's secret token in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
