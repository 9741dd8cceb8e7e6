"""The running bot's own memory: startup objects out of the collector's way, free pages returned.

Both act on the process, not on any channel, and only `liemchinh run` uses them (`bot.app`):
tests and tools that build a bot in their own process keep their memory as it is.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How often the trimmer looks at the CPU the process used.
LOOK_EVERY = 1.0
# Below this share of one core over a look, the process is quiet: no update is being worked.
# An idle bot (a long poll, a timer) uses about a hundredth of it.
QUIET_SHARE = 0.05
# CPU seconds of work since the last trim before another one can give anything back.
WORK_BETWEEN_TRIMS = 0.5

Trim = Callable[[], object]
Clock = Callable[[], float]


def settle_heap() -> None:
    """Move what the started bot holds out of the garbage collector's reach (`gc.freeze`).

    The modules, the handlers and the caches live as long as the process, yet each full
    collection walked them all: about 90,000 objects, 70 to 80 ms on a slow 2-core machine,
    during which no update was handled. Frozen, they are still freed by reference counting
    once unused; only cycles among them would stay, and the collection just before leaves none.
    """
    gc.collect()
    gc.freeze()


def malloc_trim() -> Trim | None:
    """glibc's `malloc_trim(0)`, or None where the C library has none (musl, macOS)."""
    import ctypes  # about 240 KB, loaded once at start

    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrimmer:
    """Give the C allocator's free pages back to the system once the bot has gone quiet.

    glibc keeps the memory a burst freed (a thousand people writing at once: their updates,
    JSON and HTTP buffers) for later, in free blocks amid the heap that are never returned on
    their own: the process's resident memory stays at the burst's height for good.
    `malloc_trim(0)` hands back every whole free page, in the middle of the heap too. It takes
    the allocator's lock for about a millisecond, so it runs only when the process is quiet
    (under `QUIET_SHARE` of a core over the last look), and once per `WORK_BETWEEN_TRIMS` of
    CPU worked: never under steady load, where the free blocks are reused anyway.
    """

    def __init__(self, trim: Trim, clock: Clock = time.process_time) -> None:
        self._trim = trim
        self._clock = clock
        self._last = clock()
        self._worked = 0.0  # CPU seconds since the last trim
        self.trims = 0

    def look(self, elapsed: float) -> bool:
        """Account the CPU used in the last `elapsed` seconds; trim if it was quiet after work."""
        now = self._clock()
        used, self._last = now - self._last, now
        self._worked += used
        if used >= QUIET_SHARE * elapsed or self._worked < WORK_BETWEEN_TRIMS:
            return False
        self._trim()
        self.trims += 1
        # The trim's own CPU is not work that freed anything.
        self._last = self._clock()
        self._worked = 0.0
        return True

    async def run(self, every: float = LOOK_EVERY) -> None:
        """Look every `every` seconds until cancelled."""
        loop = asyncio.get_running_loop()
        before = loop.time()
        while True:
            await asyncio.sleep(every)
            now = loop.time()
            self.look(now - before)
            before = now
