"""Users: the citizens and staff who talked to the bot, their language and their consent.

A row is created at the first message; consent to the processing of personal data is a moment
recorded once, and erasing a user (`bot.store.privacy`) deletes the row again.
"""

from __future__ import annotations

from bot.store.database import Store
from bot.store.dialect import fetch_one


class UserStore(Store):
    """Who talked to the bot, in which language, and since when they consented."""

    async def get_or_create_user(self, user_id: int, locale: str) -> tuple[str, bool]:
        """Return the user's stored locale and whether they consented, creating the row."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT locale, consented_at FROM users WHERE user_id = ?", (user_id,)
            )
        if row is not None:
            return row["locale"], row["consented_at"] is not None
        await self._create(user_id, locale)
        return locale, False

    async def get_or_create_with_ban(
        self, user_id: int, locale: str
    ) -> tuple[str, bool, bool | None]:
        """Return what `get_or_create_user` does and the user's ban, in one query.

        The ban is `AdminStore.ban_state`'s: None if not banned, else whether they were told.
        """
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT users.locale AS locale, users.consented_at AS consented_at,"
                " bans.user_id AS banned, bans.notified AS notified"
                " FROM (SELECT CAST(? AS INTEGER) AS id) AS me"
                " LEFT JOIN users ON users.user_id = me.id LEFT JOIN bans ON bans.user_id = me.id",
                (user_id,),
            )
        assert row is not None
        ban = None if row["banned"] is None else bool(row["notified"])
        if row["locale"] is not None:
            return row["locale"], row["consented_at"] is not None, ban
        await self._create(user_id, locale)
        return locale, False, ban

    async def _create(self, user_id: int, locale: str) -> None:
        await self._write_one(
            "INSERT OR IGNORE INTO users (user_id, locale, created_at) VALUES (?, ?, ?)",
            (user_id, locale, self._now()),
        )

    async def user_locale(self, user_id: int) -> str | None:
        """Return a user's stored locale, if the user has talked to the bot."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT locale FROM users WHERE user_id = ?", (user_id,))
        return row["locale"] if row else None

    async def set_locale(self, user_id: int, locale: str) -> None:
        """Store the user's language."""
        await self._write_one(
            "INSERT INTO users (user_id, locale, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET locale = excluded.locale",
            (user_id, locale, self._now()),
        )

    async def set_consent(self, user_id: int, locale: str) -> None:
        """Record the moment the user consented to the processing of personal data."""
        now = self._now()
        await self._write_one(
            "INSERT INTO users (user_id, locale, consented_at, created_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET consented_at = excluded.consented_at",
            (user_id, locale, now, now),
        )
