"""What several workers on one PostgreSQL database agree on: who owns a chat, who runs the jobs
and Zalo's intake, the share of Telegram's flood limits each message takes, and each person's
pace of messages.

Each worker keeps a PostgreSQL session of its own for this, apart from the connection the
stores use, so that its locks never wait behind a store's query and a store's reconnection
never drops them. Chats and the jobs are owned through session-level advisory locks: the server
releases them when the session ends, however the worker ends (a kill, a lost machine: within
about 25 s by the keepalives). When this session is lost, everything it held is lost with it:
`holds` says so at once, and the owner stops working on what it no longer owns.

The flood budget is one row per key (the whole bot, one chat) holding the theoretical arrival
time of the next message (GCRA), reserved in one call of `reserve_send` on the server's clock,
so that workers whose clocks differ still share one budget; a person's pace is counted the same
way by `flood_check`, on their messages' dates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

# Advisory lock keys. The lock every process takes before running migrations, so that workers
# starting together on one database run each migration once (an arbitrary constant, "LIEMCHIN"
# in ASCII).
MIGRATION_LOCK = 0x4C49454D4348494E
# Held by the running bot for as long as it runs, like SQLite's lock file: alone (exclusive) by a
# bot that polls, since Telegram allows one getUpdates consumer; shared by webhook workers, so
# that any number of them run together, and never beside a poller.
INSTANCE_LOCK = MIGRATION_LOCK + 1
# The jobs' lock sits beside the migration and instance locks; a chat's key has the top bit set
# (negative as a bigint), which none of those has, so they never meet.
JOB_LOCK = MIGRATION_LOCK + 2
# Held by the one worker that handles a text-only channel's stored messages (Zalo), in order.
CHANNEL_LOCK = MIGRATION_LOCK + 3
_CHAT_SPACE = 1 << 62
# How long one call may take before the session is given up (a send then falls back on the
# worker's own limits rather than wait).
TIMEOUT = 5.0
# The server notices a worker's machine gone within about 25 s (not TCP's two hours), ending its
# session and so releasing its locks for a standby.
KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


def _failures() -> tuple[type[BaseException], ...]:
    """What a lost or refusing session raises (asyncpg is loaded only by a bot on PostgreSQL)."""
    import asyncpg  # loaded already wherever a session was opened

    return (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def chat_lock(chat_id: int) -> int:
    """Return the advisory lock key of one chat (0: the updates that have no chat)."""
    return -(1 << 63) + (chat_id % _CHAT_SPACE)


def worker_name() -> str:
    """Return a name for this worker, unique among the workers of one database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def lead(coordination: Coordinator | None, key: int) -> bool:
    """Take or keep the lock `key`; True without a shared database (one process leads)."""
    if coordination is None:
        return True
    try:
        return await coordination.try_lock(key)
    except CoordinationLost:
        return False


class CoordinationLost(Exception):
    """The coordination session is gone (and with it, every lock it held)."""


