"""Citizens' privacy rights and retention: export, erasure and expiry of personal data.

Kept in one module so the rules about personal data can be read in one place. Erasure touches
every area (users, drafts, reports, links, outbox) in one transaction on the shared connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.domain import CITIZEN, Channel
from bot.store.database import Store
from bot.store.dialect import Connection, fetch_one
from bot.store.rows import insert_audit

# Why a message owed to a citizen was dropped: nobody is left to receive it.
ERASED = "the reporter's personal data was erased"

_ATTACHMENT_COLUMNS = "kind, file_name, mime_type, file_size, sha256, created_at"


class PrivacyStore(Store):
    """Export, erasure and retention of personal data."""

    async def personal_data(self, user_id: int) -> dict[str, Any]:
        """Return every stored row about a user as plain dicts (contacts still sealed)."""
        async with self._read(together=True) as conn:
            user = await _one(
                conn,
                "SELECT locale, consented_at, created_at FROM users WHERE user_id = ?",
                user_id,
            )
            draft = await _one(
                conn, "SELECT step, data, updated_at FROM drafts WHERE user_id = ?", user_id
            )
            draft_attachments = await _all(
                conn,
                f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments WHERE draft_user_id = ?"
                " ORDER BY id",
                user_id,
            )
            reports = [
                await _report_rows(conn, row)
                for row in await _all(
                    conn,
                    "SELECT reports.* FROM reports JOIN reporters"
                    " ON reporters.report_id = reports.id"
                    " WHERE reporters.user_id = ? ORDER BY reports.id",
                    user_id,
                )
            ]
            bans = await _all(
                conn,
                "SELECT reason, banned_at FROM bans WHERE user_id = ? ORDER BY banned_at",
                user_id,
            )
            officer = await _all(
                conn,
                "SELECT unit_code FROM unit_officers WHERE user_id = ? ORDER BY unit_code",
                user_id,
            )
            admin = await _one(conn, "SELECT added_at FROM admins WHERE user_id = ?", user_id)
            identity = await _one(
                conn, "SELECT channel, created_at FROM identities WHERE user_id = ?", user_id
            )
            units = await _all(conn, "SELECT code, name FROM units")
        return {
            "user": user,
            "draft": draft,
            "draft_attachments": draft_attachments,
            "reports": reports,
            "bans": bans,
            "officer_units": [r["unit_code"] for r in officer],
            "admin_since": admin["added_at"] if admin else None,
            "identity": identity,
            "units": {u["code"]: u["name"] for u in units},
        }

    async def forget_user(self, user_id: int) -> int:
        """Erase a citizen's personal data in one transaction; return the reports de-identified."""
        # Gone: the user row, the draft and its evidence, the link to each report, the contact
        # details of named reports, the bot's messages tied to their reports in their chat,
        # notices queued for them, and their chat's ids on evidence and answers. The reports
        # stay for the units, each with a "forgotten" line in its audit log; bans stay too, so
        # that erasure is no way around moderation, and so do the daily limit's keyed-hash
        # counts, which name nobody and go once 24 hours old.
        # The identity that maps a channel's id (a web session, a Zalo account) to the user
        # goes too, unless the user is banned: it is what the ban is recognised by.
        now = self._now()
        async with self._write() as conn:
            reports = await _all(
                conn,
                "SELECT reports.id AS id, status, unit_code, reporters.chat_id AS chat_id"
                " FROM reports JOIN reporters ON reporters.report_id = reports.id"
                " WHERE reporters.user_id = ?",
                user_id,
            )
            draft = await _one(conn, "SELECT chat_id FROM drafts WHERE user_id = ?", user_id)
            chats = {user_id, *(r["chat_id"] for r in reports)}
            if draft is not None:
                chats.add(draft["chat_id"])
            await conn.execute("DELETE FROM attachments WHERE draft_user_id = ?", (user_id,))
            await conn.execute("DELETE FROM drafts WHERE user_id = ?", (user_id,))
            await _unlink(conn, reports, chats, now)
            chat_marks = _marks(chats)
            await conn.execute(
                f"DELETE FROM outbox WHERE kind LIKE 'notice%' AND chat_id IN ({chat_marks})",
                tuple(chats),
            )
            await conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            # Another channel's account id is personal data too. A web session's identity goes
            # (unless a ban is recognised by it); a Zalo account, which comes back as itself,
            # is kept only as a keyed hash, so that its ban and daily limit still hold.
            identity = await _one(
                conn, "SELECT channel, external_id FROM identities WHERE user_id = ?", user_id
            )
            if identity is not None and identity["channel"] == Channel.ZALO.value:
                if not identity["external_id"].startswith("forgotten:"):
                    forgotten = self._forgotten_id(identity["channel"], identity["external_id"])
                    await conn.execute(
                        "UPDATE identities SET external_id = ? WHERE user_id = ?",
                        (forgotten, user_id),
                    )
            else:
                await conn.execute(
                    "DELETE FROM identities WHERE user_id = ?"
                    " AND user_id NOT IN (SELECT user_id FROM bans)",
                    (user_id,),
                )
            # What a text-only channel last showed them goes too.
            await conn.execute("DELETE FROM channel_state WHERE user_id = ?", (user_id,))
            await _scrub(conn)
        return len(reports)

    async def report_data(self, report_id: int) -> dict[str, Any] | None:
        """Return one report's rows as its sender may see them (contacts still sealed)."""
        async with self._read(together=True) as conn:
            row = await _one(conn, "SELECT * FROM reports WHERE id = ?", report_id)
            if row is None:
                return None
            found = await _report_rows(conn, row)
            units = await _all(conn, "SELECT code, name FROM units")
        return {**found, "units": {u["code"]: u["name"] for u in units}}

    async def forget_report(self, report_id: int) -> bool:
        """Erase what ties one report to its sender, in one transaction; False if no report.

        For a sender known only by what they hold (a web reporter's code and key): the same as
        `forget_user` does to each of a user's reports, and the report's receipt key goes too,
        so that the code and key open nothing any more.
        """
        now = self._now()
        async with self._write() as conn:
            reports = await _all(
                conn,
                "SELECT reports.id AS id, status, unit_code, reporters.chat_id AS chat_id"
                " FROM reports LEFT JOIN reporters ON reporters.report_id = reports.id"
                " WHERE reports.id = ?",
                report_id,
            )
            if not reports:
                return False
            chats = {r["chat_id"] for r in reports if r["chat_id"] is not None}
            await _unlink(conn, reports, chats, now)
            await conn.execute(
                f"DELETE FROM outbox WHERE kind LIKE 'notice%' AND report_id = ?"
                f" AND chat_id IN ({_marks(chats)})",
                (report_id, *chats),
            )
            await _scrub(conn)
        return True

    async def expire_reporter_links(self, closed_before: float) -> int:
        """Unlink anonymous reports closed before a moment from their senders; return how many."""
        # A report still owing its sender a message (the outcome, a question) keeps the link
        # until that is delivered.
        async with self._write() as conn:
            rows = await _all(
                conn,
                "SELECT reporters.report_id AS id, reporters.chat_id AS chat_id FROM reporters"
                " JOIN reports ON reports.id = reporters.report_id"
                " WHERE reports.anonymous <> 0 AND reports.status IN ('resolved', 'declined')"
                " AND reports.closed_at IS NOT NULL AND reports.closed_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.report_id = reports.id"
                " AND outbox.kind LIKE 'citizen%' AND outbox.status = 'pending')",
                closed_before,
            )
            for row in rows:
                await conn.execute("DELETE FROM reporters WHERE report_id = ?", (row["id"],))
                # A web reporter's link is the key they hold: it stops opening the report.
                await conn.execute("DELETE FROM receipt_keys WHERE report_id = ?", (row["id"],))
                await conn.execute(
                    "DELETE FROM links WHERE report_id = ? AND chat_id = ?",
                    (row["id"], row["chat_id"]),
                )
            if rows:
                await _scrub(conn)
        return len(rows)

    async def expire_drafts(self, updated_before: float) -> int:
        """Delete unfinished reports untouched since a moment, with their evidence."""
        async with self._write() as conn:
            rows = await _all(
                conn, "SELECT user_id FROM drafts WHERE updated_at <= ?", updated_before
            )
            for row in rows:
                await conn.execute(
                    "DELETE FROM attachments WHERE draft_user_id = ?", (row["user_id"],)
                )
                await conn.execute("DELETE FROM drafts WHERE user_id = ?", (row["user_id"],))
        return len(rows)

    async def expire_identities(self, channel: Channel, created_before: float) -> int:
        """Delete a channel's idle identities made before a moment, with their user row.

        Idle: no unfinished report, no report still linked to them, no ban. Meant for channels
        whose ids do not last (a web identity is a browser's session: once idle it serves
        nobody, and it is personal data).
        """
        async with self._write() as conn:
            rows = await _all(
                conn,
                "SELECT user_id FROM identities WHERE channel = ? AND created_at <= ?"
                " AND user_id NOT IN (SELECT user_id FROM drafts)"
                " AND user_id NOT IN (SELECT user_id FROM reporters)"
                " AND user_id NOT IN (SELECT user_id FROM bans)",
                channel.value,
                created_before,
            )
            for row in rows:
                await conn.execute("DELETE FROM users WHERE user_id = ?", (row["user_id"],))
                await conn.execute("DELETE FROM identities WHERE user_id = ?", (row["user_id"],))
        return len(rows)

    async def expire_sent_reports(self, sent_before: float) -> int:
        """Delete the daily limit's keyed-hash rows of reports sent before a moment."""
        async with self._write() as conn:
            cur = await conn.execute("DELETE FROM sent_reports WHERE sent_at < ?", (sent_before,))
            return cur.rowcount

    async def scrub_unlinked(self) -> int:
        """Clear the sender's chat and message ids from reports that no longer have a sender."""
        async with self._write() as conn:
            return await _scrub(conn)


