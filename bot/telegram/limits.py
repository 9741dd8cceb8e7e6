"""Telegram's flood limits for every message the bot sends, replies to people first.

Telegram allows about 30 messages a second overall, 20 a minute in a group or channel, and
about one a second (a burst of three) in a private chat; beyond that it answers 429. Every call
that sends or edits a message passes through `FloodLimiter`:

- a chat's own limit is waited for first, in that chat alone, so one chat's backlog or flood
  wait never holds up another chat;
- the overall budget is then handed out one slot at a time, to replies first: a person waiting
  for the next question goes before the outbox's alerts and notices. The budget is a sliding
  window: a message holds its place from the moment it is let go until OVERALL_WINDOW seconds
  after Telegram answered it, and at most `per_second` places are held. Telegram counts a
  message at some moment between the two, so however long each one spends on its way, no
  second at Telegram's end holds more than `per_second` (a window counted from the moment of
  sending alone would let a slow message and the quick ones after it land within one second).
  A reply goes at once whenever the last second left room, rather than waiting for the next
  evenly spaced slot; the outbox alone is spaced evenly, so that it never fills the window in a
  burst. The outbox uses what replies leave, and leaves them room: it takes a place only while
  `reserve` places stay free, as many as replies held in the last window plus REPLY_HEADROOM,
  at most a third of the budget. (When many reports are sent within a few seconds, their codes
  and alerts would otherwise fill the window and the next person's question would wait for
  it.) The outbox is never starved: while it holds fewer than `outbox_share` places of the
  window, it goes first, into the reserve too. Within the outbox, a citizen's code
  (`PRESSING`) goes before the alerts and notices waiting: its person has just pressed Send;
- a reply a person waits for is tried again, with backoff, through 429s and passing network
  errors for `patience` seconds. The outbox's calls are not: it retries its items from the
  database, for as long as it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from enum import IntEnum
from typing import Any, Protocol

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Set in the outbox worker's task: its calls are retried by the outbox itself, from storage.
IN_OUTBOX: contextvars.ContextVar[bool] = contextvars.ContextVar("in_outbox", default=False)
# Set by the outbox for a call a person is waiting for (a citizen's code, just after Send): it
# goes before the outbox's other calls waiting, still within the outbox's part of the budget.
PRESSING: contextvars.ContextVar[bool] = contextvars.ContextVar("pressing", default=False)

# How long a reply may keep trying: long enough for a short outage or a flood wait, short
# enough that the person's later messages are not held up for long.
REPLY_PATIENCE = 30.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0
# Telegram's limits, as the simulator enforces them (bot/sim/flood.py).
GROUP_PER_MINUTE = 20
GROUP_WINDOW = 60.0
PRIVATE_RATE = 1.0
PRIVATE_BURST = 3.0
# Behind several workers (bot.telegram.shared_limits): the longest the outbox's next call
# yields to replies before it takes the next place.
OUTBOX_WAIT = 1.0
# The outbox leaves free as many places of the overall budget as replies held in the last
# window, plus this many for a burst of replies beyond that, and at most RESERVE_PART of it.
REPLY_HEADROOM = 3
RESERVE_PART = 1 / 3
# The part of the overall budget the outbox always gets, whatever the replies ask for: 3 a
# second at Telegram's 30, so an alert waits behind replies for a fraction of a second.
OUTBOX_PART = 0.1
# The overall budget's window: Telegram's second, with room for the calls' varying transit
# time, so that no second at Telegram's end holds more than `per_second`.
OVERALL_WINDOW = 1.05
# Every this many chat slots, the chats whose limits have fully recovered are forgotten: a
# person's bucket full again, a group's minute empty, a 429's wait over. Kept, they would
# add up to one entry for every chat the bot ever wrote to.
FORGET_EVERY = 1000
_EPSILON = 1e-6

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]


class Lane(IntEnum):
    """Who is waiting for a slot of the overall budget; lower goes first."""

    REPLY = 0
    OUTBOX = 1


def counts_as_message(endpoint: str) -> bool:
    """Tell whether a call sends or edits a message, the calls Telegram's limits count."""
    if endpoint == "sendChatAction":
        return False
    return endpoint.startswith(("send", "edit")) or endpoint in ("copyMessage", "forwardMessage")


class SharedSlots(Protocol):
    """The budget several workers share (`bot.telegram.shared_limits.SharedBudget`)."""

    async def slot(self, chat_id: int | None, lane: Lane) -> bool: ...

    async def hold(self, chat_id: int | None, seconds: float) -> None: ...


