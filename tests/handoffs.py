"""Counting the calls into aiosqlite's thread ("hand-offs"), by the task that made them.

Every statement, fetch, commit or cursor close on an aiosqlite connection is one call queued to
the connection's thread and one wake-up of the event loop when it is done: aiosqlite routes each
through `Connection._execute`. That method is private; the count wraps it here, in tests only,
and `HandoffCounter.install` fails loudly if aiosqlite stops routing its calls through it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from typing import Any

import aiosqlite
import pytest

# The tasks that take a citizen's update from Telegram to its reply: getUpdates and storing,
# handing on, the lane that runs the handlers, and the deletion of handled rows
# (bot.telegram.inbound, bot.telegram.lanes).
UPDATE_TASKS = ("liemchinh-poll", "liemchinh-dispatch", "liemchinh-lane-", "liemchinh-forget")
# The outbox's loop, which sends what the workflow queued (alerts, the receipt).
DELIVERY_TASKS = ("liemchinh-delivery",)


def _kind(name: str) -> str:
    if name.startswith(UPDATE_TASKS):
        return "update"
    if name.startswith(DELIVERY_TASKS):
        return "delivery"
    return "other"


class HandoffCounter:
    """Hand-offs to aiosqlite's thread, counted by the kind of task that made them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.statements: list[tuple[str, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Count every call into aiosqlite's thread until the test ends."""
        real = aiosqlite.Connection._execute
        # If aiosqlite stops sending its calls through this method, nothing would be counted
        # and a budget would pass for the wrong reason: refuse to count instead.
        assert inspect.iscoroutinefunction(real), "aiosqlite.Connection._execute changed"
        assert "self._execute(self._conn.execute" in inspect.getsource(aiosqlite.Connection), (
            "aiosqlite no longer routes statements through Connection._execute"
        )
        counter = self

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            kind = _kind(task.get_name() if task is not None else "")
            counter.counts[kind] += 1
            what = args[0] if args and isinstance(args[0], str) else getattr(fn, "__name__", "")
            counter.statements.append((kind, str(what)))
            return await real(self, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

    def take(self, kind: str) -> int:
        """Return the hand-offs of one kind since the last call, and start counting afresh."""
        count = self.counts[kind]
        self.counts[kind] = 0
        return count
