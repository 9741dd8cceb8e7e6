"""Users: the citizens and staff who talked to the bot, their language and their consent.

A row is created at the first message; consent to the processing of personal data is a moment
recorded once, and erasing a user (`bot.store.privacy`) deletes the row again.
"""

from __future__ import annotations

from bot.store.database import Store


class UserStore(Store):
    """Who talked to the bot, in which language, and since when they consented."""

    async def get_or_create_user(self, user_id: int, locale: str) -> tuple[str, bool]:
        """Return the user's stored locale and whether they consented, creating the row."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT locale, consented_at FROM users WHERE user_id = ?", (user_id,)
                )
            ).fetchone()
        if row is not None:
            return row["locale"], row["consented_at"] is not None
        async with self._write() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO users (user_id, locale, created_at) VALUES (?, ?, ?)",
                (user_id, locale, self._now()),
            )
        return locale, False

    async def user_locale(self, user_id: int) -> str | None:
        """Return a user's stored locale, if the user has talked to the bot."""
        async with self._read() as conn:
            row = await (
                await conn.execute("SELECT locale FROM users WHERE user_id = ?", (user_id,))
            ).fetchone()
        return row["locale"] if row else None

    async def set_locale(self, user_id: int, locale: str) -> None:
        """Store the user's language."""
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO users (user_id, locale, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET locale = excluded.locale",
                (user_id, locale, self._now()),
            )

    async def set_consent(self, user_id: int, locale: str) -> None:
        """Record the moment the user consented to the processing of personal data."""
        now = self._now()
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO users (user_id, locale, consented_at, created_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET consented_at = excluded.consented_at",
                (user_id, locale, now, now),
            )