async def _scrub(conn: Connection) -> int:
    """Blank the reporter's chat and message ids on evidence and answers of unlinked reports.

    The citizen's private chat id is their Telegram id, so these columns would tie a report
    back to them. Evidence still reaches a unit without them: delivery falls back to the file
    id when the original message cannot be copied. An answer still waiting to be copied to
    its unit keeps them until it is delivered (the next run clears them).
    """
    evidence = await conn.execute(
        "UPDATE attachments SET chat_id = 0, message_id = 0"
        " WHERE report_id IS NOT NULL AND chat_id != 0"
        " AND report_id NOT IN (SELECT report_id FROM reporters)"
    )
    answers = await conn.execute(
        "UPDATE relays SET source_chat_id = 0, source_message_id = 0"
        " WHERE direction = 'to_unit' AND source_chat_id != 0"
        " AND report_id NOT IN (SELECT report_id FROM reporters)"
        " AND id NOT IN (SELECT CAST(json_extract(payload, '$.relay_id') AS INTEGER) FROM outbox"
        " WHERE kind = 'unit_answer' AND status = 'pending'"
        " AND json_extract(payload, '$.relay_id') IS NOT NULL)"
    )
    return evidence.rowcount + answers.rowcount


async def _report_rows(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """Return a report's row with its audit log, relayed messages and evidence."""
    report_id = row["id"]
    return {
        "report": row,
        "audit": await _all(
            conn,
            "SELECT at, action, from_status, to_status, to_unit FROM audit"
            " WHERE report_id = ? ORDER BY id",
            report_id,
        ),
        "relays": await _all(
            conn,
            "SELECT direction, kind, text, created_at FROM relays WHERE report_id = ? ORDER BY id",
            report_id,
        ),
        "attachments": await _all(
            conn,
            f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments WHERE report_id = ? ORDER BY id",
            report_id,
        ),
    }


async def _unlink(
    conn: Connection, reports: list[dict[str, Any]], chats: set[int], now: float
) -> None:
    """Cut reports from their sender: contact, link, receipt key, messages in their chat."""
    for report in reports:
        await conn.execute(
            "UPDATE reports SET contact_name = NULL, contact_phone = NULL,"
            " updated_at = ? WHERE id = ?",
            (now, report["id"]),
        )
        # The same line a workflow step writes, with no status change: the unit's history
        # shows why the reporter can no longer be reached.
        await insert_audit(
            conn,
            report["id"],
            now,
            CITIZEN,
            "forgotten",
            report["status"],
            None,
            report["unit_code"],
            report["unit_code"],
            None,
        )
    ids = [r["id"] for r in reports]
    id_marks, chat_marks = _marks(ids), _marks(chats)
    await conn.execute(f"DELETE FROM reporters WHERE report_id IN ({id_marks})", tuple(ids))
    await conn.execute(f"DELETE FROM receipt_keys WHERE report_id IN ({id_marks})", tuple(ids))
    await conn.execute(
        f"DELETE FROM links WHERE chat_id IN ({chat_marks}) AND report_id IN ({id_marks})",
        (*chats, *ids),
    )
    # Nobody is left to tell: kept, with the reason, rather than reported as sent.
    await conn.execute(
        "UPDATE outbox SET status = 'failed', last_error = ? WHERE kind LIKE 'citizen%'"
        f" AND status = 'pending' AND report_id IN ({id_marks})",
        (ERASED, *ids),
    )


def _marks(values: Sequence[Any] | set[Any]) -> str:
    # "NULL" keeps "IN ()" valid SQL when there is nothing to match.
    return ",".join("?" * len(values)) or "NULL"


async def _one(conn: Connection, sql: str, *params: Any) -> dict[str, Any] | None:
    row = await fetch_one(conn, sql, params)
    return dict(row) if row is not None else None


async def _all(conn: Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.execute_fetchall(sql, params)]
