"""Opt-in tracemalloc snapshots of the running bot, to see what it keeps in memory.

A measurement tool, off unless the environment asks for it: with LIEMCHINH_TRACEMALLOC set to
a folder when the bot starts, Python's allocations are traced (TRACE_FRAMES frames each), and
every SIGUSR1 writes a snapshot there, `snapshot-001.tracemalloc`, `-002`, ... (tracemalloc's
own format, `tracemalloc.Snapshot.load`), with `snapshot-NNN.json` beside each: the process's
memory in parts (`memory_figures`), for what tracemalloc cannot see. `liemchinh bench` sends
the signals around its memory phase and compares the two (bot/sim/bench_trace.py). Off,
nothing is started and no signal is taken; tracing slows the bot and adds to its memory, so a
traced run names what is kept, not how much RSS it costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "LIEMCHINH_TRACEMALLOC"
# Enough frames to reach from the allocation up to the handler or task that made it.
TRACE_FRAMES = 20
SNAPSHOT_GLOB = "snapshot-*.tracemalloc"
# glibc's `struct mallinfo2`, its fields in order (all size_t).
_MALLINFO2 = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


class Tracer:
    """Traces allocations from its creation; writes a numbered snapshot on each request."""

    def __init__(self, folder: Path, frames: int = TRACE_FRAMES) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.taken = len(list(folder.glob(SNAPSHOT_GLOB)))
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    def snapshot(self) -> Path:
        """Write a snapshot of what is allocated now (garbage collected first); return it."""
        # Cycles waiting for the collector are not kept: they would blur the comparison.
        gc.collect()
        figures = memory_figures()
        taken = tracemalloc.take_snapshot()
        self.taken += 1
        path = self.folder / f"snapshot-{self.taken:03d}.tracemalloc"
        path.with_suffix(".json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
        partial = path.with_suffix(".partial")
        taken.dump(str(partial))
        del taken
        # Renamed once whole: whoever waits for the file never reads half of it.
        os.replace(partial, path)
        log.info("tracemalloc snapshot written (%s)", path.name)
        return path


def memory_figures() -> dict[str, int]:
    """The process's memory in parts, in bytes: each figure that can be read here.

    `rss_anon`, `rss_file`, `rss_shmem` (/proc: the heap; mapped files such as code; shared
    memory such as SQLite's WAL index), `python_traced` (Python's live blocks, as tracemalloc
    counts them) and `tracemalloc_own` (its own bookkeeping), `sqlite` (SQLite's allocations,
    its page cache among them), `malloc_in_use` and `malloc_free` (the C heap, glibc's
    mallinfo2: in use, and free but kept).
    """
    figures: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                figures[key.lower().replace("rss", "rss_")] = int(value.split()[0]) * 1024
    if tracemalloc.is_tracing():
        figures["python_traced"] = tracemalloc.get_traced_memory()[0]
        figures["tracemalloc_own"] = tracemalloc.get_tracemalloc_memory()
    figures.update(_c_figures())
    return figures


def _c_figures() -> dict[str, int]:
    """SQLite's and glibc's own counts, where those libraries are there to ask."""
    # Imported here: the bot that does not trace never loads ctypes.
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]

    figures: dict[str, int] = {}
    # The library Python's sqlite3 module uses (already loaded, so the same counters).
    with contextlib.suppress(OSError, AttributeError):
        sqlite = ctypes.CDLL("libsqlite3.so.0")
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        figures["sqlite"] = int(sqlite.sqlite3_memory_used())
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        figures["malloc_in_use"] = int(info.uordblks + info.hblkhd)
        figures["malloc_free"] = int(info.fordblks)
    return figures


def from_environment(environ: Mapping[str, str] = os.environ) -> Tracer | None:
    """Start tracing when LIEMCHINH_TRACEMALLOC names a folder; None (and nothing) otherwise."""
    folder = environ.get(ENV, "").strip()
    return Tracer(Path(folder)) if folder else None


def snapshot_on_signal(loop: asyncio.AbstractEventLoop, tracer: Tracer | None) -> None:
    """Write a snapshot whenever the process gets SIGUSR1, from the event loop (if tracing)."""
    if tracer is None:
        return

    def take() -> None:
        try:
            tracer.snapshot()
        except OSError as exc:
            log.warning("could not write the tracemalloc snapshot (%s)", exc)

    loop.add_signal_handler(signal.SIGUSR1, take)
