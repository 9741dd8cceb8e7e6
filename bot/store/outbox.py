"""The outbox: every message the bot owes, queued in the transaction that made it owed.

Delivery (`bot.telegram.delivery`) reads the due items, sends them part by part and records
each part, so that a restart neither loses a message nor sends a part twice.
"""

from __future__ import annotations

import json
import logging

from bot.core.domain import Link
from bot.core.outbox import OutboxItem, OutboxKind, Outgoing, Payload, read_payload
from bot.store.database import Store
from bot.store.rows import insert_link, insert_outbox

log = logging.getLogger(__name__)


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

    async def due(self, limit: int = 50) -> list[OutboxItem]:
        """Return pending items whose next attempt is due, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, kind, report_id, unit_code, chat_id, payload, parts_done, attempts,"
                " message_id, in_flight FROM outbox"
                " WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (self._now(), limit),
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

    async def next_due(self) -> float | None:
        """Return when the earliest pending item is due, if any."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'pending'"
                )
            ).fetchone()
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
                " in_flight = 0 WHERE id = ?",
                (parts_done, message_id, item_id),
            )
            if link is not None:
                await insert_link(conn, link, self._now())

    async def start_part(self, item_id: int, part: int) -> None:
        """Record that a part (1-based) is about to be sent."""
        async with self._write() as conn:
            await conn.execute("UPDATE outbox SET in_flight = ? WHERE id = ?", (part, item_id))

    async def done(self, item_id: int) -> None:
        """Mark an item delivered in full."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                (self._now(), item_id),
            )

    async def retry(
        self, item_id: int, delay: float, error: str, *, maybe_sent: bool = False
    ) -> None:
        """Schedule another attempt after `delay` seconds.

        `maybe_sent`: the part in flight may have arrived (the answer was lost), so it stays
        marked; otherwise Telegram refused it and the mark is cleared.
        """
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
                " in_flight = CASE WHEN ? THEN in_flight ELSE 0 END WHERE id = ?",
                (self._now() + delay, error[:500], maybe_sent, item_id),
            )

    async def give_up(self, item_id: int, error: str) -> None:
        """Stop retrying an item that can never be delivered (kept, with the reason)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?",
                (error[:500], item_id),
            )

    async def release_unit(self, unit_code: str) -> None:
        """Make a unit's held alerts due now (its chat was fixed)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending' AND unit_code = ?",
                (self._now(), unit_code),
            )

    async def release_reporter(self, user_id: int) -> int:
        """Make the messages held for a reporter due now (they just wrote); return how many."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending'"
                " AND kind LIKE 'citizen%' AND next_attempt_at > ? AND report_id IN"
                " (SELECT report_id FROM reporters WHERE user_id = ?)",
                (self._now(), self._now(), user_id),
            )
            return cur.rowcount

    async def stats(self) -> dict[str, int]:
        """Count outbox items by status."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT status, count(*) AS n FROM outbox GROUP BY status"
            )
        return {r["status"]: r["n"] for r in rows}
