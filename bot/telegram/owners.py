"""Stored updates on a database several workers share: each chat owned by one worker at a time.

Telegram's webhook requests reach any worker behind the balancer, and each worker stores what
reaches it (`bot.telegram.inbound`). A chat's updates must still be handled one at a time and
in order, so a worker handles a chat only while it holds the chat's advisory lock
(`bot.store.coordination`). Holding it, the worker reads that chat's rows afresh from the
database, in Telegram's order (update_id), and handles them one by one, deleting each row
before it goes on; it releases the chat once no row is left, and only then.

No row is left behind:
- the worker that stores a row offers its chat to itself at once (no wait on the normal path);
- if another worker holds the chat, that worker reads the chat's rows again after releasing
  it: a row stored after its last read, whose worker found the chat taken, was committed
  before that worker tried the lock, so before the release, and the read after the release
  sees it;
- every worker sweeps the table every `SWEEP_SECONDS` for chats with rows (those of a worker
  that died, whose locks the server released with its session) and offers them to itself.

A turn handles at most `TURN` updates before the chat is released and offered again behind the
other chats, so one busy chat never holds up the others. Up to `LANES` chats are worked at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.store.coordination import CoordinationLost, Coordinator, chat_lock
from bot.store.repository import Repository, StorageError
from bot.telegram.lanes import Lanes

log = logging.getLogger(__name__)

# How often the table is swept for chats nobody works on (a dead worker's rows).
SWEEP_SECONDS = 1.0
# Updates handled in one turn before the chat goes to the back of the line.
TURN = 20
# A chat's rows read at once.
PAGE = 20
# Chats offered by one sweep at most.
SWEEP_CHATS = 500


class Handling(Protocol):
    """What the owner of a chat needs of the intake (`bot.telegram.inbound.Inbound`)."""

    db: Repository

    async def handle_owned(self, update_id: int, payload: str) -> None: ...

    def undeleted(self, update_id: int) -> bool: ...

    async def forget_undeleted(self) -> None: ...


class ChatOwners:
    """Hands stored updates to the application, a chat at a time, while owning the chat."""

    def __init__(self, inbound: Handling, coordination: Coordinator) -> None:
        self._inbound = inbound
        self._db = inbound.db
        self._coordination = coordination
        self._lanes: Lanes[int] = Lanes(self._turn)
        # Chats queued for a turn and not begun: offered again, they need no second turn.
        self._offered: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the turns and the sweep (which also takes up what a crash left)."""
        self._lanes.start()
        if self._task is None:
            self._task = asyncio.create_task(self._sweep(), name="liemchinh-sweep")

    async def stop(self, grace: float) -> None:
        """Stop sweeping; finish the updates in hand for up to `grace` seconds."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._lanes.stop(grace)
        self._offered.clear()

    def offer(self, chat_id: int) -> None:
        """Give the chat a turn: its rows are handled if nobody else owns it."""
        if chat_id not in self._offered:
            self._offered.add(chat_id)
            self._lanes.submit(chat_id, chat_id)

    async def idle(self) -> None:
        """Wait until no turn is queued or running (tests)."""
        await self._lanes.idle()

    async def _sweep(self) -> None:
        while True:
            try:
                await self._inbound.forget_undeleted()
                for chat_id in await self._db.inbound.waiting_chats(SWEEP_CHATS):
                    self.offer(chat_id)
            except StorageError:
                log.warning("stored updates unreadable; retrying")
            except Exception as exc:
                # Nothing may stop the sweep; the error's text may hold data.
                log.error("sweeping stored updates failed (%s)", type(exc).__name__)
            await asyncio.sleep(SWEEP_SECONDS)

    async def _turn(self, chat_id: int) -> None:
        self._offered.discard(chat_id)
        key = chat_lock(chat_id)
        try:
            if not await self._coordination.try_lock(key):
                # Its owner reads the chat again once it releases it.
                return
        except CoordinationLost:
            return
        try:
            more = await self._work(chat_id, key)
        finally:
            await self._coordination.unlock(key)
        # A row stored while this worker held the chat, by a worker that found it taken.
        if more or await self._waiting(chat_id):
            self.offer(chat_id)

    async def _work(self, chat_id: int, key: int) -> bool:
        """Handle the chat's rows while it is owned; True if some are left for another turn."""
        handled = 0
        while handled < TURN:
            rows = await self._pending(chat_id)
            if not rows:
                return False
            for update_id, payload in rows:
                if not self._coordination.holds(key):
                    # The session was lost, and with it the chat: another worker may own it.
                    return False
                await self._inbound.handle_owned(update_id, payload)
                handled += 1
        return True

    async def _pending(self, chat_id: int) -> list[tuple[int, str]]:
        rows = await self._db.inbound.chat_updates(chat_id, PAGE)
        # Handled already, their deletion refused for now: retried by the sweep.
        return [row for row in rows if not self._inbound.undeleted(row[0])]

    async def _waiting(self, chat_id: int) -> bool:
        try:
            return bool(await self._pending(chat_id))
        except StorageError:
            # The sweep finds them.
            return False
