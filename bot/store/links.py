"""Links and relays: bot messages tied to a report, and messages passed between its two sides.

A link lets a button press or a reply find its report from the message it touches rather than
from anything the client sends. A relay is a question from a unit to the citizen or an answer
back, stored with its audit line and the delivery it needs in one transaction.
"""

from __future__ import annotations

from bot.core.domain import Actor, Link, Relay
from bot.core.outbox import Outgoing
from bot.store.database import Store
from bot.store.dialect import fetch_one
from bot.store.rows import insert_audit, insert_link, insert_outbox, to_link, to_relay


class LinkStore(Store):
    """Messages tied to reports, and messages relayed between a unit and a citizen."""

    async def add_link(self, link: Link) -> None:
        """Tie a bot message to a report."""
        async with self._write() as conn:
            await insert_link(conn, link, self._now())

    async def get_link(self, chat_id: int, message_id: int) -> Link | None:
        """Return what a bot message is tied to, if anything."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT * FROM links WHERE chat_id = ? AND message_id = ?",
                (chat_id, message_id),
            )
        return to_link(row) if row else None

    async def delete_link(self, chat_id: int, message_id: int) -> bool:
        """Untie a bot message (a prompt answered, a picker closed); False if already gone."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM links WHERE chat_id = ? AND message_id = ?", (chat_id, message_id)
            )
            return cur.rowcount > 0

    async def alert_links(self, report_id: int) -> list[Link]:
        """Return every alert message shown for a report, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM links WHERE report_id = ? AND purpose = 'alert'"
                " ORDER BY created_at, message_id",
                (report_id,),
            )
        return [to_link(r) for r in rows]

    async def add_relay(
        self,
        report_id: int,
        *,
        direction: str,
        kind: str,
        text: str | None,
        source_chat_id: int,
        source_message_id: int,
        actor: Actor,
        outgoing: Outgoing,
        file_id: str | None = None,
        mime_type: str | None = None,
        data: bytes | None = None,
    ) -> int | None:
        """Store a relayed message and the delivery it needs, atomically; None if a replay.

        `data` keeps the file's bytes, for a reporter on a channel that cannot copy it.
        """
        # The same source message relayed twice is a replayed update: stored and sent once.
        now = self._now()
        async with self._write() as conn:
            seen = await fetch_one(
                conn,
                "SELECT 1 FROM relays WHERE source_chat_id = ? AND source_message_id = ?",
                (source_chat_id, source_message_id),
            )
            if seen is not None:
                return None
            cur = await conn.execute(
                "INSERT INTO relays (report_id, direction, actor_id, kind, text, source_chat_id,"
                " source_message_id, created_at, file_id, mime_type)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    direction,
                    actor.id if actor.kind != "citizen" else None,
                    kind,
                    text,
                    source_chat_id,
                    source_message_id,
                    now,
                    file_id,
                    mime_type,
                ),
            )
            relay_id = cur.lastrowid
            assert relay_id is not None
            if data is not None:
                await conn.execute(
                    "INSERT INTO files (relay_id, data, created_at) VALUES (?, ?, ?)",
                    (relay_id, data, now),
                )
            action = "asked" if direction == "to_citizen" else "answered"
            await insert_audit(conn, report_id, now, actor, action, None, None, None, None, None)
            await insert_outbox(conn, now, outgoing, report_id, {"relay_id": relay_id})
        return relay_id

    async def get_relay(self, relay_id: int) -> Relay | None:
        """Return one relayed message."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT * FROM relays WHERE id = ?", (relay_id,))
        return to_relay(row) if row else None

    async def last_asking_unit(self, report_id: int) -> str | None:
        """Return the unit that last asked the reporter of a report a question, if any."""
        # The asking unit travels with the question's delivery (QuestionPayload.unit).
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT json_extract(payload, '$.unit') AS unit FROM outbox"
                " WHERE report_id = ? AND kind = 'citizen_question' ORDER BY id DESC LIMIT 1",
                (report_id,),
            )
        return row["unit"] if row and row["unit"] else None

    async def asking_units(self, report_id: int) -> dict[int, str]:
        """Return, for each question to the reporter of a report, the unit that asked it."""
        # As for `last_asking_unit`: the question's delivery carries its relay and its unit.
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT json_extract(payload, '$.relay_id') AS relay,"
                " json_extract(payload, '$.unit') AS unit FROM outbox"
                " WHERE report_id = ? AND kind = 'citizen_question'",
                (report_id,),
            )
        return {int(r["relay"]): str(r["unit"]) for r in rows if r["relay"] and r["unit"]}

    async def relays_of(self, report_id: int) -> list[Relay]:
        """Return the messages relayed for a report, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM relays WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [to_relay(r) for r in rows]