class Coordinator:
    """One worker's own PostgreSQL session: advisory locks and the shared send budget."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._raw: asyncpg.Connection | None = None
        # asyncpg runs one statement at a time on a connection.
        self._lock = asyncio.Lock()
        self._held: set[int] = set()

    def holds(self, key: int) -> bool:
        """Tell whether this worker holds the lock `key` in its current session."""
        return key in self._held and self._raw is not None and not self._raw.is_closed()

    async def try_lock(self, key: int) -> bool:
        """Take the lock `key` if nobody holds it; True if this worker holds it now."""
        if self.holds(key):
            return True
        taken = bool(await self._fetchval("SELECT pg_try_advisory_lock($1)", key))
        if taken:
            self._held.add(key)
        return taken

    async def unlock(self, key: int) -> None:
        """Release the lock `key` (nothing happens if the session that held it is gone)."""
        if not self.holds(key):
            self._held.discard(key)
            return
        self._held.discard(key)
        try:
            await self._fetchval("SELECT pg_advisory_unlock($1)", key)
        except CoordinationLost:
            # The session is gone, and the server released the lock with it.
            return

    async def reserve_send(
        self, chat: str | None, chat_step: float, chat_burst: float, step: float, yielding: bool
    ) -> tuple[bool, float]:
        """Reserve the next message's place in the shared budget; see `postgres.RESERVE_SEND`.

        Return (True, seconds to wait before sending) once reserved, or (False, seconds to wait
        before asking again) when the chat is not ready yet or, `yielding`, others are waiting.
        """
        row = await self._fetchrow(
            "SELECT reserved, wait FROM reserve_send($1, $2, $3, $4, $5)",
            chat,
            chat_step,
            chat_burst,
            step,
            yielding,
        )
        assert row is not None
        return bool(row["reserved"]), max(0.0, float(row["wait"]))

    async def hold_send(self, chat: str, seconds: float) -> None:
        """Hold one chat's messages for `seconds` (Telegram answered 429) on every worker."""
        await self._fetchval(
            "UPDATE send_budget SET tat = greatest(tat, extract(epoch FROM clock_timestamp())"
            " + $2) WHERE key = $1",
            chat,
            seconds,
        )

    async def flood_check(
        self,
        user_id: int,
        moment: float,
        album: str | None,
        limit: int,
        seconds: float,
        pause: float,
    ) -> str:
        """Count one person's message on every worker's behalf; see `postgres.FLOOD_CHECK`.

        At most `limit` messages in `seconds` (an album counts once); beyond, "warn" once and
        then "ignore" for `pause` seconds; otherwise "read".
        """
        step = seconds / limit
        verdict = await self._fetchval(
            "SELECT flood_check($1, $2, $3, $4, $5, $6)",
            user_id,
            moment,
            album,
            step,
            (limit - 1) * step,
            pause,
        )
        return str(verdict)

    async def forget_send_keys(self, older: float) -> None:
        """Delete the budget rows of chats, and the paces of people, idle for `older` seconds."""
        await self._fetchval(
            "DELETE FROM send_budget WHERE key <> 'all'"
            " AND tat < extract(epoch FROM clock_timestamp()) - $1",
            older,
        )
        await self._fetchval(
            "DELETE FROM flood_pace WHERE greatest(tat, quiet_until)"
            " < extract(epoch FROM clock_timestamp()) - $1",
            older,
        )

    async def close(self) -> None:
        """End the session; the server releases every lock it held."""
        self._held.clear()
        raw, self._raw = self._raw, None
        if raw is not None and not raw.is_closed():
            try:
                await raw.close(timeout=2.0)
            except _failures():
                raw.terminate()

    async def _session(self) -> asyncpg.Connection:
        if self._raw is not None and not self._raw.is_closed():
            return self._raw
        # A new session holds nothing: whatever the old one held is released already.
        self._held.clear()
        try:
            import asyncpg  # only a bot on PostgreSQL loads its driver

            self._raw = await asyncpg.connect(
                self.url, server_settings=KEEPALIVES, timeout=TIMEOUT
            )
        except _failures() as exc:
            raise CoordinationLost(type(exc).__name__) from exc
        return self._raw

    async def _fetchval(self, sql: str, *args: object) -> object:
        row = await self._fetchrow(sql, *args)
        return row[0] if row is not None else None

    async def _fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        async with self._lock:
            raw = await self._session()
            try:
                return await raw.fetchrow(sql, *args, timeout=TIMEOUT)
            except _failures() as exc:
                # Whatever went wrong, the session's state is unknown: end it (the server then
                # releases what it held) and let the callers fall back or try again.
                self._drop(raw)
                raise CoordinationLost(type(exc).__name__) from exc

    def _drop(self, raw: asyncpg.Connection) -> None:
        self._held.clear()
        raw.terminate()
        self._raw = None
        log.warning("coordination session lost; its chats and jobs are released")
