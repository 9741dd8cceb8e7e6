"""Who may use SQLite's one connection: a transaction alone, single statements side by side.

aiosqlite runs the calls on a connection one after another in a thread of its own, but knows
nothing of transactions: a statement queued by one coroutine while another's BEGIN..COMMIT is
open would run inside it, and be committed or rolled back with it. So a transaction needs the
connection to itself. A single statement run outside any transaction commits on its own and
needs nobody else out of the way: several may wait in aiosqlite's queue together, and its
thread runs them back to back. Under one plain lock, each of them held the connection for a
round trip through the event loop as well, during which the thread sat idle.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

__all__ = ["Gate"]


class Gate:
    """A lock that is exclusive (`async with gate`, `exclusive()`) or shared (`shared()`).

    Turns are given in the order asked for: a single statement asked for after a waiting
    transaction waits for it, so a stream of statements never starves a transaction.
    """

    def __init__(self) -> None:
        self._shared = 0
        self._exclusive = False
        self._waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    def locked(self) -> bool:
        """Tell whether a transaction holds the gate."""
        return self._exclusive

    @property
    def sharing(self) -> int:
        """How many single statements hold the gate now."""
        return self._shared

    async def __aenter__(self) -> None:
        await self._acquire(exclusive=True)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._release(exclusive=True)

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Hold the gate alone (a transaction, or statements that must see one state)."""
        return self._turn(exclusive=True)

    def shared(self) -> AbstractAsyncContextManager[None]:
        """Hold the gate beside other single statements, never during a transaction."""
        return self._turn(exclusive=False)

    @asynccontextmanager
    async def _turn(self, *, exclusive: bool) -> AsyncIterator[None]:
        await self._acquire(exclusive=exclusive)
        try:
            yield
        finally:
            self._release(exclusive)

    def _free_for(self, exclusive: bool) -> bool:
        return not self._exclusive and (not exclusive or self._shared == 0)

    def _take(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = True
        else:
            self._shared += 1

    async def _acquire(self, *, exclusive: bool) -> None:
        if not self._waiting and self._free_for(exclusive):
            self._take(exclusive)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((exclusive, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                # Given the turn, then cancelled before it could use it: hand it on.
                self._release(exclusive)
            else:
                # Its place may have held up those behind it.
                self._wake()
            raise

    def _release(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = False
        else:
            self._shared -= 1
        self._wake()

    def _wake(self) -> None:
        """Give turns to those first in line, as far as they can go together."""
        while self._waiting:
            exclusive, turn = self._waiting[0]
            if turn.done():
                # Cancelled while waiting.
                self._waiting.popleft()
                continue
            if not self._free_for(exclusive):
                return
            self._waiting.popleft()
            self._take(exclusive)
            turn.set_result(None)
            if exclusive:
                return
