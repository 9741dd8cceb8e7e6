"""Reports: submitting a draft, the workflow steps with their audit log, timers and listings.

Every step that changes a report is one transaction: the report, its audit line, the messages
it owes (outbox) and the link it consumes are written together or not at all. Who sent a report
lives in `reporters`, apart from the report, and is read only where the sender is the subject.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.core.domain import (
    CITIZEN,
    SYSTEM,
    Actor,
    Attachment,
    AuditEntry,
    Report,
    ReportFields,
    Status,
    Timers,
)
from bot.core.integrity import Route, RouteStale, basis_of
from bot.core.outbox import Outgoing
from bot.core.parsing import fold, new_code
from bot.core.ports import NOT_NULL
from bot.sealing import seal
from bot.store.database import Store
from bot.store.dialect import fetch_one
from bot.store.periods import (
    CHUNK_ROWS,
    PeriodFigures,
    Scope,
    count_rows,
    iter_rows,
    period_figures,
    plain_row,
    rows_query,
)
from bot.store.rows import (
    ATTACHMENT_SELECT,
    REPORT_COLUMNS,
    REPORT_SELECT,
    REPORTER_SELECT,
    fetch_report,
    insert_audit,
    insert_outbox,
    to_attachment,
    to_audit,
    to_report,
    update_report,
)

# A `guard` value meaning "any value but NULL".

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


class ReportStore(Store):
    """Reports, their history, their timers and the lists and rows read from them."""

    async def submit_draft(
        self,
        user_id: int,
        locale: str,
        timers: Timers | None = None,
        outbox: Sequence[Outgoing] = (),
        route: Route | None = None,
        receipt: tuple[bytes, bytes] | None = None,
    ) -> Report | None:
        """Turn the user's draft into a report with its evidence, audit line and `outbox`.

        With a `route`, the report is handled by the unit above the one it is about (which is
        kept as `concerned_unit`); RouteStale if the draft no longer says what it was decided on.
        """
        # One transaction. An item bound for a unit but given no destination goes to the unit
        # the draft names, which is read only inside the transaction.
        # No draft means it was submitted already (a double tap): None, and nothing written.
        now = self._now()
        async with self._write() as conn:
            row = await fetch_one(
                conn, "SELECT chat_id, data FROM drafts WHERE user_id = ?", (user_id,)
            )
            if row is None:
                return None
            fields = ReportFields.from_json(json.loads(row["data"]).get("fields", {}))
            if not fields.category or not fields.unit_code or not fields.description:
                raise ValueError("draft is incomplete")
            if route is not None and route.basis != basis_of(fields):
                raise RouteStale
            concerned = fields.unit_code
            if route is not None and route.handler is not None:
                fields.unit_code = route.handler
            values = [getattr(fields, c) for c in REPORT_COLUMNS]
            values[REPORT_COLUMNS.index("anonymous")] = 0 if fields.anonymous is False else 1
            # Encrypted at rest when LIEMCHINH_DATA_KEY is set (bot.sealing).
            for column in ("contact_name", "contact_phone"):
                values[REPORT_COLUMNS.index(column)] = seal(getattr(fields, column))
            for _ in range(10):
                code = new_code()
                try:
                    cur = await conn.execute(
                        "INSERT INTO reports (code, status, locale, created_at, "
                        + ", ".join(REPORT_COLUMNS)
                        + ") VALUES (?, ?, ?, ?, "
                        + ", ".join("?" * len(REPORT_COLUMNS))
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
            if route is not None:
                await conn.execute(
                    "UPDATE reports SET concerned_unit = ?, conflict = ? WHERE id = ?",
                    (concerned, route.reason, report_id),
                )
            await conn.execute(
                # The reporter's channel follows their identity (Telegram ids have none).
                "INSERT INTO reporters (report_id, user_id, chat_id, channel) VALUES (?, ?, ?,"
                " coalesce((SELECT channel FROM identities WHERE user_id = ?), 'telegram'))",
                (report_id, user_id, row["chat_id"], user_id),
            )
            # Counted towards the daily limit under a keyed hash, which /forget leaves in place.
            await conn.execute(
                "INSERT INTO sent_reports (sender, sent_at) VALUES (?, ?)",
                (self._pseudonym(user_id), now),
            )
            if receipt is not None:
                await conn.execute(
                    "INSERT INTO receipt_keys (report_id, salt, hash) VALUES (?, ?, ?)",
                    (report_id, *receipt),
                )
            await conn.execute(
                "UPDATE attachments SET report_id = ?, draft_user_id = NULL"
                " WHERE draft_user_id = ?",
                (report_id, user_id),
            )
            assert report_id is not None
            if timers is not None:
                await update_report(conn, report_id, timers.columns(), now)
            await insert_audit(
                conn,
                report_id,
                now,
                CITIZEN,
                "submitted",
                None,
                Status.NEW,
                None,
                fields.unit_code,
                None,
            )
            if route is not None:
                await insert_audit(
                    conn,
                    report_id,
                    now,
                    SYSTEM,
                    "conflict_routed",
                    Status.NEW,
                    Status.NEW,
                    concerned,
                    fields.unit_code,
                    route.reason,
                )
            for item in outbox:
                if item.kind.to_unit and item.unit_code is None and item.chat_id is None:
                    item = replace(item, unit_code=fields.unit_code)
                await insert_outbox(conn, now, item, report_id, {})
            await conn.execute("DELETE FROM drafts WHERE user_id = ?", (user_id,))
            report = await fetch_report(conn, report_id)
        assert report is not None
        return report

    async def get_report(self, report_id: int) -> Report | None:
        """Return one report by id."""
        async with self._read() as conn:
            row = await fetch_one(conn, REPORT_SELECT + " WHERE id = ?", (report_id,))
        return to_report(row) if row else None

    async def report_by_code(self, code: str) -> Report | None:
        """Return one report by its tracking code (normalised, without the dash)."""
        async with self._read() as conn:
            row = await fetch_one(conn, REPORT_SELECT + " WHERE code = ?", (code,))
        return to_report(row) if row else None

    async def report_for_reporter(self, code: str, user_id: int) -> Report | None:
        """Return the report with `code` only if `user_id` sent it."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                REPORTER_SELECT + " WHERE code = ? AND reporters.user_id = ?",
                (code, user_id),
            )
        return to_report(row) if row else None

    async def reports_of(self, user_id: int, limit: int = 20) -> list[Report]:
        """Return the reports a user sent, newest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                REPORTER_SELECT + " WHERE reporters.user_id = ? ORDER BY reports.id DESC LIMIT ?",
                (user_id, limit),
            )
        return [to_report(r) for r in rows]

    async def reporter_chat(self, report_id: int) -> int | None:
        """Return the private chat of the report's sender, if the link is still kept."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT chat_id FROM reporters WHERE report_id = ?", (report_id,)
            )
        return row["chat_id"] if row else None

    async def reporter_channel(self, report_id: int) -> str | None:
        """Return how the report's sender is reached, if the link is still kept."""
        async with self._read() as conn:
            row = await fetch_one(
                conn, "SELECT channel FROM reporters WHERE report_id = ?", (report_id,)
            )
        return row["channel"] if row else None

    async def is_reporter(self, report_id: int, user_id: int) -> bool:
        """Tell whether `user_id` sent the report."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT 1 FROM reporters WHERE report_id = ? AND user_id = ?",
                (report_id, user_id),
            )
        return row is not None

    async def report_attachments(self, report_id: int) -> list[Attachment]:
        """Return a report's evidence in the order the citizen sent it."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                ATTACHMENT_SELECT + " WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [to_attachment(r) for r in rows]

    async def count_reports(self) -> int:
        """Count stored reports."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT count(*) AS n FROM reports")
        assert row is not None
        return int(row["n"])

    async def reports_sent_since(self, user_id: int, since: float) -> int:
        """Count the reports a user sent since a moment, erased links or not."""
        # The keyed-hash rows count what /forget erased. Reports sent before those rows existed
        # (the day of the upgrade) still count through the links that are left.
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT max((SELECT count(*) FROM sent_reports"
                " WHERE sender = ? AND sent_at >= ?),"
                " (SELECT count(*) FROM reports JOIN reporters"
                " ON reporters.report_id = reports.id"
                " WHERE reporters.user_id = ? AND reports.created_at >= ?)) AS n",
                (self._pseudonym(user_id), since, user_id, since),
            )
        return int(row["n"]) if row else 0

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
        """Apply one workflow step atomically: checks, update, audit line and messages owed."""
        # Returns None, changing nothing, when the report is missing, its status is not in
        # `expect`, a `guard` column differs from the value given, or the `consume`d link (a
        # prompt answered once) is already gone: stale, replayed and racing steps all end here.
        # The audit line's id is added to each outbox payload as "audit_id".
        changes = dict(changes or {})
        unknown = set(changes) - _MUTABLE_COLUMNS
        if unknown:
            raise ValueError(f"not changeable by a workflow step: {sorted(unknown)}")
        now = self._now()
        async with self._write() as conn:
            row = await fetch_one(conn, "SELECT * FROM reports WHERE id = ?", (report_id,))
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
            await update_report(conn, report_id, changes, now)
            audit_id = await insert_audit(
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
                await insert_outbox(conn, now, item, report_id, {"audit_id": audit_id})
            report = await fetch_report(conn, report_id)
        assert report is not None
        return report, audit_id

    async def audit_of(self, report_id: int) -> list[AuditEntry]:
        """Return a report's history, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM audit WHERE report_id = ? ORDER BY id", (report_id,)
            )
        return [to_audit(r) for r in rows]

    async def get_audit(self, audit_id: int) -> AuditEntry | None:
        """Return one line of history."""
        async with self._read() as conn:
            row = await fetch_one(conn, "SELECT * FROM audit WHERE id = ?", (audit_id,))
        return to_audit(row) if row else None

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
                + REPORT_SELECT
                + " WHERE unit_code IN (SELECT code FROM tree)"
                " AND status IN ('new', 'acknowledged', 'in_progress')"
                " ORDER BY deadline_at IS NULL, deadline_at, reports.id LIMIT ?",
                (*unit_codes, limit),
            )
        return [to_report(r) for r in rows]

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

    async def find_reports(self, query: str, limit: int = 20) -> list[Report]:
        """Find reports whose code, text, official or place hold every word; newest first."""
        # Matched against `search_text`, folded like the query: case and diacritics ignored.
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
        """Return one plain row per report in a period (statistics and exports)."""
        sql, params = rows_query(Scope(since, until, unit_codes, include_spam), contacts=contacts)
        # The figures' reads go to the read-only connection: see period_figures.
        async with self._snapshot() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return [plain_row(r) for r in rows]

    async def count_report_rows(
        self, since: float | None, until: float | None, unit_codes: Collection[str] | None
    ) -> int:
        """Count the reports `report_rows` would return (spam left out)."""
        async with self._snapshot() as conn:
            return await count_rows(conn, Scope(since, until, unit_codes))

    def iter_report_rows(
        self,
        since: float | None,
        until: float | None,
        unit_codes: Collection[str] | None,
        *,
        contacts: bool = False,
        chunk: int = CHUNK_ROWS,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the rows of `report_rows` (spam left out) in chunks, without holding them all.

        Each chunk is read on the read-only connection (`Database.snapshot`), whose lock is let
        go before the chunk is handed on: an /export of every report holds up no citizen.
        """
        return iter_rows(
            self._snapshot, Scope(since, until, unit_codes), contacts=contacts, chunk=chunk
        )

    async def period_figures(
        self,
        since: float | None,
        until: float | None,
        unit_codes: Collection[str] | None,
        now: float,
    ) -> PeriodFigures:
        """Return a period's counts by category, status and unit, computed in SQL (no spam).

        Read on the read-only connection (`Database.snapshot`): at 100,000 reports /stats reads
        for a while, and on the writer's connection every citizen's step would wait for it (the
        p99 of a step). Its three statements read one state of the database (`together`).
        """
        async with self._snapshot(together=True) as conn:
            return await period_figures(conn, Scope(since, until, unit_codes), now)

    async def unit_counts(self, now: float) -> dict[str, tuple[int, int]]:
        """Return, per unit code, its open reports and how many of them are overdue."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT unit_code, count(*) AS open,"
                " sum(deadline_at IS NOT NULL AND deadline_at <= ?) AS overdue FROM reports"
                " WHERE status IN ('new', 'acknowledged', 'in_progress') AND spam = 0"
                " GROUP BY unit_code",
                (now,),
            )
        return {r["unit_code"]: (r["open"], r["overdue"] or 0) for r in rows}

    async def _reports(self, where: str, params: Sequence[Any]) -> list[Report]:
        """Return the reports a WHERE (and ORDER/LIMIT) clause selects."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(REPORT_SELECT + " " + where, params)
        return [to_report(r) for r in rows]


def _holds(stored: Any, wanted: Any) -> bool:
    return stored is not None if wanted is NOT_NULL else stored == wanted


def _like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_text(code: str, fields: ReportFields) -> str:
    parts = (code, fields.description, fields.official, fields.location)
    return fold(" ".join(p for p in parts if p))
