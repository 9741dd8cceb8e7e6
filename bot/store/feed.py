"""The open data feed's rows: what may be published about reports, and nothing else.

Only the id, status, category, handling unit, creation time, deadline and the time of the
unit's latest step leave this module: no description, place, official, code or reporter.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bot.store.database import Store


@dataclass(frozen=True)
class FeedRow:
    """One report as the open data feed may show it."""

    id: int
    status: str
    category: str
    unit_code: str
    unit_name: str
    created_at: float
    deadline_at: float | None
    # The latest step of the unit (or an escalation), None when the unit has done nothing
    # yet: the reporter's own steps are left out, since their times could point at them.
    updated_at: float | None


@dataclass(frozen=True)
class FeedQuery:
    """Which reports: created in [since, until), of these statuses, categories or ids."""

    since: float | None = None
    until: float | None = None
    statuses: Collection[str] | None = None
    categories: Collection[str] | None = None
    ids: Collection[int] | None = None
    limit: int = 1000
    offset: int = 0


_SELECT = (
    "SELECT reports.id AS id, status, category, unit_code, units.name AS unit_name,"
    " reports.created_at AS created_at, deadline_at,"
    " (SELECT max(audit.at) FROM audit WHERE audit.report_id = reports.id"
    "  AND (audit.actor_kind IN ('officer', 'admin') OR audit.action = 'escalated'))"
    " AS updated_at"
    " FROM reports JOIN units ON units.code = reports.unit_code WHERE spam = 0"
)


def _in(column: str, values: Collection[Any], params: list[Any]) -> str:
    params.extend(values)
    return f" AND {column} IN ({', '.join('?' * len(values))})"


class FeedStore(Store):
    """De-identified report rows for the Open311 feed."""

    async def feed_rows(self, query: FeedQuery) -> list[FeedRow]:
        """Return the reports a query selects, oldest first (spam left out)."""
        sql = _SELECT
        params: list[Any] = []
        if query.ids is not None:
            # Asked for by id: that overrides every other filter, as Open311 says.
            sql += _in("reports.id", list(query.ids), params)
        else:
            if query.since is not None:
                sql += " AND reports.created_at >= ?"
                params.append(query.since)
            if query.until is not None:
                sql += " AND reports.created_at < ?"
                params.append(query.until)
            if query.statuses is not None:
                sql += _in("status", list(query.statuses), params)
            if query.categories is not None:
                sql += _in("category", list(query.categories), params)
        sql += " ORDER BY reports.id LIMIT ? OFFSET ?"
        params += [query.limit, query.offset]
        async with self._read() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return [
            FeedRow(
                id=r["id"],
                status=r["status"],
                category=r["category"],
                unit_code=r["unit_code"],
                unit_name=r["unit_name"],
                created_at=r["created_at"],
                deadline_at=r["deadline_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
