"""Administration: admins added in chat, their audit log, bans and spam flags.

The admin audit log is append-only (triggers refuse updates and deletes). A ban outlives the
erasure of the banned user's data, so that erasure is no way around moderation.
"""

from __future__ import annotations

from typing import Any

from bot.store.database import Store
from bot.store.dialect import fetch_one


class AdminStore(Store):
    """Admins, the administration audit log, bans and spam flags."""

    async def chat_admins(self) -> set[int]:
        """Return the admins added in chat."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT user_id FROM admins")
        return {r["user_id"] for r in rows}

    async def add_admin(self, user_id: int, added_by: int) -> bool:
        """Make someone an admin; False if they already were."""
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO admins (user_id, added_by, added_at) VALUES (?, ?, ?)",
                (user_id, added_by, self._now()),
            )
            return cur.rowcount > 0

    async def remove_admin(self, user_id: int) -> bool:
        """Take away an admin added in chat; False if they were not one."""
        async with self._write() as conn:
            cur = await conn.execute("DELETE FROM admins WHERE user_id = ?", (user_id,))
            return cur.rowcount > 0

    async def log_admin(
        self, admin_id: int, action: str, target: str | None = None, details: str | None = None
    ) -> None:
        """Append an admin's action to the administration audit log."""
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO admin_audit (at, admin_id, action, target, details)"
                " VALUES (?, ?, ?, ?, ?)",
                (self._now(), admin_id, action, target, details),
            )

    async def admin_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the latest administration audit entries, newest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM admin_audit ORDER BY id DESC LIMIT ?", (limit,)
            )
        return [dict(r) for r in rows]

    async def ban(self, user_id: int, reason: str | None, by: int) -> bool:
        """Ban a user from the bot; False if already banned."""
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO bans (user_id, reason, banned_by, banned_at)"
                " VALUES (?, ?, ?, ?)",
                (user_id, reason, by, self._now()),
            )
            return cur.rowcount > 0

    async def unban(self, user_id: int) -> bool:
        """Lift a ban; False if there was none."""
        async with self._write() as conn:
            cur = await conn.execute("DELETE FROM bans WHERE user_id = ?", (user_id,))
            return cur.rowcount > 0

    async def ban_state(self, user_id: int) -> bool | None:
        """Return None if not banned, else whether the user was already told."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT notified FROM bans WHERE user_id = ?", (user_id,))
        return None if row is None else bool(row["notified"])

    async def reporter_of(self, report_id: int) -> int | None:
        """Return who sent a report, while the link is kept; for banning, never shown."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT user_id FROM reporters WHERE report_id = ?", (report_id,)
            )
        return int(row["user_id"]) if row else None

    async def reporter_banned(self, report_id: int) -> bool:
        """Tell whether the sender of a report, while the link is kept, is banned."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT 1 FROM reporters JOIN bans ON bans.user_id = reporters.user_id"
                " WHERE reporters.report_id = ?",
                (report_id,),
            )
        return row is not None

    async def ban_notified(self, user_id: int) -> None:
        """Remember that the banned user got their one refusal."""
        async with self._write() as conn:
            await conn.execute("UPDATE bans SET notified = 1 WHERE user_id = ?", (user_id,))

    async def banned(self) -> list[dict[str, Any]]:
        """Return every ban, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT * FROM bans ORDER BY banned_at")
        return [dict(r) for r in rows]

    async def set_spam(self, report_id: int, spam: bool) -> bool:
        """Mark or unmark a report as spam (kept, left out of statistics)."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE reports SET spam = ? WHERE id = ? AND spam != ?",
                (int(spam), report_id, int(spam)),
            )
            return cur.rowcount > 0
