"""Inbound updates: what Telegram sent, kept until handled so that a crash loses none.

The highest update id ever stored is kept as the `inbound_max` marker, so that an update
Telegram sends again after a restart is recognised even once its row has been forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.database import Store


class InboundStore(Store):
    """Raw updates between receiving and handling them."""

    async def store_updates(self, updates: Sequence[tuple[int, str]]) -> list[int]:
        """Keep raw updates until handled; return the ids that are new (not seen before)."""
        # An update at or below the highest id ever stored was received already (Telegram sends
        # it again when the bot died before confirming it) and is not stored twice.
        if not updates:
            return []
        now = self._now()
        async with self._write() as conn:
            row = await (
                await conn.execute("SELECT value FROM markers WHERE name = 'inbound_max'")
            ).fetchone()
            highest = int(row["value"]) if row else -1
            fresh = [(uid, payload) for uid, payload in updates if uid > highest]
            await conn.executemany(
                "INSERT OR IGNORE INTO inbound (update_id, payload, received_at) VALUES (?, ?, ?)",
                [(uid, payload, now) for uid, payload in fresh],
            )
            if fresh:
                await conn.execute(
                    "INSERT INTO markers (name, value) VALUES ('inbound_max', ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (str(max(uid for uid, _ in fresh)),),
                )
        return [uid for uid, _ in fresh]

    async def unhandled_updates(self, limit: int = 1000) -> list[tuple[int, str]]:
        """Return stored updates not yet handled, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT update_id, payload FROM inbound ORDER BY update_id LIMIT ?", (limit,)
            )
        return [(r["update_id"], r["payload"]) for r in rows]

    async def update_handled(self, update_id: int) -> None:
        """Forget a handled update (its payload holds personal data)."""
        async with self._write() as conn:
            await conn.execute("DELETE FROM inbound WHERE update_id = ?", (update_id,))

    async def highest_update_id(self) -> int | None:
        """Return the highest update id ever stored."""
        async with self._read() as conn:
            row = await (
                await conn.execute("SELECT value FROM markers WHERE name = 'inbound_max'")
            ).fetchone()
        return int(row["value"]) if row else None
