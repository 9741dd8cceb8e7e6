"""The operator's view of the database: a write that proves it writable, and its figures."""

from __future__ import annotations

from typing import Any

from bot.core.domain import OPEN_STATUSES, Status
from bot.metrics import OpsFigures
from bot.store.database import Store
from bot.store.dialect import fetch_one

# Alerts held for a unit without a usable chat wait for an admin, who has been told; they say
# nothing about whether delivery works, so the outbox's age leaves them out.
_DELIVERABLE = (
    "status = 'pending' AND (unit_code IS NULL OR chat_id IS NOT NULL OR unit_code NOT IN"
    " (SELECT code FROM units WHERE chat_state != 'ok'))"
)
_OPEN = ", ".join(f"'{status.value}'" for status in sorted(OPEN_STATUSES))


class HealthStore(Store):
    """Readiness and metrics read from the database."""

    async def probe(self) -> None:
        """Write one row and commit it; raise StorageError when the database refuses."""
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO health_probe (id, checked_at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (self._now(),),
            )

    async def figures(self) -> OpsFigures:
        """Return the outbox, the reports and the inbound backlog as they stand now."""
        now = self._now()
        async with self._read(together=True) as conn:

            async def one(sql: str, *params: object) -> Any:
                row = await fetch_one(conn, sql, params)
                return row[0] if row is not None else None

            depth = await one("SELECT count(*) FROM outbox WHERE status = 'pending'")
            oldest = await one(f"SELECT min(created_at) FROM outbox WHERE {_DELIVERABLE}")
            statuses = await conn.execute_fetchall(
                "SELECT status, count(*) AS n FROM reports WHERE spam = 0 GROUP BY status"
            )
            overdue = await one(
                "SELECT count(*) FROM reports WHERE spam = 0"
                f" AND status IN ({_OPEN}) AND deadline_at IS NOT NULL AND deadline_at <= ?",
                now,
            )
            escalations = await one("SELECT count(*) FROM audit WHERE action = 'escalated'")
            backlog = await one("SELECT count(*) FROM inbound")
        # Every status is listed, at 0 when no report has it; only the known ones are labels.
        by_status = {status.value: 0 for status in Status}
        for row in statuses:
            if row["status"] in by_status:
                by_status[row["status"]] = row["n"]
        return OpsFigures(
            outbox_depth=int(depth or 0),
            outbox_oldest_seconds=0.0 if oldest is None else max(0.0, now - oldest),
            reports_by_status=by_status,
            overdue_reports=int(overdue or 0),
            escalations=int(escalations or 0),
            inbound_backlog=int(backlog or 0),
        )
