"""Text-only channels' intake and state: messages stored before they are handled, what a
person was last shown, and which of their reports wait for a word from them.

A channel without buttons or replies (Zalo) needs to know what a bare "2" refers to and which
report an answer is for; this keeps that in the database, so a restart changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.coordination import CHANNEL_LOCK, lead
from bot.store.database import Store
from bot.store.dialect import fetch_one

# Handled messages are remembered (without their content) this long, to recognise a resend.
SEEN_SECONDS = 48 * 3600


@dataclass(frozen=True)
class StoredMessage:
    """A message as it was received: its arrival number, the channel's id and its JSON."""

    seq: int
    external_id: str
    payload: dict[str, Any]


class ChannelStore(Store):
    """Inbound messages of other channels, and each person's conversation state there."""

    async def lead_intake(self) -> bool:
        """Tell whether this worker handles the stored messages (one worker at a time does).

        Several workers on one database all store what reaches them; one handles it all, in
        arrival order, and another takes over at its next look if that one dies.
        """
        return await lead(self._database.coordination, CHANNEL_LOCK)

    async def store_inbound(self, channel: str, external_id: str, payload: str) -> bool:
        """Store one received message; False when its id was received before (a resend)."""
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO channel_inbound (channel, external_id, payload,"
                " received_at) VALUES (?, ?, ?, ?)",
                (channel, external_id, payload, self._now()),
            )
            return cur.rowcount == 1

    async def pending_inbound(self, channel: str, limit: int = 50) -> list[StoredMessage]:
        """Return stored messages not yet handled, in arrival order."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT seq, external_id, payload FROM channel_inbound"
                " WHERE channel = ? AND handled_at IS NULL ORDER BY seq LIMIT ?",
                (channel, limit),
            )
        return [StoredMessage(r["seq"], r["external_id"], json.loads(r["payload"])) for r in rows]

    async def inbound_handled(self, seq: int) -> None:
        """Mark a message handled and drop its content; forget ids older than 48 hours."""
        now = self._now()
        async with self._write() as conn:
            await conn.execute(
                "UPDATE channel_inbound SET payload = NULL, handled_at = ? WHERE seq = ?",
                (now, seq),
            )
            await conn.execute(
                "DELETE FROM channel_inbound WHERE handled_at IS NOT NULL AND handled_at < ?",
                (now - SEEN_SECONDS,),
            )

    async def get_state(self, user_id: int) -> dict[str, Any]:
        """Return what the person was last shown (empty if nothing)."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT state FROM channel_state WHERE user_id = ?", (user_id,)
            )
        return dict(json.loads(row["state"])) if row else {}

    async def set_state(self, user_id: int, state: dict[str, Any]) -> None:
        """Replace what the person was last shown."""
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO channel_state (user_id, state, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                (user_id, json.dumps(state, ensure_ascii=False), self._now()),
            )

    async def expire_states(self, updated_before: float) -> int:
        """Delete what people were shown (and an answer kept while its report was asked for)
        that has not changed since `updated_before`; return how many."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM channel_state WHERE updated_at < ?", (updated_before,)
            )
            return cur.rowcount

    async def awaiting_answer(self, user_id: int) -> list[tuple[int, str]]:
        """Return (id, code) of the person's open reports whose unit's question is unanswered.

        A question is open while the report is open and no answer of the reporter came after
        it; the newest question first.
        """
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT reports.id AS id, reports.code AS code, max(q.id) AS asked"
                " FROM reporters JOIN reports ON reports.id = reporters.report_id"
                " JOIN relays q ON q.report_id = reports.id AND q.direction = 'to_citizen'"
                " WHERE reporters.user_id = ? AND reports.status NOT IN ('resolved', 'declined')"
                " AND NOT EXISTS (SELECT 1 FROM relays a WHERE a.report_id = reports.id"
                " AND a.direction = 'to_unit' AND a.id > q.id)"
                " GROUP BY reports.id ORDER BY asked DESC",
                (user_id,),
            )
        return [(int(r["id"]), str(r["code"])) for r in rows]

    async def awaiting_verdict(self, user_id: int, since: float) -> list[tuple[int, str, str]]:
        """Return (id, code, what) of the person's reports closed since `since` and waiting for
        them: "verdict" on a resolution, or "rating" of a closed report; the newest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT reports.id AS id, reports.code AS code, CASE WHEN status = 'resolved'"
                " AND citizen_verdict IS NULL THEN 'verdict' ELSE 'rating' END AS what"
                " FROM reporters JOIN reports ON reports.id = reporters.report_id"
                " WHERE reporters.user_id = ? AND ((status = 'resolved' AND citizen_verdict IS"
                " NULL) OR (rating IS NULL AND (status = 'declined' OR citizen_verdict IS NOT"
                " NULL))) AND coalesce(closed_at, updated_at, created_at) >= ?"
                " ORDER BY reports.updated_at DESC, reports.id DESC",
                (user_id, since),
            )
        return [(int(r["id"]), str(r["code"]), str(r["what"])) for r in rows]