class FloodLimiter(BaseRateLimiter[int]):
    """Telegram's limits per chat and overall, with replies served before the outbox."""

    def __init__(
        self,
        *,
        per_second: float = 29.0,
        patience: float = REPLY_PATIENCE,
        pace_private_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / per_second
        self.capacity = max(1, int(per_second))
        self.pace_private_chats = pace_private_chats
        self.patience = patience
        self.outbox_share = max(1, round(self.capacity * OUTBOX_PART))
        self.max_reserve = int(self.capacity * RESERVE_PART)
        self.clock = clock
        # When the messages answered in the last OVERALL_WINDOW seconds were answered (and for
        # whom), and how many are on their way: together, the places of the overall budget
        # held. `_lane_held` counts them by lane.
        self._window: deque[tuple[float, Lane]] = deque()
        self._in_flight = 0
        self._lane_held = {lane: 0 for lane in Lane}
        self._freed = asyncio.Event()
        self._outbox_next = 0.0
        self._waiting: dict[Lane, deque[tuple[float, asyncio.Future[None]]]] = {
            lane: deque() for lane in Lane
        }
        # The pressing calls waiting in the outbox's queue: always at its head, in turn.
        self._pressing: set[asyncio.Future[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._groups: dict[int, deque[float]] = {}
        self._private: dict[int, tuple[float, float]] = {}
        # A chat Telegram told to wait (429): its calls wait, nobody else's do.
        self._held: dict[int, float] = {}
        self._slots = 0
        # Set when several workers share the budget: it replaces this process's own.
        self.shared: SharedSlots | None = None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Stop handing out slots; calls still waiting are cancelled."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for queue in self._waiting.values():
            for _since, future in queue:
                future.cancel()
            queue.clear()
        self._pressing.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        """Send within the limits; a reply to a person is retried within the patience."""
        if not counts_as_message(endpoint):
            return await callback(*args, **kwargs)
        chat_id = _chat_id(data.get("chat_id"))
        lane = Lane.OUTBOX if IN_OUTBOX.get() else Lane.REPLY
        if lane is Lane.OUTBOX:
            return await self._send(callback, args, kwargs, chat_id, lane)
        deadline = self.clock() + self.patience
        backoff = FIRST_BACKOFF
        while True:
            try:
                return await self._send(callback, args, kwargs, chat_id, lane)
            except BadRequest:
                # Telegram understood and refused: the same request would be refused again.
                raise
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                if self.clock() + wait > deadline:
                    raise
            except NetworkError:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                if self.clock() + wait > deadline:
                    raise
            log.info("%s to a person failed; trying again in %.1f s", endpoint, wait)
            await asyncio.sleep(wait)

    async def _send(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        chat_id: int | None,
        lane: Lane,
    ) -> JSONResult:
        own = self.shared is None or not await self.shared.slot(chat_id, lane)
        if own:
            if chat_id is not None:
                await self._chat_slot(chat_id)
            await self._overall_slot(lane)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            if chat_id is not None:
                self._held[chat_id] = self.clock() + _seconds(exc.retry_after)
            if self.shared is not None:
                await self.shared.hold(chat_id, _seconds(exc.retry_after))
            raise
        finally:
            if own:
                self._release(lane)

    # -- a chat's own limit ---------------------------------------------------------------------

    async def _chat_slot(self, chat_id: int) -> None:
        """Wait until the chat may receive one more message, and take that place."""
        self._slots += 1
        if self._slots % FORGET_EVERY == 0:
            self.forget_recovered(self.clock())
        while True:
            now = self.clock()
            wait = self._held.get(chat_id, 0.0) - now
            if wait <= 0:
                self._held.pop(chat_id, None)
                wait = (
                    self._group_wait(chat_id, now)
                    if chat_id < 0
                    else self._private_wait(chat_id, now)
                )
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def forget_recovered(self, now: float) -> None:
        """Forget the chats whose limits are as if they had never been written to."""
        full = now - PRIVATE_BURST / PRIVATE_RATE
        for chat_id in [c for c, (_tokens, last) in self._private.items() if last <= full]:
            del self._private[chat_id]
        horizon = now - GROUP_WINDOW
        for chat_id in [
            c for c, window in self._groups.items() if not window or window[-1] <= horizon
        ]:
            del self._groups[chat_id]
        for chat_id in [c for c, until in self._held.items() if until <= now]:
            del self._held[chat_id]

    def tracked_chats(self) -> int:
        """Return how many chats' limits are kept in memory."""
        return len(self._private) + len(self._groups) + len(self._held)

    def _group_wait(self, chat_id: int, now: float) -> float:
        """A group or channel: at most GROUP_PER_MINUTE in any GROUP_WINDOW seconds."""
        window = self._groups.setdefault(chat_id, deque())
        while window and window[0] <= now - GROUP_WINDOW:
            window.popleft()
        if len(window) >= GROUP_PER_MINUTE:
            return window[0] + GROUP_WINDOW - now + 0.01
        window.append(now)
        return 0.0

    def _private_wait(self, chat_id: int, now: float) -> float:
        """A person: a bucket of PRIVATE_BURST refilled at PRIVATE_RATE a second."""
        if not self.pace_private_chats:
            return 0.0
        tokens, last = self._private.get(chat_id, (PRIVATE_BURST, now))
        tokens = min(PRIVATE_BURST, tokens + (now - last) * PRIVATE_RATE)
        if tokens < 1.0:
            self._private[chat_id] = (tokens, now)
            return (1.0 - tokens) / PRIVATE_RATE + 0.01
        self._private[chat_id] = (tokens - 1.0, now)
        return 0.0

    # -- the overall budget ---------------------------------------------------------------------

    async def _overall_slot(self, lane: Lane) -> None:
        """Wait for a slot of the overall budget; replies are served first."""
        now = self.clock()
        if self._may_go_now(now, lane):
            self._take(now, lane)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[lane]
        if lane is Lane.OUTBOX and PRESSING.get():
            # After the pressing calls already waiting, before every other outbox call.
            queue.insert(len(self._pressing), (now, future))
            self._pressing.add(future)
        else:
            queue.append((now, future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="flood-limiter")
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Given a place and cancelled before using it: the place is given back.
                self._release(lane)
            raise

    def _pick(self, now: float) -> Lane | None:
        """Return the lane served next: replies, unless the outbox is below its share."""
        self._expire(now)
        outbox = self._waiting[Lane.OUTBOX]
        if outbox and (not self._waiting[Lane.REPLY] or self._outbox_starved()):
            return Lane.OUTBOX
        if self._waiting[Lane.REPLY]:
            return Lane.REPLY
        return None

    def _may_go_now(self, now: float, lane: Lane) -> bool:
        """Tell whether a call may take a slot at once, overtaking no one it must not."""
        if self._overall_wait(now, lane) > 0 or self._waiting[Lane.REPLY]:
            return False
        if lane is Lane.OUTBOX:
            return not self._waiting[Lane.OUTBOX]
        # A reply passes outbox calls held by their even spacing or by the reserve, unless the
        # outbox is below its share and may go itself.
        return not (
            self._waiting[Lane.OUTBOX]
            and self._outbox_starved()
            and self._overall_wait(now, Lane.OUTBOX) <= 0
        )

    def _overall_wait(self, now: float, lane: Lane) -> float:
        """Return how long a call of `lane` must wait for room in the overall budget."""
        window = self._window
        self._expire(now)
        # Below its share, the outbox goes like a reply: into the reserve, and not spaced.
        held_back = lane is Lane.OUTBOX and not self._outbox_starved()
        limit = self.capacity - self._reserve() if held_back else self.capacity
        wait = 0.0
        if len(window) + self._in_flight >= limit:
            # Until the oldest place comes free (the reserve may shrink with it), or, with every
            # place on its way, the next answer (woken by `_freed`).
            wait = window[0][0] + OVERALL_WINDOW - now if window else OVERALL_WINDOW
        if held_back:
            wait = max(wait, self._outbox_next - now)
        # A remainder of float rounding is no wait: sleeping it would not move a clock that
        # counts in steps (a fast-forwarded test loop), and the call would wait for ever.
        return wait if wait > _EPSILON else 0.0

    def _expire(self, now: float) -> None:
        """Give back the places of messages answered more than OVERALL_WINDOW ago."""
        window = self._window
        while window and window[0][0] <= now - OVERALL_WINDOW + _EPSILON:
            _answered, lane = window.popleft()
            self._lane_held[lane] -= 1

    def _reserve(self) -> int:
        """Return how many places the outbox leaves free for replies."""
        return min(self.max_reserve, self._lane_held[Lane.REPLY] + REPLY_HEADROOM)

    def _outbox_starved(self) -> bool:
        """Tell whether the outbox holds fewer places than its share of the budget."""
        return self._lane_held[Lane.OUTBOX] < self.outbox_share

    def _take(self, now: float, lane: Lane) -> None:
        """Take one slot of the overall budget."""
        self._in_flight += 1
        self._lane_held[lane] += 1
        if lane is Lane.OUTBOX:
            self._outbox_next = now + self.interval

    def _release(self, lane: Lane) -> None:
        """A message was answered (or failed): its place is held for OVERALL_WINDOW more."""
        self._in_flight -= 1
        self._window.append((self.clock(), lane))
        # A dispatcher waiting for an answer recounts.
        self._freed.set()

    async def _pause(self, wait: float) -> None:
        """Sleep `wait` seconds, or less if a message is answered meanwhile."""
        self._freed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._freed.wait()

    async def _dispatch(self) -> None:
        """Hand out slots while calls are waiting, as room in the budget comes."""
        while True:
            now = self.clock()
            lane = self._pick(now)
            if lane is None:
                return
            wait = self._overall_wait(now, lane)
            if wait > 0 and lane is Lane.OUTBOX and self._waiting[Lane.REPLY]:
                # The outbox's even spacing holds back only the outbox: a reply may go.
                if self._overall_wait(now, Lane.REPLY) <= 0:
                    lane, wait = Lane.REPLY, 0.0
            if wait > 0:
                await self._pause(wait)
                continue
            _since, future = self._waiting[lane].popleft()
            self._pressing.discard(future)
            if future.done():
                # Cancelled while waiting (its update was abandoned): the slot stays free.
                continue
            future.set_result(None)
            self._take(now, lane)


def _chat_id(value: object) -> int | None:
    """Return a call's chat as a number; a channel's @username counts as a group."""
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        # "@channel": a channel, limited like a group; a stable negative stand-in.
        return -abs(hash(str(value))) - 1


def _seconds(delay: int | float | timedelta) -> float:
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
