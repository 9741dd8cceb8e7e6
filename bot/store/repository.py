"""The repository: every piece of SQL in the project lives here, behind named methods."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from bot.config import UnitConfig
from bot.core.domain import (
    Actor,
    Attachment,
    AuditEntry,
    Draft,
    Link,
    OutboxItem,
    Relay,
    Report,
    ReportFields,
    Status,
    Timers,
    Unit,
)
from bot.core.parsing import fold, matches, new_code
from bot.sealing import seal, secure_database_file, unseal
from bot.store.privacy import PrivacyStore

Clock = Callable[[], float]

# Append-only: a deployed database has run every entry before its own version, so an entry is
# never edited or reordered, only followed by a new one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE units (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            parent TEXT REFERENCES units(code),
            chat_id INTEGER,
            seed_chat_id INTEGER,
            chat_state TEXT NOT NULL DEFAULT 'ok',
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE TABLE unit_officers (
            unit_code TEXT NOT NULL REFERENCES units(code),
            user_id INTEGER NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (unit_code, user_id)
        );
        CREATE TABLE users (
            user_id INTEGER PRIMARY KEY,
            locale TEXT NOT NULL,
            consented_at REAL,
            created_at REAL NOT NULL
        );
        CREATE TABLE drafts (
            user_id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            step INTEGER NOT NULL,
            data TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE reports (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            category TEXT NOT NULL,
            unit_code TEXT NOT NULL REFERENCES units(code),
            occurred_on TEXT,
            dossier_code TEXT,
            submitted_on TEXT,
            promised_on TEXT,
            amount INTEGER,
            official TEXT,
            location TEXT,
            latitude REAL,
            longitude REAL,
            description TEXT NOT NULL,
            anonymous INTEGER NOT NULL,
            contact_name TEXT,
            contact_phone TEXT,
            locale TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX reports_unit ON reports(unit_code, status);
        -- Who sent a report is kept apart from the report itself, so that it can be withheld
        -- from every view of reports and erased on its own.
        CREATE TABLE reporters (
            report_id INTEGER PRIMARY KEY REFERENCES reports(id),
            user_id INTEGER NOT NULL,
            chat_id INTEGER NOT NULL
        );
        CREATE INDEX reporters_user ON reporters(user_id);
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            report_id INTEGER REFERENCES reports(id),
            draft_user_id INTEGER,
            kind TEXT NOT NULL,
            file_id TEXT NOT NULL,
            file_unique_id TEXT,
            file_size INTEGER,
            mime_type TEXT,
            file_name TEXT,
            sha256 TEXT,
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX attachments_report ON attachments(report_id);
        CREATE INDEX attachments_draft ON attachments(draft_user_id);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            report_id INTEGER REFERENCES reports(id),
            unit_code TEXT REFERENCES units(code),
            chat_id INTEGER,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending',
            parts_done INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            message_id INTEGER,
            last_error TEXT,
            created_at REAL NOT NULL,
            sent_at REAL
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        """,
    ),
    (
        "002_officer_workflow",
        """
        ALTER TABLE reports ADD COLUMN deadline_kind TEXT;
        ALTER TABLE reports ADD COLUMN deadline_at REAL;
        ALTER TABLE reports ADD COLUMN remind_at REAL;
        ALTER TABLE reports ADD COLUMN escalate_at REAL;
        ALTER TABLE reports ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE reports ADD COLUMN extended INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE reports ADD COLUMN acknowledged_at REAL;
        ALTER TABLE reports ADD COLUMN closed_at REAL;
        ALTER TABLE reports ADD COLUMN resolution_note TEXT;
        ALTER TABLE reports ADD COLUMN decline_reason TEXT;
        ALTER TABLE reports ADD COLUMN citizen_verdict TEXT;
        ALTER TABLE reports ADD COLUMN rating INTEGER;
        ALTER TABLE reports ADD COLUMN updated_at REAL;
        CREATE INDEX reports_remind ON reports(remind_at);
        CREATE INDEX reports_escalate ON reports(escalate_at);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            report_id INTEGER NOT NULL REFERENCES reports(id),
            at REAL NOT NULL,
            actor_kind TEXT NOT NULL,
            actor_id INTEGER,
            actor_name TEXT,
            action TEXT NOT NULL,
            from_status TEXT,
            to_status TEXT,
            from_unit TEXT,
            to_unit TEXT,
            note TEXT
        );
        CREATE INDEX audit_report ON audit(report_id, id);
        -- The history is evidence of how a unit handled a report: nothing may rewrite it.
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        -- Bot messages tied to a report, so that a button press or a reply finds its report
        -- from the message it touches rather than from anything the client sends.
        CREATE TABLE links (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            report_id INTEGER NOT NULL REFERENCES reports(id),
            purpose TEXT NOT NULL,
            unit_code TEXT,
            actor_id INTEGER,
            data TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            PRIMARY KEY (chat_id, message_id)
        );
        CREATE INDEX links_report ON links(report_id, purpose);
        CREATE TABLE relays (
            id INTEGER PRIMARY KEY,
            report_id INTEGER NOT NULL REFERENCES reports(id),
            direction TEXT NOT NULL,
            actor_id INTEGER,
            kind TEXT NOT NULL,
            text TEXT,
            source_chat_id INTEGER NOT NULL,
            source_message_id INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX relays_report ON relays(report_id, id);
        """,
    ),
    (
        "003_administration",
        """
        ALTER TABLE units ADD COLUMN edited_in_chat REAL;
        ALTER TABLE reports ADD COLUMN spam INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE reports ADD COLUMN search_text TEXT;
        UPDATE reports SET search_text = fold(code || ' ' || description || ' '
            || coalesce(official, '') || ' ' || coalesce(location, ''));
        CREATE INDEX reports_created ON reports(created_at);
        CREATE TABLE admins (
            user_id INTEGER PRIMARY KEY,
            added_by INTEGER,
            added_at REAL NOT NULL
        );
        CREATE TABLE admin_audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            admin_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            details TEXT
        );
        CREATE TRIGGER admin_audit_no_update BEFORE UPDATE ON admin_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER admin_audit_no_delete BEFORE DELETE ON admin_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TABLE bans (
            user_id INTEGER PRIMARY KEY,
            reason TEXT,
            banned_by INTEGER NOT NULL,
            banned_at REAL NOT NULL,
            notified INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE markers (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        "004_inbound",
        """
        -- Updates as received from Telegram, kept until handled: a crash between receiving and
        -- handling replays them at the next start instead of losing them.
        CREATE TABLE inbound (
            update_id INTEGER PRIMARY KEY,
            payload TEXT NOT NULL,
            received_at REAL NOT NULL
        );
        """,
    ),
]

# Columns a workflow step may change on a report; anything else is a programming error.
_MUTABLE_COLUMNS = frozenset(
    {
        "unit_code",
        "deadline_kind",
        "deadline_at",
        "remind_at",
        "escalate_at",
        "escalation_level",
        "extended",
        "acknowledged_at",
        "closed_at",
        "resolution_note",
        "decline_reason",
        "citizen_verdict",
        "rating",
    }
)

_REPORT_COLUMNS = (
    "category",
    "unit_code",
    "occurred_on",
    "dossier_code",
    "submitted_on",
    "promised_on",
    "amount",
    "official",
    "location",
    "latitude",
    "longitude",
    "description",
    "anonymous",
    "contact_name",
    "contact_phone",
)


@dataclass(frozen=True)
class Outgoing:
    """An outbox row to insert with a workflow step; `report_id` defaults to the step's report."""

    kind: str
    unit_code: str | None = None
    chat_id: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    report_id: int | None = None


# A `guard` value meaning "any value but NULL".
NOT_NULL: Any = object()


def _holds(stored: Any, wanted: Any) -> bool:
    return stored is not None if wanted is NOT_NULL else stored == wanted


class StorageError(Exception):
    """The database refused a write (locked, read-only, full); nothing was half-written."""


class Repository(PrivacyStore):
    """One SQLite database, one connection, one writer at a time."""

    def __init__(self, path: Path | str, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._conn: aiosqlite.Connection | None = None
        # aiosqlite serialises calls but not transactions: two coroutines interleaving
        # BEGIN..COMMIT on one connection would fail, so every use of it takes this lock.
        self._lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the database, set durability pragmas and run pending migrations (idempotent)."""
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # It holds citizens' personal data: owner-only (0600), set before SQLite opens it.
        secure_database_file(self.path)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            # Searching reports ignores case and diacritics; the folded text is computed by the
            # same function in Python and in SQL.
            await conn.create_function("fold", 1, _fold_sql, deterministic=True)
            await conn.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss, and a
            # report confirmed to a citizen must survive that.
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            # Deleted personal data is overwritten, not left in the file's free pages.
            await conn.execute("PRAGMA secure_delete=ON")
            await _migrate(conn, self.clock)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Close the connection; an open aiosqlite thread would keep the process alive."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def __aenter__(self) -> Repository:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open."""
        return self._conn is not None

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock:
            yield self._conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock:
            conn = self._conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(str(exc)) from exc
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                    exc, sqlite3.IntegrityError
                ):
                    raise StorageError(str(exc)) from exc
                raise

    async def applied_migrations(self) -> list[str]:
        """List the names of the migrations this database has run."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT name FROM migrations ORDER BY id")
        return [r["name"] for r in rows]

    # -- units -------------------------------------------------------------------------------

    async def seed_units(self, units: Sequence[UnitConfig]) -> None:
        """Insert or update the units named in the configuration."""
        now = self.clock()
        async with self._write() as conn:
            # Parents first, so the foreign key holds at every insert.
            for unit in _parents_first(units):
                row = await (
                    await conn.execute(
                        "SELECT chat_id, seed_chat_id, edited_in_chat FROM units WHERE code = ?",
                        (unit.code,),
                    )
                ).fetchone()
                if row is None:
                    await conn.execute(
                        "INSERT INTO units (code, name, parent, chat_id, seed_chat_id,"
                        " chat_state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            unit.code,
                            unit.name,
                            unit.parent,
                            unit.chat_id,
                            unit.chat_id,
                            "ok" if unit.chat_id is not None else "unset",
                            now,
                        ),
                    )
                elif row["edited_in_chat"] is not None:
                    # An admin changed this unit in chat after the config seeded it: the
                    # database wins until the admin hands it back (/unit_reset).
                    pass
                else:
                    # A chat id that changed at run time (group upgraded to supergroup) is kept
                    # until the operator writes a different one into the config.
                    if unit.chat_id != row["seed_chat_id"]:
                        await conn.execute(
                            "UPDATE units SET chat_id = ?, seed_chat_id = ?, chat_state = ?"
                            " WHERE code = ?",
                            (
                                unit.chat_id,
                                unit.chat_id,
                                "ok" if unit.chat_id is not None else "unset",
                                unit.code,
                            ),
                        )
                    await conn.execute(
                        "UPDATE units SET name = ?, parent = ? WHERE code = ?",
                        (unit.name, unit.parent, unit.code),
                    )
                for officer in unit.officers:
                    await conn.execute(
                        "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                        " VALUES (?, ?, 'config')",
                        (unit.code, officer),
                    )
                # An officer struck from the config loses the unit's buttons at the next start;
                # officers added in chat are the admins' to remove.
                marks = ",".join("?" * len(unit.officers))
                await conn.execute(
                    "DELETE FROM unit_officers WHERE unit_code = ? AND source = 'config'"
                    + (f" AND user_id NOT IN ({marks})" if unit.officers else ""),
                    (unit.code, *unit.officers),
                )

    async def get_unit(self, code: str) -> Unit | None:
        """Return one unit by code."""
        async with self._read() as conn:
            row = await (await conn.execute(_UNIT_SELECT + " WHERE code = ?", (code,))).fetchone()
        return _unit(row) if row else None

    async def child_units(self, parent: str | None) -> list[Unit]:
        """Return the enabled children of `parent` (the top level when None), by name."""
        async with self._read() as conn:
            if parent is None:
                rows = await conn.execute_fetchall(
                    _UNIT_SELECT + " WHERE parent IS NULL AND NOT disabled"
                )
            else:
                rows = await conn.execute_fetchall(
                    _UNIT_SELECT + " WHERE parent = ? AND NOT disabled", (parent,)
                )
        return sorted((_unit(r) for r in rows), key=lambda u: fold(u.name))

    async def has_children(self, codes: Sequence[str]) -> set[str]:
        """Return which of `codes` have at least one enabled child."""
        if not codes:
            return set()
        marks = ",".join("?" * len(codes))
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT DISTINCT parent FROM units WHERE NOT disabled AND parent IN ({marks})",
                tuple(codes),
            )
        return {r["parent"] for r in rows}

    async def search_units(self, query: str, limit: int = 8) -> list[Unit]:
        """Find enabled units whose name or code matches, ignoring case and diacritics."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(_UNIT_SELECT + " WHERE NOT disabled")
        found = [_unit(r) for r in rows if matches(query, r["name"]) or matches(query, r["code"])]
        found.sort(key=lambda u: (len(u.name), fold(u.name)))
        return found[:limit]

    async def migrate_unit_chat(self, old_chat_id: int, new_chat_id: int) -> list[str]:
        """Point every unit using `old_chat_id` at `new_chat_id`; return their codes."""
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "SELECT code FROM units WHERE chat_id = ?", (old_chat_id,)
            )
            await conn.execute(
                "UPDATE units SET chat_id = ?, chat_state = 'ok' WHERE chat_id = ?",
                (new_chat_id, old_chat_id),
            )
            # Telegram carries the history over, so alerts keep their buttons and edits.
            await conn.execute(
                "UPDATE OR REPLACE links SET chat_id = ? WHERE chat_id = ?",
                (new_chat_id, old_chat_id),
            )
        return [r["code"] for r in rows]

    async def set_unit_chat_state(self, code: str, state: str) -> bool:
        """Record the alert chat's state; return True when it changed."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE units SET chat_state = ? WHERE code = ? AND chat_state != ?",
                (state, code, state),
            )
            return cur.rowcount > 0

    # -- users -------------------------------------------------------------------------------

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
                (user_id, locale, self.clock()),
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
                (user_id, locale, self.clock()),
            )

    async def set_consent(self, user_id: int, locale: str) -> None:
        """Record the moment the user consented to the processing of personal data."""
        now = self.clock()
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO users (user_id, locale, consented_at, created_at)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET consented_at = excluded.consented_at",
                (user_id, locale, now, now),
            )

    # -- drafts ------------------------------------------------------------------------------

    async def get_draft(self, user_id: int) -> Draft | None:
        """Return the user's unfinished report."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT user_id, chat_id, step, data FROM drafts WHERE user_id = ?", (user_id,)
                )
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row["data"])
        return Draft(
            user_id=row["user_id"],
            chat_id=row["chat_id"],
            step=row["step"],
            fields=ReportFields.from_json(data.get("fields", {})),
            reviewing=bool(data.get("reviewing")),
        )

    async def save_draft(self, draft: Draft) -> None:
        """Store the draft with its current step, replacing the previous version."""
        data = json.dumps(
            {"fields": draft.fields.to_json(), "reviewing": draft.reviewing}, ensure_ascii=False
        )
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO drafts (user_id, chat_id, step, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
                " chat_id = excluded.chat_id, step = excluded.step, data = excluded.data,"
                " updated_at = excluded.updated_at",
                (draft.user_id, draft.chat_id, draft.step, data, self.clock()),
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
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT INTO attachments (draft_user_id, kind, file_id, file_unique_id,"
                " file_size, mime_type, file_name, sha256, chat_id, message_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    att.kind,
                    att.file_id,
                    att.file_unique_id,
                    att.file_size,
                    att.mime_type,
                    att.file_name,
                    att.sha256,
                    att.chat_id,
                    att.message_id,
                    self.clock(),
                ),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def draft_attachments(self, user_id: int) -> list[Attachment]:
        """Return the evidence attached to the user's draft, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                _ATTACHMENT_SELECT + " WHERE draft_user_id = ? ORDER BY id", (user_id,)
            )
        return [_attachment(r) for r in rows]

    async def clear_draft_attachments(self, user_id: int) -> None:
        """Remove all evidence from the user's draft."""
        async with self._write() as conn:
            await conn.execute("DELETE FROM attachments WHERE draft_user_id = ?", (user_id,))

    async def set_attachment_hash(self, attachment_id: int, sha256: str) -> None:
        """Record the SHA-256 of a downloaded piece of evidence."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE attachments SET sha256 = ? WHERE id = ?", (sha256, attachment_id)
            )

    # -- reports -----------------------------------------------------------------------------

    async def submit_draft(
        self, user_id: int, locale: str, timers: Timers | None = None
    ) -> Report | None:
        """Turn the user's draft into a report with its evidence and its alert, atomically.

        Returns None when there is no draft (already submitted: a double tap).
        """
        now = self.clock()
        async with self._write() as conn:
            row = await (
                await conn.execute(
                    "SELECT chat_id, data FROM drafts WHERE user_id = ?", (user_id,)
                )
            ).fetchone()
            if row is None:
                return None
            fields = ReportFields.from_json(json.loads(row["data"]).get("fields", {}))
            if not fields.category or not fields.unit_code or not fields.description:
                raise ValueError("draft is incomplete")
            values = [getattr(fields, c) for c in _REPORT_COLUMNS]
            values[_REPORT_COLUMNS.index("anonymous")] = 0 if fields.anonymous is False else 1
            # Encrypted at rest when LIEMCHINH_DATA_KEY is set (bot.sealing).
            for column in ("contact_name", "contact_phone"):
                values[_REPORT_COLUMNS.index(column)] = seal(getattr(fields, column))
            for _ in range(10):
                code = new_code()
                try:
                    cur = await conn.execute(
                        "INSERT INTO reports (code, status, locale, created_at, "
                        + ", ".join(_REPORT_COLUMNS)
                        + ") VALUES (?, ?, ?, ?, "
                        + ", ".join("?" * len(_REPORT_COLUMNS))
                        + ")",
                        (code, Status.NEW.value, locale, now, *values),
                    )
                    break
                except sqlite3.IntegrityError as exc:
                    if "reports.code" not in str(exc):
                        raise
            else:  # pragma: no cover - 10 collisions in a 2**40 space
                raise RuntimeError("could not draw a unique tracking code")
            report_id = cur.lastrowid
            await conn.execute(
                "UPDATE reports SET search_text = ? WHERE id = ?",
                (_search_text(code, fields), report_id),
            )
            await conn.execute(
                "INSERT INTO reporters (report_id, user_id, chat_id) VALUES (?, ?, ?)",
                (report_id, user_id, row["chat_id"]),
            )
            await conn.execute(
                "UPDATE attachments SET report_id = ?, draft_user_id = NULL"
                " WHERE draft_user_id = ?",
                (report_id, user_id),
            )
            assert report_id is not None
            if timers is not None:
                await _update_report(conn, report_id, timers.columns(), now)
            await _insert_audit(
                conn,
                report_id,
                now,
                CITIZEN_ACTOR,
                "submitted",
                None,
                Status.NEW,
                None,
                fields.unit_code,
                None,
            )
            await _insert_outbox(conn, now, Outgoing("alert", fields.unit_code), report_id, {})
            await conn.execute("DELETE FROM drafts WHERE user_id = ?", (user_id,))
            report = await _fetch_report(conn, report_id)
        assert report is not None
        return report

    async def get_report(self, report_id: int) -> Report | None:
        """Return one report by id."""
        async with self._read() as conn:
            row = await (
                await conn.execute(_REPORT_SELECT + " WHERE id = ?", (report_id,))
            ).fetchone()
        return _report(row) if row else None

    async def report_for_reporter(self, code: str, user_id: int) -> Report | None:
        """Return the report with `code` only if `user_id` sent it."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    _REPORTER_SELECT + " WHERE code = ? AND reporters.user_id = ?",
                    (code, user_id),
                )
            ).fetchone()
        return _report(row) if row else None

    async def reports_of(self, user_id: int, limit: int = 20) -> list[Report]:
        """Return the reports a user sent, newest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                _REPORTER_SELECT + " WHERE reporters.user_id = ? ORDER BY reports.id DESC LIMIT ?",
                (user_id, limit),
            )
        return [_report(r) for r in rows]

    async def report_attachments(self, report_id: int) -> list[Attachment]:
        """Return a report's evidence in the order the citizen sent it."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                _ATTACHMENT_SELECT + " WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [_attachment(r) for r in rows]

    async def count_reports(self) -> int:
        """Count stored reports."""
        async with self._read() as conn:
            row = await (await conn.execute("SELECT count(*) AS n FROM reports")).fetchone()
        assert row is not None
        return int(row["n"])

    async def report_by_code(self, code: str) -> Report | None:
        """Return one report by its tracking code (normalised, without the dash)."""
        async with self._read() as conn:
            row = await (
                await conn.execute(_REPORT_SELECT + " WHERE code = ?", (code,))
            ).fetchone()
        return _report(row) if row else None

    async def reporter_chat(self, report_id: int) -> int | None:
        """Return the private chat of the report's sender, if the link is still kept."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT chat_id FROM reporters WHERE report_id = ?", (report_id,)
                )
            ).fetchone()
        return row["chat_id"] if row else None

    async def is_reporter(self, report_id: int, user_id: int) -> bool:
        """Tell whether `user_id` sent the report."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT 1 FROM reporters WHERE report_id = ? AND user_id = ?",
                    (report_id, user_id),
                )
            ).fetchone()
        return row is not None

    async def transition(
        self,
        report_id: int,
        *,
        actor: Actor,
        action: str,
        expect: Collection[str] | None = None,
        to: str | None = None,
        note: str | None = None,
        changes: Mapping[str, Any] | None = None,
        guard: Mapping[str, Any] | None = None,
        consume: tuple[int, int] | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> tuple[Report, int] | None:
        """Apply one workflow step atomically: checks, update, audit line and messages owed.

        Returns None, changing nothing, when the report is missing, its status is not in
        `expect`, a `guard` column differs from the value given, or the `consume`d link (a
        prompt answered once) is already gone: stale, replayed and racing steps all end here.
        The audit line's id is added to each outbox payload as "audit_id".
        """
        changes = dict(changes or {})
        unknown = set(changes) - _MUTABLE_COLUMNS
        if unknown:
            raise ValueError(f"not changeable by a workflow step: {sorted(unknown)}")
        now = self.clock()
        async with self._write() as conn:
            row = await (
                await conn.execute("SELECT * FROM reports WHERE id = ?", (report_id,))
            ).fetchone()
            if row is None or (expect is not None and row["status"] not in expect):
                return None
            if guard and not all(_holds(row[c], v) for c, v in guard.items()):
                return None
            if consume is not None:
                cur = await conn.execute(
                    "DELETE FROM links WHERE chat_id = ? AND message_id = ?", consume
                )
                if cur.rowcount == 0:
                    return None
            if to is not None:
                changes["status"] = to
            await _update_report(conn, report_id, changes, now)
            audit_id = await _insert_audit(
                conn,
                report_id,
                now,
                actor,
                action,
                row["status"],
                to,
                row["unit_code"],
                changes.get("unit_code", row["unit_code"]),
                note,
            )
            for item in outbox:
                await _insert_outbox(conn, now, item, report_id, {"audit_id": audit_id})
            report = await _fetch_report(conn, report_id)
        assert report is not None
        return report, audit_id

    async def audit_of(self, report_id: int) -> list[AuditEntry]:
        """Return a report's history, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM audit WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [_audit(r) for r in rows]

    async def get_audit(self, audit_id: int) -> AuditEntry | None:
        """Return one line of history."""
        async with self._read() as conn:
            row = await (
                await conn.execute("SELECT * FROM audit WHERE id = ?", (audit_id,))
            ).fetchone()
        return _audit(row) if row else None

    async def pending_reports(self, unit_codes: Collection[str], limit: int = 50) -> list[Report]:
        """Return the open reports of the units and their descendants, earliest deadline first."""
        if not unit_codes:
            return []
        marks = ",".join("?" * len(unit_codes))
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "WITH RECURSIVE tree(code) AS ("
                f" SELECT code FROM units WHERE code IN ({marks})"
                " UNION SELECT units.code FROM units JOIN tree ON units.parent = tree.code) "
                + _REPORT_SELECT
                + " WHERE unit_code IN (SELECT code FROM tree)"
                " AND status IN ('new', 'acknowledged', 'in_progress')"
                " ORDER BY deadline_at IS NULL, deadline_at, reports.id LIMIT ?",
                (*unit_codes, limit),
            )
        return [_report(r) for r in rows]

    # -- timers ------------------------------------------------------------------------------

    async def due_reminders(self, now: float, limit: int = 100) -> list[Report]:
        """Return open reports whose deadline reminder is due."""
        return await self._reports(
            "WHERE remind_at IS NOT NULL AND remind_at <= ? ORDER BY remind_at LIMIT ?",
            (now, limit),
        )

    async def open_reports_without_timers(self, limit: int = 100) -> list[Report]:
        """Return open reports with no running deadline (stored before deadlines existed)."""
        return await self._reports(
            "WHERE deadline_at IS NULL AND status IN ('new', 'acknowledged', 'in_progress')"
            " LIMIT ?",
            (limit,),
        )

    async def due_escalations(self, now: float, limit: int = 100) -> list[Report]:
        """Return open reports whose deadline has passed and that must climb a level."""
        return await self._reports(
            "WHERE escalate_at IS NOT NULL AND escalate_at <= ? ORDER BY escalate_at LIMIT ?",
            (now, limit),
        )

    async def _reports(self, where: str, params: Sequence[Any]) -> list[Report]:
        """Return the reports a WHERE (and ORDER/LIMIT) clause selects."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(_REPORT_SELECT + " " + where, params)
        return [_report(r) for r in rows]

    # -- units: hierarchy and officers -------------------------------------------------------

    async def ancestors(self, code: str) -> list[str]:
        """Return the unit's code followed by its parents' codes, nearest first."""
        chain: list[str] = []
        async with self._read() as conn:
            cursor: str | None = code
            while cursor is not None and cursor not in chain:
                row = await (
                    await conn.execute("SELECT parent FROM units WHERE code = ?", (cursor,))
                ).fetchone()
                if row is None:
                    break
                chain.append(cursor)
                cursor = row["parent"]
        return chain

    async def descendants(self, code: str) -> list[str]:
        """Return the unit's code and the codes of every unit below it."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "WITH RECURSIVE tree(code) AS (SELECT code FROM units WHERE code = ?"
                " UNION SELECT units.code FROM units JOIN tree ON units.parent = tree.code)"
                " SELECT code FROM tree",
                (code,),
            )
        return [r["code"] for r in rows]

    async def officer_units(self, user_id: int) -> set[str]:
        """Return the codes of the units the user is an officer of."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT unit_code FROM unit_officers WHERE user_id = ?", (user_id,)
            )
        return {r["unit_code"] for r in rows}

    async def units_by_chat(self, chat_id: int) -> list[Unit]:
        """Return the units whose alerts go to `chat_id`."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                _UNIT_SELECT + " WHERE chat_id = ? ORDER BY code", (chat_id,)
            )
        return [_unit(r) for r in rows]

    async def add_officer(self, unit_code: str, user_id: int, source: str = "chat") -> bool:
        """Make `user_id` an officer of the unit; return False if they already were."""
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                " VALUES (?, ?, ?)",
                (unit_code, user_id, source),
            )
            return cur.rowcount > 0

    # -- links and relays --------------------------------------------------------------------

    async def add_link(self, link: Link) -> None:
        """Tie a bot message to a report."""
        async with self._write() as conn:
            await _insert_link(conn, link, self.clock())

    async def get_link(self, chat_id: int, message_id: int) -> Link | None:
        """Return what a bot message is tied to, if anything."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT * FROM links WHERE chat_id = ? AND message_id = ?",
                    (chat_id, message_id),
                )
            ).fetchone()
        return _link(row) if row else None

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
        return [_link(r) for r in rows]

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
    ) -> int | None:
        """Store a relayed message and the delivery it needs, atomically; return its id.

        Returns None when the same source message was relayed already (a replayed update).
        """
        now = self.clock()
        async with self._write() as conn:
            seen = await (
                await conn.execute(
                    "SELECT 1 FROM relays WHERE source_chat_id = ? AND source_message_id = ?",
                    (source_chat_id, source_message_id),
                )
            ).fetchone()
            if seen is not None:
                return None
            cur = await conn.execute(
                "INSERT INTO relays (report_id, direction, actor_id, kind, text, source_chat_id,"
                " source_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    direction,
                    actor.id if actor.kind != "citizen" else None,
                    kind,
                    text,
                    source_chat_id,
                    source_message_id,
                    now,
                ),
            )
            relay_id = cur.lastrowid
            assert relay_id is not None
            action = "asked" if direction == "to_citizen" else "answered"
            await _insert_audit(conn, report_id, now, actor, action, None, None, None, None, None)
            await _insert_outbox(conn, now, outgoing, report_id, {"relay_id": relay_id})
        return relay_id

    async def get_relay(self, relay_id: int) -> Relay | None:
        """Return one relayed message."""
        async with self._read() as conn:
            row = await (
                await conn.execute("SELECT * FROM relays WHERE id = ?", (relay_id,))
            ).fetchone()
        return _relay(row) if row else None

    async def relays_of(self, report_id: int) -> list[Relay]:
        """Return the messages relayed for a report, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM relays WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [_relay(r) for r in rows]

    async def add_outgoing(self, item: Outgoing) -> int:
        """Queue one message; return its outbox id."""
        now = self.clock()
        async with self._write() as conn:
            return await _insert_outbox(conn, now, item, item.report_id, {})

    # -- administration ----------------------------------------------------------------------

    async def all_units(self) -> list[Unit]:
        """Return every unit, disabled ones too, by code."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(_UNIT_SELECT + " ORDER BY code")
        return [_unit(r) for r in rows]

    async def unit_sources(self) -> dict[str, bool]:
        """Return, per unit code, whether an admin changed it in chat (the config then yields)."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT code, edited_in_chat FROM units")
        return {r["code"]: r["edited_in_chat"] is not None for r in rows}

    async def add_unit(self, code: str, name: str, parent: str | None) -> bool:
        """Create a unit; False if the code is taken."""
        now = self.clock()
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO units (code, name, parent, chat_state, created_at,"
                " edited_in_chat) VALUES (?, ?, ?, 'unset', ?, ?)",
                (code, name, parent, now, now),
            )
            return cur.rowcount > 0

    async def update_unit(self, code: str, **changes: Any) -> bool:
        """Change a unit's name, parent, chat or disabled flag from chat; False if unknown."""
        allowed = {"name", "parent", "chat_id", "chat_state", "disabled"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")
        values = {**changes, "edited_in_chat": self.clock()}
        assignments = ", ".join(f"{column} = ?" for column in values)
        async with self._write() as conn:
            cur = await conn.execute(
                f"UPDATE units SET {assignments} WHERE code = ?", (*values.values(), code)
            )
            return cur.rowcount > 0

    async def import_units(
        self, units: Sequence[UnitConfig], disabled: Collection[str] = ()
    ) -> int:
        """Create or update units from a file, all or nothing; return how many were written.

        Parents are written before children. Units the file does not name are left alone.
        """
        now = self.clock()
        async with self._write() as conn:
            for unit in _parents_first(units):
                await conn.execute(
                    "INSERT INTO units (code, name, parent, chat_id, chat_state, disabled,"
                    " created_at, edited_in_chat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
                    " parent = excluded.parent, disabled = excluded.disabled,"
                    " edited_in_chat = excluded.edited_in_chat,"
                    " chat_state = CASE WHEN excluded.chat_id IS units.chat_id"
                    " THEN units.chat_state ELSE excluded.chat_state END,"
                    " chat_id = excluded.chat_id",
                    (
                        unit.code,
                        unit.name,
                        unit.parent,
                        unit.chat_id,
                        "ok" if unit.chat_id is not None else "unset",
                        int(unit.code in disabled),
                        now,
                        now,
                    ),
                )
                for officer in unit.officers:
                    await conn.execute(
                        "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                        " VALUES (?, ?, 'import')",
                        (unit.code, officer),
                    )
        return len(units)

    async def unit_counts(self, now: float) -> dict[str, tuple[int, int]]:
        """Return, per unit code, its open reports and how many of them are overdue."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT unit_code, count(*) AS open,"
                " sum(deadline_at IS NOT NULL AND deadline_at <= ?) AS overdue FROM reports"
                " WHERE status IN ('new', 'acknowledged', 'in_progress') AND NOT spam"
                " GROUP BY unit_code",
                (now,),
            )
        return {r["unit_code"]: (r["open"], r["overdue"] or 0) for r in rows}

    async def officers_of(self, unit_code: str) -> list[tuple[int, str]]:
        """Return the unit's officers with where each came from ("config" or "chat")."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT user_id, source FROM unit_officers WHERE unit_code = ? ORDER BY user_id",
                (unit_code,),
            )
        return [(r["user_id"], r["source"]) for r in rows]

    async def remove_officer(self, unit_code: str, user_id: int) -> bool:
        """Take away an officer; False if they were not one."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM unit_officers WHERE unit_code = ? AND user_id = ?",
                (unit_code, user_id),
            )
            return cur.rowcount > 0

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
                (user_id, added_by, self.clock()),
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
                (self.clock(), admin_id, action, target, details),
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
                (user_id, reason, by, self.clock()),
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
            row = await (
                await conn.execute("SELECT notified FROM bans WHERE user_id = ?", (user_id,))
            ).fetchone()
        return None if row is None else bool(row["notified"])

    async def ban_notified(self, user_id: int) -> None:
        """Remember that the banned user got their one refusal."""
        async with self._write() as conn:
            await conn.execute("UPDATE bans SET notified = 1 WHERE user_id = ?", (user_id,))

    async def banned(self) -> list[dict[str, Any]]:
        """Return every ban, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT * FROM bans ORDER BY banned_at")
        return [dict(r) for r in rows]

    async def reports_sent_since(self, user_id: int, since: float) -> int:
        """Count the reports a user sent since a moment."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM reports JOIN reporters"
                    " ON reporters.report_id = reports.id"
                    " WHERE reporters.user_id = ? AND reports.created_at >= ?",
                    (user_id, since),
                )
            ).fetchone()
        return int(row["n"]) if row else 0

    async def set_spam(self, report_id: int, spam: bool) -> bool:
        """Mark or unmark a report as spam (kept, left out of statistics)."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE reports SET spam = ? WHERE id = ? AND spam != ?",
                (int(spam), report_id, int(spam)),
            )
            return cur.rowcount > 0

    async def find_reports(self, query: str, limit: int = 20) -> list[Report]:
        """Find reports whose code, description, official or place contains every word of
        `query`, ignoring case and diacritics; newest first."""
        words = fold(query).split()
        if not words:
            return []
        where = " AND ".join("search_text LIKE ? ESCAPE '\\'" for _ in words)
        params = [f"%{_like(w)}%" for w in words]
        return await self._reports(
            f"WHERE {where} ORDER BY reports.id DESC LIMIT ?", (*params, limit)
        )

    async def report_rows(
        self,
        since: float | None,
        until: float | None,
        unit_codes: Collection[str] | None,
        *,
        contacts: bool = False,
        include_spam: bool = False,
    ) -> list[dict[str, Any]]:
        """Return one plain row per report in a period (statistics and exports).

        Contact details are read only when asked for, and only for named reports.
        """
        clauses = ["1 = 1"]
        params: list[Any] = []
        if since is not None:
            clauses.append("reports.created_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("reports.created_at < ?")
            params.append(until)
        if unit_codes is not None:
            marks = ",".join("?" * len(unit_codes))
            clauses.append(f"unit_code IN ({marks})")
            params.extend(unit_codes)
        if not include_spam:
            clauses.append("NOT spam")
        contact = (
            "CASE WHEN anonymous THEN NULL ELSE contact_name END AS contact_name,"
            " CASE WHEN anonymous THEN NULL ELSE contact_phone END AS contact_phone"
            if contacts
            else "NULL AS contact_name, NULL AS contact_phone"
        )
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT reports.id AS id, reports.code AS code, status, category, unit_code,"
                " units.name AS"
                " unit_name, reports.created_at AS created_at, acknowledged_at, closed_at,"
                " deadline_kind, deadline_at, escalation_level, extended, description,"
                " official, amount, occurred_on, location, resolution_note, decline_reason,"
                " citizen_verdict, rating, anonymous, spam, "
                + contact
                + " FROM reports JOIN units ON units.code = reports.unit_code WHERE "
                + " AND ".join(clauses)
                + " ORDER BY reports.id",
                params,
            )
        found = [dict(r) for r in rows]
        for row in found:
            row["contact_name"] = unseal(row["contact_name"])
            row["contact_phone"] = unseal(row["contact_phone"])
        return found

    async def get_marker(self, name: str) -> str | None:
        """Return a stored marker (e.g. the last week a digest went out)."""
        async with self._read() as conn:
            row = await (
                await conn.execute("SELECT value FROM markers WHERE name = ?", (name,))
            ).fetchone()
        return row["value"] if row else None

    async def set_marker(
        self,
        name: str,
        value: str,
        *,
        expect: str | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> bool:
        """Set a marker if it still holds `expect`, queueing `outbox` in the same transaction;
        False when another run got there first."""
        now = self.clock()
        async with self._write() as conn:
            row = await (
                await conn.execute("SELECT value FROM markers WHERE name = ?", (name,))
            ).fetchone()
            if (row["value"] if row else None) != expect:
                return False
            await conn.execute(
                "INSERT INTO markers (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
            for item in outbox:
                await _insert_outbox(conn, now, item, item.report_id, {})
            return True

    # -- inbound updates ---------------------------------------------------------------------

    async def store_updates(self, updates: Sequence[tuple[int, str]]) -> list[int]:
        """Keep raw updates until handled; return the ids that are new (not seen before).

        An update at or below the highest id ever stored was received already (Telegram sends
        it again when the bot died before confirming it) and is not stored twice.
        """
        if not updates:
            return []
        now = self.clock()
        async with self._write() as conn:
            row = await (
                await conn.execute("SELECT value FROM markers WHERE name = 'inbound_max'")
            ).fetchone()
            highest = int(row["value"]) if row else -1
            fresh = [(uid, payload) for uid, payload in updates if uid > highest]
            await conn.executemany(
                "INSERT OR IGNORE INTO inbound (update_id, payload, received_at) VALUES (?, ?, ?)",
                [(uid, payload, now) for uid, payload in fresh],
            )
            if fresh:
                await conn.execute(
                    "INSERT INTO markers (name, value) VALUES ('inbound_max', ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (str(max(uid for uid, _ in fresh)),),
                )
        return [uid for uid, _ in fresh]

    async def unhandled_updates(self, limit: int = 1000) -> list[tuple[int, str]]:
        """Return stored updates not yet handled, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT update_id, payload FROM inbound ORDER BY update_id LIMIT ?", (limit,)
            )
        return [(r["update_id"], r["payload"]) for r in rows]

    async def update_handled(self, update_id: int) -> None:
        """Forget a handled update (its payload holds personal data)."""
        async with self._write() as conn:
            await conn.execute("DELETE FROM inbound WHERE update_id = ?", (update_id,))

    async def highest_update_id(self) -> int | None:
        """Return the highest update id ever stored."""
        value = await self.get_marker("inbound_max")
        return int(value) if value is not None else None

    # -- outbox ------------------------------------------------------------------------------

    async def add_notice(self, chat_id: int, payload: dict[str, Any]) -> int:
        """Queue a message to one chat (an admin, a citizen); return its id."""
        now = self.clock()
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT INTO outbox (kind, chat_id, payload, next_attempt_at, created_at)"
                " VALUES ('notice', ?, ?, ?, ?)",
                (chat_id, json.dumps(payload, ensure_ascii=False), now, now),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def due_outbox(self, limit: int = 50) -> list[OutboxItem]:
        """Return pending items whose next attempt is due, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, kind, report_id, unit_code, chat_id, payload, parts_done, attempts,"
                " message_id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (self.clock(), limit),
            )
        return [
            OutboxItem(
                id=r["id"],
                kind=r["kind"],
                report_id=r["report_id"],
                unit_code=r["unit_code"],
                chat_id=r["chat_id"],
                payload=json.loads(r["payload"]),
                parts_done=r["parts_done"],
                attempts=r["attempts"],
                message_id=r["message_id"],
            )
            for r in rows
        ]

    async def next_outbox_due(self) -> float | None:
        """Return when the earliest pending item is due, if any."""
        async with self._read() as conn:
            row = await (
                await conn.execute(
                    "SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'pending'"
                )
            ).fetchone()
        return row["t"] if row and row["t"] is not None else None

    async def outbox_part_sent(
        self,
        item_id: int,
        parts_done: int,
        message_id: int | None = None,
        link: Link | None = None,
    ) -> None:
        """Record that one more part of an item reached Telegram (and what it is tied to)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET parts_done = ?, message_id = coalesce(message_id, ?)"
                " WHERE id = ?",
                (parts_done, message_id, item_id),
            )
            if link is not None:
                await _insert_link(conn, link, self.clock())

    async def outbox_done(self, item_id: int) -> None:
        """Mark an item delivered in full."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                (self.clock(), item_id),
            )

    async def outbox_retry(self, item_id: int, delay: float, error: str) -> None:
        """Schedule another attempt after `delay` seconds."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE id = ?",
                (self.clock() + delay, error[:500], item_id),
            )

    async def outbox_give_up(self, item_id: int, error: str) -> None:
        """Stop retrying an item that can never be delivered (kept, with the reason)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?",
                (error[:500], item_id),
            )

    async def release_unit_outbox(self, unit_code: str) -> None:
        """Make a unit's held alerts due now (its chat was fixed)."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending' AND unit_code = ?",
                (self.clock(), unit_code),
            )

    async def outbox_stats(self) -> dict[str, int]:
        """Count outbox items by status."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT status, count(*) AS n FROM outbox GROUP BY status"
            )
        return {r["status"]: r["n"] for r in rows}


