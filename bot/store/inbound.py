"""Inbound updates: what Telegram sent, kept until handled so that a crash loses none.

Rows are handled in the order they arrived (`seq`), which is not the order of their ids: after a
week without updates Telegram picks the next id at random. Several workers on one PostgreSQL
database each store what reaches them; there one chat's rows are handled by the worker that owns
the chat, in the order Telegram numbered them (`chat_updates`), and a row is stored once
whichever worker Telegram sent it to (the `seen_updates` key). An update Telegram sends again is
recognised by its exact id among those received in the last 48 hours (`seen_updates`). Updates
that cannot be read are set aside in `quarantine`, with the error and their size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from bot.core.domain import Poison
from bot.store.database import Store
from bot.store.dialect import Connection, fetch_one

T = TypeVar("T")

# Telegram keeps an unconfirmed update for 24 hours; twice that covers any resend.
SEEN_SECONDS = 48 * 3600
# Quarantined updates hold personal data: kept long enough to be looked into, then deleted.
QUARANTINE_SECONDS = 30 * 86400
# Old rows are pruned at most this often.
PRUNE_EVERY = 3600.0
# The sizes of the runs a batch of updates is stored in (`runs`).
RUN_SIZES = (64, 32, 16, 8, 4, 2, 1)


class InboundStore(Store):
    """Raw updates between receiving and handling them, the ids seen, the quarantine."""

    _pruned_at = float("-inf")

    async def store_updates(
        self, updates: Sequence[tuple[int, str]], chats: Mapping[int, int] | None = None
    ) -> list[int]:
        """Keep raw updates until handled; return the ids that are new (not seen lately).

        `chats` gives an update's chat by its id (0, the default: no chat).
        """
        return [update_id for _seq, update_id in await self.keep_updates(updates, chats)]

    async def keep_updates(
        self, updates: Sequence[tuple[int, str]], chats: Mapping[int, int] | None = None
    ) -> list[tuple[int, int]]:
        """Keep raw updates until handled; return (seq, update id) of the new ones, by seq."""
        if not updates:
            return []
        now = self._now()
        chats = chats or {}
        async with self._write() as conn:
            await self._prune(conn, now)
            # A statement of many rows per run of the batch (a call per row was two round
            # trips through the event loop each, with the writer's transaction open all along).
            # An id another worker stored meanwhile is not returned by the insert: not new
            # here. The rows' numbers come back with them, so that the caller can hand the
            # updates on without reading them back.
            new: set[int] = set()
            ids = list(dict.fromkeys(update_id for update_id, _payload in updates))
            for id_run in runs(ids):
                seen = await conn.execute_fetchall(
                    "INSERT OR IGNORE INTO seen_updates (update_id, seen_at) VALUES "
                    + ", ".join(["(?, ?)"] * len(id_run))
                    + " RETURNING update_id",
                    [value for update_id in id_run for value in (update_id, now)],
                )
                new.update(row[0] for row in seen)
            fresh: dict[int, str] = {}
            for update_id, payload in updates:
                if update_id in new and update_id not in fresh:
                    fresh[update_id] = payload
            rows: list[Any] = []
            for run in runs(list(fresh.items())):
                rows += await conn.execute_fetchall(
                    "INSERT INTO inbound (update_id, payload, received_at, chat_id) VALUES "
                    + ", ".join(["(?, ?, ?, ?)"] * len(run))
                    + " RETURNING seq, update_id",
                    [value for u, payload in run for value in (u, payload, now, chats.get(u, 0))],
                )
        # RETURNING gives the rows in no promised order.
        return sorted((row[0], row[1]) for row in rows)

    async def quarantine_updates(self, items: Sequence[tuple[Poison, str]]) -> list[Poison]:
        """Set aside updates that cannot be read, with their JSON; return those not seen lately."""
        if not items:
            return []
        now = self._now()
        fresh = []
        async with self._write() as conn:
            for poison, payload in items:
                if poison.update_id is not None and not await self._see(
                    conn, poison.update_id, now
                ):
                    continue
                await _insert_poison(conn, poison, payload, now, now)
                fresh.append(poison)
        return fresh

    async def quarantine_stored(self, update_id: int, poison: Poison) -> bool:
        """Move a stored update that cannot be read to the quarantine; False if it is gone."""
        now = self._now()
        async with self._write() as conn:
            row = await fetch_one(
                conn, "SELECT payload, received_at FROM inbound WHERE update_id = ?", (update_id,)
            )
            if row is None:
                return False
            await _insert_poison(conn, poison, row["payload"], row["received_at"], now)
            await conn.execute("DELETE FROM inbound WHERE update_id = ?", (update_id,))
        return True

    async def unhandled_updates(self, limit: int = 1000) -> list[tuple[int, str]]:
        """Return stored updates not yet handled, in the order they arrived."""
        return [(uid, payload) for _seq, uid, payload in await self.updates_after(0, limit)]

    async def updates_after(self, seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
        """Return (seq, update id, JSON) of the stored updates that arrived after `seq`."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT seq, update_id, payload FROM inbound WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
        return [(r["seq"], r["update_id"], r["payload"]) for r in rows]

    async def chat_updates(self, chat_id: int, limit: int = 50) -> list[tuple[int, str]]:
        """Return (update id, JSON) of one chat's stored updates, in Telegram's order."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT update_id, payload FROM inbound WHERE chat_id = ?"
                " ORDER BY update_id LIMIT ?",
                (chat_id, limit),
            )
        return [(r["update_id"], r["payload"]) for r in rows]

    async def waiting_chats(self, limit: int = 500) -> list[int]:
        """Return the chats that have stored updates waiting, those waiting longest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT chat_id FROM inbound GROUP BY chat_id ORDER BY min(seq) LIMIT ?",
                (limit,),
            )
        return [r["chat_id"] for r in rows]

    async def update_handled(self, update_id: int) -> None:
        """Forget a handled update (its payload holds personal data); its id stays seen."""
        # Not waited for on disk: the handler's own writes were, and a deletion lost to a power
        # cut only hands the update out again, which is recognised as a replay (an answer is
        # taken once, a question shown again). One fsync fewer per update.
        await self._write_one(
            "DELETE FROM inbound WHERE update_id = ?", (update_id,), durable=False
        )

    async def updates_handled(self, update_ids: Sequence[int]) -> None:
        """Forget several handled updates, in runs as they were stored (`runs`)."""
        # Not waited for on disk, as update_handled; each statement is atomic by itself, and
        # one cut short leaves whole rows to be recognised as replays. In runs, as a text per
        # count of rows would fill a statement cache too (asyncpg keeps one on PostgreSQL).
        for chunk in runs(update_ids):
            await self._write_one(
                "DELETE FROM inbound WHERE update_id IN (" + ", ".join(["?"] * len(chunk)) + ")",
                list(chunk),
                durable=False,
            )

    async def highest_update_id(self) -> int | None:
        """Return the highest update id received in the last 48 hours."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT max(update_id) FROM seen_updates")
        return int(row[0]) if row and row[0] is not None else None

    async def quarantined(self, limit: int = 20) -> list[Poison]:
        """Return the latest updates set aside, newest first, without their content."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT update_id, kind, error, size, quarantined_at FROM quarantine"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        return [
            Poison(r["update_id"], r["kind"], r["error"], r["size"], r["quarantined_at"])
            for r in rows
        ]

    async def _see(self, conn: Connection, update_id: int, now: float) -> bool:
        # Record the id as seen; False when it was seen already (a resend).
        cur = await conn.execute(
            "INSERT OR IGNORE INTO seen_updates (update_id, seen_at) VALUES (?, ?)",
            (update_id, now),
        )
        return bool(cur.rowcount)

    async def _prune(self, conn: Connection, now: float) -> None:
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        # An id still waiting in `inbound` keeps its seen row, whatever its age.
        await conn.execute(
            "DELETE FROM seen_updates WHERE seen_at < ?"
            " AND update_id NOT IN (SELECT update_id FROM inbound)",
            (now - SEEN_SECONDS,),
        )
        await conn.execute(
            "DELETE FROM quarantine WHERE quarantined_at < ?", (now - QUARANTINE_SECONDS,)
        )


def runs(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """Split a batch into runs of 64, 32, ..., 2 or 1 items, in order.

    A statement's text grows with its rows, and each text is a statement of its own in the
    connection's cache (128 of them): a text per batch size filled it with inserts, some
    hundreds of kilobytes of SQLite's memory. Seven sizes keep at most seven texts per insert.
    """
    start = 0
    for size in RUN_SIZES:
        while len(items) - start >= size:
            yield items[start : start + size]
            start += size


async def _insert_poison(
    conn: Connection, poison: Poison, payload: str, received_at: float, now: float
) -> None:
    await conn.execute(
        "INSERT INTO quarantine (update_id, kind, error, size, payload, received_at,"
        " quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (poison.update_id, poison.kind, poison.error, poison.size, payload, received_at, now),
    )
