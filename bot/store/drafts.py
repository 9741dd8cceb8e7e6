"""Drafts: a citizen's unfinished report, the step it is at and the evidence attached so far.

One draft per user. Evidence is stored as attachment rows tied to the draft's user until the
draft becomes a report (`ReportStore.submit_draft` moves them in the same transaction).
"""

from __future__ import annotations

import json

from bot.core.domain import Attachment, Draft, ReportFields
from bot.store.database import Store
from bot.store.dialect import Row, fetch_one
from bot.store.rows import ATTACHMENT_SELECT, insert_draft_attachment, to_attachment


class DraftStore(Store):
    """Unfinished reports and the evidence attached to them."""

    async def get_draft(self, user_id: int) -> Draft | None:
        """Return the user's unfinished report."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT user_id, chat_id, step, data FROM drafts WHERE user_id = ?",
                (user_id,),
            )
        return _draft(row) if row is not None else None

    async def get_draft_and_files(self, user_id: int) -> tuple[Draft | None, int]:
        """Return the user's unfinished report and how many files it has, read together."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT user_id, chat_id, step, data,"
                " (SELECT count(*) FROM attachments WHERE draft_user_id = drafts.user_id) AS files"
                " FROM drafts WHERE user_id = ?",
                (user_id,),
            )
        return (_draft(row), int(row["files"])) if row is not None else (None, 0)

    async def save_draft(self, draft: Draft) -> None:
        """Store the draft with its current step, replacing the previous version."""
        data = draft_data(draft)
        await self._write_one(
            "INSERT INTO drafts (user_id, chat_id, step, data, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
            " chat_id = excluded.chat_id, step = excluded.step, data = excluded.data,"
            " updated_at = excluded.updated_at",
            (draft.user_id, draft.chat_id, draft.step, data, self._now()),
        )

    async def delete_draft(self, user_id: int) -> None:
        """Drop the user's draft and the evidence attached to it."""
        async with self._write() as conn:
            await conn.execute("DELETE FROM attachments WHERE draft_user_id = ?", (user_id,))
            await conn.execute("DELETE FROM drafts WHERE user_id = ?", (user_id,))

    async def draft_steps(self) -> dict[tuple[int, int], int]:
        """Return every draft's step keyed by (chat_id, user_id), for resuming after restart."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT chat_id, user_id, step FROM drafts")
        return {(r["chat_id"], r["user_id"]): r["step"] for r in rows}

    async def add_draft_attachment(self, user_id: int, att: Attachment) -> int:
        """Attach evidence to the user's draft; return its id."""
        # The same message attached again (its update replayed after a crash) is the same file.
        async with self._write() as conn:
            row = await fetch_one(
                conn,
                "SELECT id FROM attachments WHERE draft_user_id = ? AND chat_id = ?"
                " AND message_id = ?",
                (user_id, att.chat_id, att.message_id),
            )
            if row is not None:
                return int(row["id"])
            return await insert_draft_attachment(conn, user_id, att, self._now())

    async def draft_attachments(self, user_id: int) -> list[Attachment]:
        """Return the evidence attached to the user's draft, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                ATTACHMENT_SELECT + " WHERE draft_user_id = ? ORDER BY id", (user_id,)
            )
        return [to_attachment(r) for r in rows]

    async def clear_draft_attachments(self, user_id: int) -> None:
        """Remove all evidence from the user's draft."""
        await self._write_one("DELETE FROM attachments WHERE draft_user_id = ?", (user_id,))

    async def set_attachment_hash(self, attachment_id: int, sha256: str) -> None:
        """Record the SHA-256 of a downloaded piece of evidence."""
        await self._write_one(
            "UPDATE attachments SET sha256 = ? WHERE id = ?", (sha256, attachment_id)
        )


def draft_data(draft: Draft) -> str:
    """The draft's answers and flags as stored: only what differs from a new draft's."""
    # A question left open holds few answers: the unanswered fields (None) and the flags at
    # their defaults are left out, which `_draft` reads back as the same. Writing every key
    # made a row of about 420 bytes for a draft with no answer yet, and every open
    # conversation's row takes its room in the database and in SQLite's page cache.
    data: dict[str, object] = {}
    fields = {k: v for k, v in draft.fields.to_json().items() if v is not None}
    if fields:
        data["fields"] = fields
    if draft.reviewing:
        data["reviewing"] = True
    if draft.answered_by is not None:
        data["answered_by"] = draft.answered_by
    if draft.unseen:
        data["unseen"] = True
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _draft(row: Row) -> Draft:
    data = json.loads(row["data"])
    return Draft(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        step=row["step"],
        fields=ReportFields.from_json(data.get("fields", {})),
        reviewing=bool(data.get("reviewing")),
        answered_by=data.get("answered_by"),
        unseen=bool(data.get("unseen")),
    )
