"""What the bot keeps per open conversation, from tracemalloc snapshots taken inside it.

With LIEMCHINH_TRACEMALLOC set to a folder, the bot traces its allocations (bot/tracing.py)
and writes a snapshot at each SIGUSR1; the bench's memory phase asks for one before and one
after its measured part, and `holders` names what grew in between, per conversation opened:
by the line that allocated it, by the innermost line of the bot's own code on the way there
(who asked for it), and by whole traceback. Traced memory is Python's alone: SQLite's page
cache and the allocator's free lists are in RSS, not here; the figures the bot writes beside
each snapshot (bot.tracing.memory_figures) give those, also per conversation.

Also `python -m bot.sim.bench_trace BEFORE AFTER COUNT` to compare two snapshots by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path

from bot.sim.bench_world import JSON, ROOT, Process
from bot.tracing import ENV, SNAPSHOT_GLOB

# How many holders each view lists.
TOP = 15
# The tracer's own work and the import system are no conversation's.
_IGNORED = (
    tracemalloc.__file__,
    "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>",
    "<unknown>",
)
_OWN_CODE = (str(ROOT / "bot") + os.sep, str(ROOT / "handlers") + os.sep)


def trace_folder(bot_root: Path) -> Path | None:
    """The folder the bot writes its snapshots to, when the bench runs with tracing asked."""
    folder = os.environ.get(ENV, "").strip()
    # A tree from before the tracer (--bot-root) would take SIGUSR1 as the signal to exit.
    if not folder or not (bot_root / "bot" / "tracing.py").exists():
        return None
    return Path(folder)


async def take_snapshot(bot: Process, folder: Path, seconds: float = 300.0) -> Path:
    """Ask the bot for a snapshot (SIGUSR1) and wait until it is written; return its path."""
    known = _snapshots(folder)
    assert bot.proc is not None
    bot.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new = sorted(_snapshots(folder) - known)
        if new:
            return new[-1]
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the bot wrote no tracemalloc snapshot in {seconds:.0f} s; is {ENV} set?")


def _snapshots(folder: Path) -> set[Path]:
    return set(folder.glob(SNAPSHOT_GLOB))


def _short(filename: str) -> str:
    """A file's name as it reads best: from the source tree, or from the installed package."""
    for marker in (str(ROOT) + os.sep, "site-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/lib/", 1)[-1]


def _frame(frame: tracemalloc.Frame) -> str:
    return f"{_short(frame.filename)}:{frame.lineno}"


def _per(value: int, count: int) -> float:
    return round(value / max(count, 1), 1)


def holders(before: Path, after: Path, count: int, top: int = TOP) -> JSON:
    """What grew from `before` to `after`, per each of `count` conversations, largest first."""
    filters = [tracemalloc.Filter(False, name) for name in _IGNORED]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(filters)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(filters)
    by_traceback = new.compare_to(old, "traceback")
    total = sum(stat.size_diff for stat in by_traceback)
    by_line: dict[str, list[int]] = {}
    by_caller: dict[str, list[int]] = {}
    for stat in by_traceback:
        # Newest frame first: the allocation, then its callers up to the task's start.
        frames = list(reversed(stat.traceback))
        if not frames:
            continue
        for key, table in (
            (_frame(frames[0]), by_line),
            (_caller(frames), by_caller),
        ):
            sums = table.setdefault(key, [0, 0])
            sums[0] += stat.size_diff
            sums[1] += stat.count_diff

    def ranked(table: dict[str, list[int]]) -> list[JSON]:
        rows = sorted(table.items(), key=lambda item: -item[1][0])[:top]
        return [
            {"where": where, "bytes": size, "count": blocks, "per_conversation": _per(size, count)}
            for where, (size, blocks) in rows
        ]

    return {
        "conversations": count,
        # The process's memory in parts (bot.tracing.memory_figures), grown per conversation.
        "parts_per_conversation": _parts(before, after, count),
        "traced_bytes": total,
        "traced_per_conversation": _per(total, count),
        "by_line": ranked(by_line),
        "by_caller": ranked(by_caller),
        "by_traceback": [
            {
                "per_conversation": _per(stat.size_diff, count),
                "count": stat.count_diff,
                "frames": [_frame(f) for f in reversed(stat.traceback)],
            }
            for stat in by_traceback[:top]
        ],
    }


def _parts(before: Path, after: Path, count: int) -> JSON:
    """Each memory figure written beside both snapshots: its growth per conversation."""
    try:
        old, new = (json.loads(p.with_suffix(".json").read_text("utf-8")) for p in (before, after))
    except (OSError, ValueError):
        return {}
    return {key: _per(new[key] - old[key], count) for key in new if key in old}


def _caller(frames: list[tracemalloc.Frame]) -> str:
    """The innermost frame in the bot's own code (bot/, handlers/), else the allocation's."""
    for frame in frames:
        if frame.filename.startswith(_OWN_CODE):
            return _frame(frame)
    return _frame(frames[0])


def main(argv: list[str]) -> int:
    """Compare two snapshot files by hand; print the holders as JSON."""
    if len(argv) != 3:
        print("usage: python -m bot.sim.bench_trace BEFORE AFTER COUNT", file=sys.stderr)
        return 2
    print(json.dumps(holders(Path(argv[0]), Path(argv[1]), int(argv[2])), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