_UNIT_SELECT = "SELECT code, name, parent, chat_id, chat_state, disabled FROM units"
_ATTACHMENT_SELECT = (
    "SELECT id, kind, file_id, file_unique_id, file_size, mime_type, file_name, sha256,"
    " chat_id, message_id FROM attachments"
)
_STATE_COLUMNS = (
    "deadline_kind",
    "deadline_at",
    "escalation_level",
    "extended",
    "acknowledged_at",
    "closed_at",
    "resolution_note",
    "decline_reason",
    "citizen_verdict",
    "rating",
)
_REPORT_SELECT = (
    "SELECT reports.id AS id, code, status, locale, reports.created_at AS created_at, "
    + ", ".join(_REPORT_COLUMNS + _STATE_COLUMNS)
    + " FROM reports"
)
CITIZEN_ACTOR = Actor("citizen")


_REPORTER_SELECT = _REPORT_SELECT + " JOIN reporters ON reporters.report_id = reports.id"


def _unit(row: sqlite3.Row) -> Unit:
    return Unit(
        code=row["code"],
        name=row["name"],
        parent=row["parent"],
        chat_id=row["chat_id"],
        chat_state=row["chat_state"],
        disabled=bool(row["disabled"]),
    )


def _attachment(row: sqlite3.Row) -> Attachment:
    return Attachment(
        id=row["id"],
        kind=row["kind"],
        file_id=row["file_id"],
        file_unique_id=row["file_unique_id"],
        file_size=row["file_size"],
        mime_type=row["mime_type"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
    )


def _report(row: sqlite3.Row) -> Report:
    values = {c: row[c] for c in _REPORT_COLUMNS}
    values["anonymous"] = bool(values["anonymous"])
    values["contact_name"] = unseal(values["contact_name"])
    values["contact_phone"] = unseal(values["contact_phone"])
    return Report(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        fields=ReportFields(**values),
        locale=row["locale"],
        created_at=row["created_at"],
        deadline_kind=row["deadline_kind"],
        deadline_at=row["deadline_at"],
        escalation_level=row["escalation_level"],
        extended=bool(row["extended"]),
        acknowledged_at=row["acknowledged_at"],
        closed_at=row["closed_at"],
        resolution_note=row["resolution_note"],
        decline_reason=row["decline_reason"],
        citizen_verdict=row["citizen_verdict"],
        rating=row["rating"],
    )


def _audit(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        report_id=row["report_id"],
        at=row["at"],
        actor=Actor(row["actor_kind"], row["actor_id"], row["actor_name"]),
        action=row["action"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        from_unit=row["from_unit"],
        to_unit=row["to_unit"],
        note=row["note"],
    )


def _link(row: sqlite3.Row) -> Link:
    return Link(
        chat_id=row["chat_id"],
        message_id=row["message_id"],
        report_id=row["report_id"],
        purpose=row["purpose"],
        unit_code=row["unit_code"],
        actor_id=row["actor_id"],
        data=json.loads(row["data"]),
    )


def _relay(row: sqlite3.Row) -> Relay:
    return Relay(
        id=row["id"],
        report_id=row["report_id"],
        direction=row["direction"],
        kind=row["kind"],
        text=row["text"],
        source_chat_id=row["source_chat_id"],
        source_message_id=row["source_message_id"],
        actor_id=row["actor_id"],
    )


async def _fetch_report(conn: aiosqlite.Connection, report_id: int) -> Report | None:
    row = await (await conn.execute(_REPORT_SELECT + " WHERE id = ?", (report_id,))).fetchone()
    return _report(row) if row else None


async def _update_report(
    conn: aiosqlite.Connection, report_id: int, changes: Mapping[str, Any], now: float
) -> None:
    values = {**changes, "updated_at": now}
    assignments = ", ".join(f"{column} = ?" for column in values)
    await conn.execute(
        f"UPDATE reports SET {assignments} WHERE id = ?", (*values.values(), report_id)
    )


async def _insert_audit(
    conn: aiosqlite.Connection,
    report_id: int,
    now: float,
    actor: Actor,
    action: str,
    from_status: str | None,
    to_status: str | None,
    from_unit: str | None,
    to_unit: str | None,
    note: str | None,
) -> int:
    cur = await conn.execute(
        "INSERT INTO audit (report_id, at, actor_kind, actor_id, actor_name, action,"
        " from_status, to_status, from_unit, to_unit, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            report_id,
            now,
            actor.kind,
            actor.id,
            actor.name,
            action,
            from_status,
            to_status,
            from_unit,
            to_unit,
            note,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def _insert_outbox(
    conn: aiosqlite.Connection,
    now: float,
    item: Outgoing,
    report_id: int | None,
    extra: Mapping[str, Any],
) -> int:
    payload = json.dumps({**item.payload, **extra}, ensure_ascii=False)
    cur = await conn.execute(
        "INSERT INTO outbox (kind, report_id, unit_code, chat_id, payload, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (item.kind, item.report_id or report_id, item.unit_code, item.chat_id, payload, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def _insert_link(conn: aiosqlite.Connection, link: Link, now: float) -> None:
    await conn.execute(
        "INSERT OR REPLACE INTO links (chat_id, message_id, report_id, purpose, unit_code,"
        " actor_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            link.chat_id,
            link.message_id,
            link.report_id,
            link.purpose,
            link.unit_code,
            link.actor_id,
            json.dumps(link.data, ensure_ascii=False),
            now,
        ),
    )


def _like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fold_sql(text: object) -> str | None:
    return fold(str(text)) if text is not None else None


def _search_text(code: str, fields: ReportFields) -> str:
    parts = (code, fields.description, fields.official, fields.location)
    return fold(" ".join(p for p in parts if p))


def _parents_first(units: Sequence[UnitConfig]) -> list[UnitConfig]:
    by_code = {u.code: u for u in units}
    ordered: list[UnitConfig] = []
    seen: set[str] = set()

    def visit(unit: UnitConfig) -> None:
        if unit.code in seen:
            return
        seen.add(unit.code)
        if unit.parent in by_code:
            visit(by_code[unit.parent])
        ordered.append(unit)

    for unit in units:
        visit(unit)
    return ordered


async def _migrate(conn: aiosqlite.Connection, clock: Clock) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations ("
        " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at REAL NOT NULL)"
    )
    rows = await conn.execute_fetchall("SELECT name FROM migrations")
    done = {r[0] for r in rows}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        # executescript would COMMIT on its own; statements run one by one inside our BEGIN so a
        # failed migration leaves the database exactly as it was.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, clock())
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    # A statement ends with ";" at the end of a line; a trigger's inner ";" sits mid-line.
    return [s.strip() for s in _STATEMENT_END.split("\n".join(lines)) if s.strip()]


_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
