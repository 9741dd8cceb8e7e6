"""Markers: small named values that runs of the bot compare and set (the last digest's week).

Setting a marker checks the value it replaces, and queues the messages that go with it in the
same transaction, so that two runs racing for the same week send its digest once.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.outbox import Outgoing
from bot.store.database import Store
from bot.store.dialect import fetch_one
from bot.store.rows import insert_outbox


class MarkerStore(Store):
    """Named values compared and set atomically."""

    async def get_marker(self, name: str) -> str | None:
        """Return a stored marker (e.g. the last week a digest went out)."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT value FROM markers WHERE name = ?", (name,))
        return row["value"] if row else None

    async def set_marker(
        self,
        name: str,
        value: str,
        *,
        expect: str | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> bool:
        """Set a marker if it still holds `expect` and queue `outbox`; False if beaten to it."""
        # Compare, set and queue in one transaction: of two runs racing for the same value,
        # exactly one queues the messages.
        now = self._now()
        async with self._write() as conn:
            row = await fetch_one(conn, "SELECT value FROM markers WHERE name = ?", (name,))
            if (row["value"] if row else None) != expect:
                return False
            await conn.execute(
                "INSERT INTO markers (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
            for item in outbox:
                await insert_outbox(conn, now, item, item.report_id, {})
            return True
