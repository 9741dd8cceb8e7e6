"""Chats the bot was brought into that no unit is bound to, and what it did there once."""

from __future__ import annotations

from bot.store.database import Store
from bot.store.dialect import fetch_one


class ChatStore(Store):
    """One note per group or channel without a unit: "told" (how to bind it) or "left"."""

    async def note_chat(self, chat_id: int, note: str, *, replace: bool = False) -> bool:
        """Note what the bot did in a chat; False if one was there (kept unless `replace`)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        async with self._write() as conn:
            cur = await conn.execute(
                f"{verb} INTO chat_notes (chat_id, note, noted_at) VALUES (?, ?, ?)",
                (chat_id, note, self._now()),
            )
            return bool(cur.rowcount)

    async def chat_note(self, chat_id: int) -> str | None:
        """Return what the bot noted about a chat, if anything."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT note FROM chat_notes WHERE chat_id = ?", (chat_id,)
            )
        return row["note"] if row else None
