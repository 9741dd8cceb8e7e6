"""Fair handling: one lane per chat, a few lanes at a time, and a limit on each person's pace.

A conversation needs its updates in order, but two citizens have nothing to wait for in each
other. So every chat gets a lane of its own (updates with no chat share one): a lane hands its
updates on one at a time, in order, while up to `LANES` lanes run at once. A lane whose turn
ends with more to do goes to the back of the line, so one chat's backlog, or a flood wait on
one group, holds up only that chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

# How many chats are handled at once. Handlers mostly wait, on Telegram and on the database,
# whose single statements now share its connection (`bot.store.gate`): with 8 lanes a step
# at saturation waited 68 ms for a free lane, and the bot took 223 updates/s; with 16, 240;
# with 32, 253, the wait under a millisecond (`liemchinh bench --saturate 300`, 40 citizens).
LANES = 32
# How long a person who sent too much is not read (the notice says "in a minute").
FLOOD_PAUSE = 60.0

Item = TypeVar("Item")


class Lanes(Generic[Item]):
    """Per-key FIFO queues worked by a bounded pool: in order per key, concurrent across."""

    def __init__(self, work: Callable[[Item], Awaitable[None]], width: int = LANES) -> None:
        self._work = work
        self._width = width
        self._queues: dict[Hashable, deque[Item]] = {}
        self._ready: asyncio.Queue[Hashable] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self.waiting = 0
        # Workers busy with an item, and whether stop() asked them to take no more.
        self._busy: set[asyncio.Task[None]] = set()
        self._closing = False

    def start(self) -> None:
        """Start the workers."""
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._worker(), name=f"liemchinh-lane-{n}")
                for n in range(self._width)
            ]

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the workers, letting the items in hand finish for up to `grace` seconds."""
        # What was queued and not begun stays wherever the caller keeps it (the database).
        workers, self._workers = self._workers, []
        self._closing = True
        busy = [task for task in workers if task in self._busy]
        for task in workers:
            if task not in busy:
                task.cancel()
        if busy and grace > 0:
            await asyncio.wait(busy, timeout=grace)
        for task in busy:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._closing = False

    def submit(self, key: Hashable, item: Item) -> None:
        """Queue an item behind the others of its key."""
        queue = self._queues.get(key)
        if queue is None:
            # A key with no queue is neither waiting nor being worked: it needs a turn.
            self._queues[key] = deque([item])
            self._ready.put_nowait(key)
        else:
            queue.append(item)
        self.waiting += 1
        self._idle.clear()

    async def idle(self) -> None:
        """Wait until nothing is queued or being worked."""
        await self._idle.wait()

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._closing:
            key = await self._ready.get()
            queue = self._queues[key]
            item = queue[0]
            self._busy.add(me)
            try:
                await self._work(item)
            except Exception as exc:
                # The worker must outlive any one item; the error's text may hold personal data.
                log.error("an item of a lane failed (%s)", type(exc).__name__)
            finally:
                self._busy.discard(me)
                queue.popleft()
                self.waiting -= 1
                if queue:
                    # Back of the line: the other chats get their turn first.
                    self._ready.put_nowait(key)
                else:
                    del self._queues[key]
                    if not self._queues:
                        self._idle.set()


class Verdict(Enum):
    """What the flood guard says about one message."""

    READ = "read"
    IGNORE = "ignore"  # the sender is over the limit: drop it
    WARN = "warn"  # the first message over the limit: drop it and tell the sender once


# Slots and a plain list, not a deque: a deque's first block alone made an entry about 1 KB; a
# list of the few moments is a third of it.
@dataclass(slots=True)
class _Pace:
    moments: list[tuple[float, str | None]]
    quiet_until: float = float("-inf")


class FloodGuard:
    """Counts each person's messages: over `limit` in `seconds`, they are ignored a while."""

    def __init__(self, limit: int, seconds: float, pause: float = FLOOD_PAUSE) -> None:
        self.limit = limit
        self.seconds = seconds
        self.pause = pause
        # Kept for everyone who wrote in the last minute or so. Most have one message in the
        # window, not of an album, and no pause: that is kept as the message's moment alone,
        # the same as a _Pace of that one moment at a tenth of the memory.
        self._people: dict[int, float | _Pace] = {}
        self._checks = 0

    def check(self, user_id: int, moment: float, album: str | None = None) -> Verdict:
        """Count one message sent at `moment` (an album counts once) and judge it."""
        self._checks += 1
        if self._checks % 1000 == 0:
            self._forget(moment)
        kept = self._people.get(user_id)
        if isinstance(kept, _Pace):
            pace = kept
        else:
            pace = _Pace([] if kept is None else [(kept, None)])
        verdict = self._judge(pace, moment, album)
        window = pace.moments
        if len(window) == 1 and window[0][1] is None and pace.quiet_until == float("-inf"):
            self._people[user_id] = window[0][0]
        else:
            self._people[user_id] = pace
        return verdict

    def _judge(self, pace: _Pace, moment: float, album: str | None) -> Verdict:
        if moment < pace.quiet_until:
            return Verdict.IGNORE
        window = pace.moments
        # A list of at most `limit` moments: dropping the expired ones from its front is cheap.
        expired = 0
        while expired < len(window) and window[expired][0] <= moment - self.seconds:
            expired += 1
        if expired:
            del window[:expired]
        if album is not None and any(seen == album for _, seen in window):
            return Verdict.READ
        if len(window) >= self.limit:
            pace.quiet_until = moment + self.pause
            window.clear()
            return Verdict.WARN
        window.append((moment, album))
        return Verdict.READ

    def forgive(self, user_id: int) -> None:
        """Forget a person's count and pause (someone the limit does not apply to)."""
        self._people.pop(user_id, None)

    def _forget(self, moment: float) -> None:
        # People quiet for longer than the window and the pause need no memory.
        horizon = moment - self.seconds - self.pause
        for user_id in [
            uid for uid, kept in self._people.items() if _quiet(kept, moment, horizon)
        ]:
            del self._people[user_id]


def _quiet(kept: float | _Pace, moment: float, horizon: float) -> bool:
    """Tell whether a person's last message is older than `horizon` and no pause holds them."""
    if not isinstance(kept, _Pace):
        return kept < horizon
    return kept.quiet_until < moment and (not kept.moments or kept.moments[-1][0] < horizon)
