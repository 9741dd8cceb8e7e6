"""Identities of people on channels other than Telegram, and the keys web reporters hold.

An identity maps a channel's own id for a person (a web session, a Zalo user) to an internal
user id above every Telegram id, so that the rest of the store needs no channel of its own.
Identities are erased with their person's data (`bot.store.privacy`); an erased identity's
user id is never given to anyone else, since bans and the daily limit's counts outlive it.
"""

from __future__ import annotations

from bot.core.domain import FIRST_INTERNAL_ID, Channel
from bot.store.database import Store
from bot.store.dialect import fetch_one

# The highest internal user id ever given, kept in `markers` so that ids of erased identities
# are never reused.
_LAST_ID = "identities.last_user_id"


class IdentityStore(Store):
    """Internal user ids for other channels' people, and reports' receipt keys."""

    async def user_id(self, channel: Channel, external_id: str) -> int:
        """Return the internal user id of a channel's person, allocating one the first time.

        A person who erased their data and comes back gets their former id again (their
        account id was kept only as a keyed hash), so that a ban and the daily limit still
        apply; nothing else of theirs is left to link.
        """
        forgotten = self._forgotten_id(channel.value, external_id)
        async with self._write() as conn:
            row = await fetch_one(
                conn,
                "SELECT user_id FROM identities WHERE channel = ? AND external_id IN (?, ?)",
                (channel.value, external_id, forgotten),
            )
            if row is not None:
                await conn.execute(
                    "UPDATE identities SET external_id = ? WHERE user_id = ?",
                    (external_id, row["user_id"]),
                )
                return int(row["user_id"])
            marker = await fetch_one(conn, "SELECT value FROM markers WHERE name = ?", (_LAST_ID,))
            highest = await fetch_one(conn, "SELECT max(user_id) AS id FROM identities")
            given = [FIRST_INTERNAL_ID - 1, int(highest["id"] or 0) if highest else 0]
            if marker is not None:
                given.append(int(marker["value"]))
            new_id = max(given) + 1
            await conn.execute(
                "INSERT INTO identities (user_id, channel, external_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (new_id, channel.value, external_id, self._now()),
            )
            await conn.execute(
                "INSERT INTO markers (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (_LAST_ID, str(new_id)),
            )
            return new_id

    async def find_user_id(self, channel: Channel, external_id: str) -> int | None:
        """Return the internal user id of a channel's person, if they have one."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT user_id FROM identities WHERE channel = ? AND external_id = ?",
                (channel.value, external_id),
            )
        return int(row["user_id"]) if row else None

    async def external_id(self, user_id: int) -> tuple[Channel, str] | None:
        """Return the channel and that channel's own id of an internal user, if they have one."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT channel, external_id FROM identities WHERE user_id = ?", (user_id,)
            )
        return (Channel(row["channel"]), str(row["external_id"])) if row else None

    async def receipt_key(self, code: str) -> tuple[int, bytes, bytes] | None:
        """Return the report id, salt and key hash of the report with `code`, if it has a key."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT reports.id AS id, salt, hash FROM reports JOIN receipt_keys"
                " ON receipt_keys.report_id = reports.id WHERE code = ?",
                (code,),
            )
        if row is None:
            return None
        return int(row["id"]), bytes(row["salt"]), bytes(row["hash"])
