"""Bytes of files no Telegram message holds: evidence and answers sent from the web pages.

Evidence is an attachment row plus its bytes, written in one transaction; an answer is a relay,
its audit line, its delivery and its bytes, also in one. Delivery uploads the bytes where a
Telegram file would be copied.
"""

from __future__ import annotations

from bot.core.domain import Actor, Attachment
from bot.core.outbox import Outgoing
from bot.store.database import Store
from bot.store.dialect import fetch_one
from bot.store.rows import insert_audit, insert_draft_attachment, insert_outbox


class FileStore(Store):
    """Stored bytes of uploaded evidence and answers."""

    async def add_draft_file(self, user_id: int, att: Attachment, data: bytes) -> int:
        """Attach uploaded evidence and its bytes to the user's draft; return its id."""
        now = self._now()
        async with self._write() as conn:
            attachment_id = await insert_draft_attachment(conn, user_id, att, now)
            await conn.execute(
                "INSERT INTO files (attachment_id, data, created_at) VALUES (?, ?, ?)",
                (attachment_id, data, now),
            )
        return attachment_id

    async def attachment_bytes(self, attachment_id: int) -> bytes | None:
        """Return the stored bytes of a piece of evidence, None for a Telegram file."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT data FROM files WHERE attachment_id = ?", (attachment_id,)
            )
        return bytes(row["data"]) if row else None

    async def add_answer(
        self,
        report_id: int,
        *,
        kind: str,
        text: str | None,
        source: tuple[int, int],
        data: bytes | None,
        actor: Actor,
        outgoing: Outgoing,
    ) -> int | None:
        """Store a reporter's answer (with its file), audit line and delivery; None if a replay."""
        # `source` identifies the form that sent it: the same form posted twice is one answer.
        now = self._now()
        async with self._write() as conn:
            seen = await fetch_one(
                conn,
                "SELECT 1 FROM relays WHERE source_chat_id = ? AND source_message_id = ?",
                source,
            )
            if seen is not None:
                return None
            cur = await conn.execute(
                "INSERT INTO relays (report_id, direction, actor_id, kind, text, source_chat_id,"
                " source_message_id, created_at) VALUES (?, 'to_unit', NULL, ?, ?, ?, ?, ?)",
                (report_id, kind, text, *source, now),
            )
            relay_id = cur.lastrowid
            assert relay_id is not None
            if data is not None:
                await conn.execute(
                    "INSERT INTO files (relay_id, data, created_at) VALUES (?, ?, ?)",
                    (relay_id, data, now),
                )
            await insert_audit(
                conn, report_id, now, actor, "answered", None, None, None, None, None
            )
            await insert_outbox(conn, now, outgoing, report_id, {"relay_id": relay_id})
        return relay_id

    async def relay_bytes(self, relay_id: int) -> bytes | None:
        """Return the stored bytes of a relayed file, None for a Telegram message."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT data FROM files WHERE relay_id = ?", (relay_id,))
        return bytes(row["data"]) if row else None
