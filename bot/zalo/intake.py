"""Zalo updates into the database, then to the handler, one at a time in arrival order.

Each update is stored before it is acted on, and before a webhook request is answered 200;
a crash replays what was stored and not yet handled. Zalo's getUpdates takes no offset (it
hands an update over once), so a polled update is stored the moment it arrives. A message Zalo
sends again is recognised by its message id and not stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.store.repository import Repository, StorageError
from bot.zalo.client import ZaloClient, ZaloError
from bot.zalo.services import CHANNEL
from bot.zalo.wire import BadUpdate, ZaloEvent, dumps, is_private, read_event, updates_of

log = logging.getLogger(__name__)

Handler = Callable[[int, ZaloEvent], Awaitable[None]]
BACKOFF_MAX = 60.0
# Zalo answers a long poll that found nothing with this code (docs/channels.md).
POLL_TIMEOUT_CODES = (408,)
SHARED_LOOK = 1.0


class ZaloIntake:
    """Stores Zalo updates (polled or posted) and hands them to the handler in order."""

    def __init__(
        self, client: ZaloClient, db: Repository, handle: Handler, keep_state: float
    ) -> None:
        self.client = client
        self.db = db
        self.handle = handle
        # What a person was shown is kept this long without a change ([privacy] draft_days).
        self.keep_state = keep_state
        self._pruned = float("-inf")
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def receive(self, update: dict[str, Any]) -> bool:
        """Store one update; False for a resend. BadUpdate if it is not one the bot can use."""
        event = read_event(update)
        if not is_private(update):
            # Bots may be added to groups; reports are made in private only.
            return False
        stored = await self.db.channels.store_inbound(CHANNEL, event.message_id, dumps(update))
        self._wake.set()
        return stored

    def start_polling(self) -> None:
        """Poll getUpdates, and handle what is stored."""
        self._tasks.append(asyncio.create_task(self._poll(), name="zalo-poll"))
        self.start_handling()

    def start_handling(self) -> None:
        """Handle stored updates (webhook mode: the server stores them)."""
        self._tasks.append(asyncio.create_task(self._handle_loop(), name="zalo-handle"))
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling and handling; what is stored stays for the next start."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        failures = 0
        while True:
            try:
                result = await self.client.get_updates()
                failures = 0
            except ZaloError as exc:
                if exc.code in POLL_TIMEOUT_CODES:
                    continue
                failures += 1
                delay = min(BACKOFF_MAX, 2.0**failures)
                log.warning("Zalo getUpdates failed (%s); retrying in %.0f s", exc.code, delay)
                await asyncio.sleep(delay)
                continue
            for update in updates_of(result):
                try:
                    await self._store(update)
                except BadUpdate as exc:
                    log.warning("Zalo update set aside: %s", exc)

    async def _store(self, update: dict[str, Any]) -> None:
        """Store a polled update, waiting out a busy database: it will not be sent again."""
        for delay in (0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
            try:
                await self.receive(update)
                return
            except StorageError:
                log.warning("Zalo update not yet stored; retrying")
                await asyncio.sleep(delay)
        await self.receive(update)

    async def _prune(self) -> None:
        """Delete stale conversation states, once an hour."""
        now = asyncio.get_running_loop().time()
        if now - self._pruned < 3600:
            return
        self._pruned = now
        try:
            removed = await self.db.channels.expire_states(self.db.clock() - self.keep_state)
        except StorageError:
            log.warning("stale Zalo states not pruned; trying again in an hour")
            return
        if removed:
            log.info("retention: %d Zalo conversation states removed", removed)

    async def _handle_loop(self) -> None:
        failures = 0
        while True:
            await self._prune()
            try:
                # Behind several workers, one handles the stored messages, in their order.
                leads = await self.db.channels.lead_intake()
                pending = await self.db.channels.pending_inbound(CHANNEL) if leads else []
            except StorageError:
                log.exception("Zalo updates unreadable; retrying")
                pending = []
            for stored in pending:
                try:
                    event = read_event(stored.payload)
                    await self.handle(stored.seq, event)
                except StorageError:
                    # The database refused: the update stays stored and is tried again.
                    log.exception("Zalo update %s not handled; retrying", stored.seq)
                    await asyncio.sleep(1.0)
                    break
                except ZaloError as exc:
                    if not (exc.network or exc.rate_limited or exc.code >= 500):
                        # Zalo refuses to write to this person: nothing to retry.
                        log.warning("Zalo refused a reply (%s)", exc.code)
                        await self.db.channels.inbound_handled(stored.seq)
                        continue
                    # Zalo could not take the reply now: the update is handled again later,
                    # when the question is shown again rather than its answer taken twice.
                    failures += 1
                    delay = min(BACKOFF_MAX, 2.0**failures)
                    log.warning("Zalo reply failed (%s); retrying in %.0f s", exc.code, delay)
                    await asyncio.sleep(delay)
                    break
                except Exception:
                    # A bug on one update must not stop every other; never the content logged.
                    log.exception("Zalo update %s failed", stored.seq)
                failures = 0
                await self.db.channels.inbound_handled(stored.seq)
            if not pending:
                self._wake.clear()
                # Behind several workers, another one may have stored a message: look sooner.
                wait = SHARED_LOOK if self.db.database.shared else 5.0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
