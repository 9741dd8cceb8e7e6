"""The outbox: every message the bot owes, queued in the transaction that made it owed.

Delivery (`bot.telegram.delivery`) reads the due items, sends them part by part and records
each part, so that a restart neither loses a message nor sends a part twice. On a database
several workers share, a worker claims the items it is about to send (`FOR UPDATE SKIP
LOCKED`, with its name and an expiry): no other worker takes them while the claim holds, a
live worker renews its claims (each part, and every third of the expiry), and a killed
worker's claims are taken over as soon as the server has ended its session (the lock it held,
`postgres.WORKER_ALIVE`), or once they expire.

On SQLite the outbox loop reads what is due on the read-only connection (`Database.snapshot`):
an item is committed with the step that made it owed, so the last commit is all it needs, and
its reads no longer hold the one lock that a citizen's step waits for.
"""

from __future__ import annotations

import json
import logging

from bot.core.domain import Link
from bot.core.outbox import OutboxItem, OutboxKind, Outgoing, Payload, read_payload
from bot.store.database import Store
from bot.store.dialect import Row, fetch_one
from bot.store.rows import insert_link, insert_outbox

log = logging.getLogger(__name__)


# How long a claim holds without a part being sent: long enough for a slow item between two
# parts, short enough that a killed worker's items wait little.
CLAIM_SECONDS = 60.0
CLAIM_BATCH = 10
DUE_BATCH = 50
_COLUMNS = (
    "id, kind, report_id, unit_code, chat_id, payload, parts_done, attempts, message_id,"
    " in_flight, next_attempt_at"
)
# Releasing the claim with every outcome of an attempt: a later attempt may go to any worker.
_UNCLAIM = "claimed_by = NULL, claimed_until = NULL"


class ClaimLost(Exception):
    """Another worker took over this item (this worker's claim expired): leave it to them."""


