"""Conflicts of interest marked by admins, the reports patterns are looked for in, and the
record that a pattern was escalated (once per cluster)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.core.domain import SYSTEM, Report
from bot.core.outbox import Outgoing
from bot.store.database import Store
from bot.store.dialect import Connection, fetch_one
from bot.store.rows import REPORT_SELECT, insert_audit, insert_outbox, to_report


class IntegrityStore(Store):
    """Conflict marks, pattern candidates and pattern escalations."""

    async def set_conflict(self, unit_code: str, category: str, by: int, on: bool) -> bool:
        """Mark (or unmark) a unit as conflicted for a category; True if anything changed."""
        async with self._write() as conn:
            if on:
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO unit_conflicts (unit_code, category, set_by, set_at)"
                    " VALUES (?, ?, ?, ?)",
                    (unit_code, category, by, self._now()),
                )
            else:
                cur = await conn.execute(
                    "DELETE FROM unit_conflicts WHERE unit_code = ? AND category = ?",
                    (unit_code, category),
                )
            return cur.rowcount > 0

    async def is_conflicted(self, unit_code: str, category: str) -> bool:
        """Tell whether an admin marked the unit as conflicted for the category."""
        async with self._read() as conn:
            row = await fetch_one(
                conn,
                "SELECT 1 FROM unit_conflicts WHERE unit_code = ? AND category = ?",
                (unit_code, category),
            )
        return row is not None

    async def conflicts(self) -> dict[str, list[str]]:
        """Return every conflict mark: the categories marked, by unit."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT unit_code, category FROM unit_conflicts ORDER BY unit_code, category"
            )
        marks: dict[str, list[str]] = {}
        for row in rows:
            marks.setdefault(row["unit_code"], []).append(row["category"])
        return marks

    async def named_reports(self, since: float, unit_code: str | None = None) -> list[Report]:
        """Return reports naming an official since a moment, about one unit or all."""
        where = " WHERE official IS NOT NULL AND reports.created_at >= ?"
        params: list[object] = [since]
        if unit_code is not None:
            where += " AND coalesce(concerned_unit, unit_code) = ?"
            params.append(unit_code)
        async with self._read() as conn:
            rows = await conn.execute_fetchall(REPORT_SELECT + where + " ORDER BY id", params)
        return [to_report(r) for r in rows]

    async def escalated_among(self, report_ids: Collection[int]) -> bool:
        """Tell whether any of these reports' cluster was escalated already."""
        ids = list(report_ids)
        if not ids:
            return False
        async with self._read() as conn:
            return await _escalated(conn, ids)

    async def escalate_pattern(
        self,
        report: Report,
        cluster: Collection[int],
        note: str,
        outbox: Sequence[Outgoing],
    ) -> bool:
        """Record a cluster's escalation, its audit line and alerts; False if done already."""
        now = self._now()
        ids = sorted({*cluster, report.id})
        async with self._write() as conn:
            # Checked again inside the transaction: two reports joining a cluster at once
            # escalate it once.
            if await _escalated(conn, ids):
                return False
            await conn.execute(
                "INSERT INTO pattern_escalations (report_id, unit_code, size, at)"
                " VALUES (?, ?, ?, ?)",
                (report.id, report.concerned_unit or report.fields.unit_code, len(ids), now),
            )
            await insert_audit(
                conn,
                report.id,
                now,
                SYSTEM,
                "pattern_escalated",
                report.status,
                report.status,
                report.fields.unit_code,
                report.fields.unit_code,
                note,
            )
            for item in outbox:
                await insert_outbox(conn, now, item, report.id, {})
        return True


async def _escalated(conn: Connection, ids: Sequence[int]) -> bool:
    """Tell whether any of these reports' cluster was escalated already."""
    row = await fetch_one(
        conn,
        "SELECT 1 FROM pattern_escalations WHERE report_id IN (" + ", ".join("?" * len(ids)) + ")",
        ids,
    )
    return row is not None
