"""Telegram's flood limits shared by every worker of one PostgreSQL database.

Each worker's `FloodLimiter` (`bot.telegram.limits`) keeps the limits of one process. With
several workers, the budget is the database's: before a message goes, its place is reserved in
one call on the server's clock (`bot.store.coordination.Coordinator.reserve_send`), which
spaces the whole bot's messages evenly (at most `per_second` a second) and each chat's by its
own limit, GCRA-style: a group `GROUP_BURST` at once and `GROUP_PER_MINUTE` in any minute, one
fewer than Telegram's 20, a person a burst of `PRIVATE_BURST` and then one every
`PRIVATE_STEP` seconds, a little slower than Telegram's one a second, so that a message that
travels a little slower than the one before it never tips a limit over. Replies go first: the
outbox takes a place only when nobody is queued ahead of it, except once it has waited
`outbox_wait` seconds, so it is never starved.

A chat Telegram told to wait (429) is held on every worker. If the database cannot be reached,
the call falls back on the process's own limiter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.store.coordination import CoordinationLost, Coordinator
from bot.telegram.limits import OVERALL_WINDOW, Lane

log = logging.getLogger(__name__)

GROUP_PER_MINUTE = 19
GROUP_BURST = 10
# A person's refill a little slower than Telegram's one a second, for the same room.
PRIVATE_STEP = 1.05
PRIVATE_BURST = 3
# The longest a caller sleeps before asking again for a place it was refused.
MAX_POLL = 1.0
# Budget rows of chats idle this long are deleted, at most this often.
FORGET_AFTER = 600.0
FORGET_EVERY = 300.0


class SharedBudget:
    """Reserves each message's place in the budget all workers share."""

    def __init__(
        self,
        coordination: Coordinator,
        *,
        per_second: float,
        outbox_wait: float,
        pace_private_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coordination = coordination
        # Evenly spaced, so that no window of Telegram's second holds more than `per_second`,
        # with the same room for transit time as the single process's window.
        self.step = OVERALL_WINDOW / per_second
        self.outbox_wait = outbox_wait
        self.pace_private_chats = pace_private_chats
        self.clock = clock
        self._forgot_at = float("-inf")

    async def slot(self, chat_id: int | None, lane: Lane) -> bool:
        """Wait for the message's place in the shared budget; False if it cannot be reached."""
        key, chat_step, chat_burst = self._chat(chat_id)
        started = self.clock()
        try:
            while True:
                yielding = lane is Lane.OUTBOX and self.clock() - started < self.outbox_wait
                reserved, wait = await self.coordination.reserve_send(
                    key, chat_step, chat_burst, self.step, yielding
                )
                if reserved:
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await self._forget()
                    return True
                await asyncio.sleep(min(max(wait, self.step / 2), MAX_POLL))
        except CoordinationLost:
            log.warning("the shared flood budget is unreachable; this worker's own limits apply")
            return False

    async def hold(self, chat_id: int | None, seconds: float) -> None:
        """Hold a chat's messages on every worker for as long as Telegram asked."""
        key, _step, _burst = self._chat(chat_id)
        if key is None:
            return
        try:
            await self.coordination.hold_send(key, seconds)
        except CoordinationLost:
            return

    def _chat(self, chat_id: int | None) -> tuple[str | None, float, float]:
        """Return a chat's budget key, its spacing and how far ahead a burst may go."""
        if chat_id is None:
            return None, 0.0, 0.0
        if chat_id < 0:
            # Over any minute: GROUP_BURST at once plus one every `step`, at most 19 in all.
            step = 60.0 / (GROUP_PER_MINUTE - GROUP_BURST)
            return f"c{chat_id}", step, (GROUP_BURST - 1) * step
        if not self.pace_private_chats:
            return None, 0.0, 0.0
        return f"c{chat_id}", PRIVATE_STEP, (PRIVATE_BURST - 1) * PRIVATE_STEP

    async def _forget(self) -> None:
        now = self.clock()
        if now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        try:
            await self.coordination.forget_send_keys(FORGET_AFTER)
        except CoordinationLost:
            return