class OutboxStore(Store):
    """Messages owed, their delivery progress, retries and failures."""

    async def add(self, item: Outgoing) -> int:
        """Queue one message; return its outbox id."""
        now = self._now()
        async with self._write() as conn:
            return await insert_outbox(conn, now, item, item.report_id, {})

    async def add_notice(self, chat_id: int, payload: Payload) -> int:
        """Queue a message to one chat (an admin, a citizen); return its id."""
        return await self.add(Outgoing(payload, chat_id=chat_id))

    async def due(self, limit: int | None = None) -> list[OutboxItem]:
        """Return pending items whose next attempt is due, oldest first (claimed, if shared)."""
        rows: list[Row]
        if self._database.shared:
            # A few at a time by default: what this worker claims waits for it alone.
            rows = await self._claim(limit or CLAIM_BATCH)
        else:
            # Committed items only, without the writer's lock (Database.snapshot): a citizen's
            # step never waits for the outbox's look at what is due.
            async with self._snapshot() as conn:
                rows = list(
                    await conn.execute_fetchall(
                        f"SELECT {_COLUMNS} FROM outbox"
                        " WHERE status = 'pending' AND next_attempt_at <= ?"
                        " ORDER BY next_attempt_at, id LIMIT ?",
                        (self._now(), limit or DUE_BATCH),
                    )
                )
        items = []
        for r in rows:
            try:
                payload = read_payload(r["kind"], json.loads(r["payload"]))
            except ValueError:
                # Written by a newer version (a downgrade): kept, never sent half-understood.
                log.error("outbox item %s has an unknown kind; left for a newer version", r["id"])
                continue
            items.append(
                OutboxItem(
                    id=r["id"],
                    kind=OutboxKind(r["kind"]),
                    report_id=r["report_id"],
                    unit_code=r["unit_code"],
                    chat_id=r["chat_id"],
                    payload=payload,
                    parts_done=r["parts_done"],
                    attempts=r["attempts"],
                    message_id=r["message_id"],
                    in_flight=r["in_flight"],
                )
            )
        return items

    async def _claim(self, limit: int) -> list[Row]:
        """Claim due items nobody else holds, for this worker (PostgreSQL's row locks)."""
        now = self._now()
        me = self._database.worker
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id IN ("
                " SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?"
                # A worker whose session ended (killed) holds nothing any more.
                " OR NOT worker_alive(claimed_by))"
                " ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)"
                f" RETURNING {_COLUMNS}",
                (me, now + CLAIM_SECONDS, now, now, me, limit),
            )
        return sorted(rows, key=lambda r: (r["next_attempt_at"], r["id"]))

    async def renew_claims(self) -> int:
        """Extend this worker's claims (it is alive, if slow); return how many it holds."""
        async with self._write(durable=False) as conn:
            cur = await conn.execute(
                "UPDATE outbox SET claimed_until = ? WHERE claimed_by = ? AND status = 'pending'",
                (self._now() + CLAIM_SECONDS, self._database.worker),
            )
            return cur.rowcount

    async def release_claims(self) -> int:
        """Give back this worker's claims (it is stopping); return how many."""
        async with self._write() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET {_UNCLAIM} WHERE claimed_by = ?", (self._database.worker,)
            )
            return cur.rowcount

    async def next_due(self) -> float | None:
        """Return when the earliest pending item is due, if any (others' claims expired)."""
        # Claims of a worker that is gone hold nothing (PostgreSQL only: there are none else).
        gone = " OR NOT worker_alive(claimed_by)" if self._database.shared else ""
        # The outbox loop's own question, answered from the last commit (Database.snapshot).
        async with self._snapshot() as conn:
            row = await fetch_one(
                conn,
                "SELECT min(max(next_attempt_at, CASE WHEN claimed_by IS NULL"
                f" OR claimed_by = ?{gone} THEN 0"
                " ELSE coalesce(claimed_until, 0) END)) AS t"
                " FROM outbox WHERE status = 'pending'",
                (self._database.worker,),
            )
        return row["t"] if row and row["t"] is not None else None

    async def part_sent(
        self,
        item_id: int,
        parts_done: int,
        message_id: int | None = None,
        link: Link | None = None,
    ) -> None:
        """Record that one more part of an item reached Telegram (and what it is tied to)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET parts_done = ?, message_id = coalesce(message_id, ?),"
                " in_flight = 0, claimed_until = ? WHERE id = ?",
                (parts_done, message_id, self._claim_until(), item_id),
            )
            if link is not None:
                await insert_link(conn, link, self._now())

    async def start_part(self, item_id: int, part: int) -> None:
        """Record that a part (1-based) is about to be sent; ClaimLost if another worker has it."""
        changed = await self._write_one(
            "UPDATE outbox SET in_flight = ?, claimed_until = ? WHERE id = ?"
            " AND (claimed_by IS NULL OR claimed_by = ?)",
            (part, self._claim_until(), item_id, self._database.worker),
        )
        if changed == 0:
            raise ClaimLost(f"outbox item {item_id} is claimed by another worker")

    def _claim_until(self) -> float | None:
        # Each part renews the claim; without claims (one process) there is none to renew.
        return self._now() + CLAIM_SECONDS if self._database.shared else None

    async def done(self, item_id: int) -> None:
        """Mark an item delivered in full."""
        await self._write_one(
            f"UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, {_UNCLAIM}"
            " WHERE id = ?",
            (self._now(), item_id),
        )

    async def retry(
        self, item_id: int, delay: float, error: str, *, maybe_sent: bool = False
    ) -> None:
        """Schedule another attempt after `delay` seconds.

        `maybe_sent`: the part in flight may have arrived (the answer was lost), so it stays
        marked; otherwise Telegram refused it and the mark is cleared.
        """
        await self._write_one(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
            f" in_flight = CASE WHEN ? THEN in_flight ELSE 0 END, {_UNCLAIM} WHERE id = ?",
            (self._now() + delay, error[:500], maybe_sent, item_id),
        )

    async def give_up(self, item_id: int, error: str) -> None:
        """Stop retrying an item that can never be delivered (kept, with the reason)."""
        await self._write_one(
            f"UPDATE outbox SET status = 'failed', last_error = ?, {_UNCLAIM} WHERE id = ?",
            (error[:500], item_id),
        )

    async def release_unit(self, unit_code: str) -> None:
        """Make a unit's held alerts due now (its chat was fixed)."""
        await self._write_one(
            "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending' AND unit_code = ?",
            (self._now(), unit_code),
        )

    async def release_reporter(self, user_id: int) -> int:
        """Make the messages held for a reporter due now (they just wrote); return how many."""
        return await self._write_one(
            "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending'"
            " AND kind LIKE 'citizen%' AND next_attempt_at > ? AND report_id IN"
            " (SELECT report_id FROM reporters WHERE user_id = ?)",
            (self._now(), self._now(), user_id),
        )

    async def stats(self) -> dict[str, int]:
        """Count outbox items by status."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT status, count(*) AS n FROM outbox GROUP BY status"
            )
        return {r["status"]: r["n"] for r in rows}
