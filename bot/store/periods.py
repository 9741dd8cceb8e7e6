"""The reports of a period, read for statistics and exports: counted in SQL, or streamed.

Both start from one scope (creation time since/until, a set of units, spam left out or not),
so the figures `/stats` shows, the rows `/export` writes and a public board's per-unit figures
always count the same reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.core.domain import OPEN_STATUSES, Status
from bot.sealing import unseal

__all__ = [
    "PeriodFigures",
    "Scope",
    "UnitFigures",
    "count_rows",
    "iter_rows",
    "period_figures",
    "plain_row",
    "rows_query",
]

CHUNK_ROWS = 2000

_OPEN = "status IN (" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")"
_OVERDUE = f"(escalation_level > 0 OR ({_OPEN} AND deadline_at IS NOT NULL AND deadline_at <= ?))"
_ROW_COLUMNS = (
    "reports.id AS id, reports.code AS code, status, category, unit_code,"
    " units.name AS unit_name, reports.created_at AS created_at, acknowledged_at, closed_at,"
    " deadline_kind, deadline_at, escalation_level, extended, description, official, amount,"
    " occurred_on, location, resolution_note, decline_reason, citizen_verdict, rating,"
    " anonymous, spam, "
)
# Contact details are read only when asked for, and only for named reports.
_CONTACTS = (
    "CASE WHEN anonymous THEN NULL ELSE contact_name END AS contact_name,"
    " CASE WHEN anonymous THEN NULL ELSE contact_phone END AS contact_phone"
)
_NO_CONTACTS = "NULL AS contact_name, NULL AS contact_phone"
_FROM = " FROM reports JOIN units ON units.code = reports.unit_code WHERE "


@dataclass(frozen=True)
class Scope:
    """Which reports: created in [since, until) (None: open-ended), of these units (None: all)."""

    since: float | None
    until: float | None
    unit_codes: Collection[str] | None
    include_spam: bool = False

    def where(self) -> tuple[str, list[Any]]:
        """Return the WHERE condition (on `reports` joined to `units`) and its parameters."""
        clauses = ["1 = 1"]
        params: list[Any] = []
        if self.since is not None:
            clauses.append("reports.created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("reports.created_at < ?")
            params.append(self.until)
        if self.unit_codes is not None:
            marks = ",".join("?" * len(self.unit_codes))
            clauses.append(f"reports.unit_code IN ({marks})")
            params.extend(self.unit_codes)
        if not self.include_spam:
            clauses.append("NOT spam")
        return " AND ".join(clauses), params


def rows_query(scope: Scope, *, contacts: bool) -> tuple[str, list[Any]]:
    """Return the SELECT of one plain row per report in the scope, in id order."""
    where, params = scope.where()
    sql = _ROW_COLUMNS + (_CONTACTS if contacts else _NO_CONTACTS) + _FROM + where
    return "SELECT " + sql + " ORDER BY reports.id", params


def plain_row(row: Any) -> dict[str, Any]:
    """Return a row of `rows_query` as a dict, its contact details decrypted."""
    found = dict(row)
    found["contact_name"] = unseal(found["contact_name"])
    found["contact_phone"] = unseal(found["contact_phone"])
    return found


async def count_rows(conn: aiosqlite.Connection, scope: Scope) -> int:
    """Count the reports in the scope."""
    where, params = scope.where()
    row = await (await conn.execute("SELECT count(*)" + _FROM + where, params)).fetchone()
    return int(row[0]) if row else 0


Reader = Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]


async def iter_rows(
    read: Reader, scope: Scope, *, contacts: bool, chunk: int = CHUNK_ROWS
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the scope's rows in id order, `chunk` at a time, from a `read()` context factory."""
    # Each chunk is its own short read (keyset on the id), so the shared connection is free for
    # the bot's other work between chunks however long the export takes.
    where, params = scope.where()
    sql = (
        "SELECT "
        + _ROW_COLUMNS
        + (_CONTACTS if contacts else _NO_CONTACTS)
        + _FROM
        + where
        + " AND reports.id > ? ORDER BY reports.id LIMIT ?"
    )
    last = 0
    while True:
        async with read() as conn:
            rows = await conn.execute_fetchall(sql, (*params, last, chunk))
        if not rows:
            return
        found = [plain_row(r) for r in rows]
        last = found[-1]["id"]
        yield found
        if len(found) < chunk:
            return


@dataclass(frozen=True)
class UnitFigures:
    """One unit's figures over a scope (medians are None when nothing was measured)."""

    code: str
    name: str
    total: int
    open: int
    overdue: int
    resolved: int
    declined: int
    median_ack_hours: float | None
    median_resolve_days: float | None
    rating_sum: int
    rating_count: int


@dataclass(frozen=True)
class PeriodFigures:
    """A scope's figures: counts by category and status (most first), and per unit."""

    by_category: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    units: list[UnitFigures]  # in unit code order


def _medians(rows: list[Any]) -> dict[str, float]:
    """Return the median per unit from its one or two middle values (in order)."""
    middle: dict[str, list[float]] = {}
    for row in rows:
        middle.setdefault(row[0], []).append(row[1])
    # The same arithmetic as statistics.median: the middle value, or the mean of the two.
    return {
        code: values[0] if len(values) == 1 else (values[0] + values[1]) / 2
        for code, values in middle.items()
    }


def _median_sql(value: str, condition: str, where: str) -> str:
    # SQLite has no median: number each unit's values in order and keep the middle one or two.
    return (
        "SELECT unit_code, v FROM (SELECT reports.unit_code AS unit_code, "
        + value
        + " AS v, row_number() OVER (PARTITION BY reports.unit_code ORDER BY "
        + value
        + ") AS n, count(*) OVER (PARTITION BY reports.unit_code) AS c"
        + _FROM
        + where
        + " AND "
        + condition
        + ") WHERE n IN ((c + 1) / 2, (c + 2) / 2) ORDER BY unit_code, n"
    )


async def period_figures(conn: aiosqlite.Connection, scope: Scope, now: float) -> PeriodFigures:
    """Count the scope's reports by category, status and unit, without reading them one by one.

    Overdue: open past its deadline at `now`, or escalated once already. Time to acknowledge is
    in hours from creation, time to resolve in days from acknowledgement (resolved reports only).
    Ties in the category and status counts keep the order in which each first occurs.
    """
    where, params = scope.where()
    categories = await conn.execute_fetchall(
        "SELECT coalesce(nullif(category, ''), 'other') AS key, count(*) AS n,"
        " min(reports.id) AS first" + _FROM + where + " GROUP BY key ORDER BY n DESC, first",
        params,
    )
    statuses = await conn.execute_fetchall(
        "SELECT status, count(*) AS n, min(reports.id) AS first"
        + _FROM
        + where
        + " GROUP BY status ORDER BY n DESC, first",
        params,
    )
    units = await conn.execute_fetchall(
        "SELECT reports.unit_code AS code, min(units.name) AS name, count(*) AS total,"
        f" sum({_OPEN}) AS open, sum({_OVERDUE}) AS overdue,"
        f" sum(status = '{Status.RESOLVED.value}') AS resolved,"
        f" sum(status = '{Status.DECLINED.value}') AS declined,"
        " coalesce(sum(rating), 0) AS rating_sum, count(rating) AS rating_count"
        + _FROM
        + where
        + " GROUP BY reports.unit_code ORDER BY reports.unit_code",
        [now, *params],
    )
    ack = _medians(
        list(
            await conn.execute_fetchall(
                _median_sql(
                    "(acknowledged_at - reports.created_at) / 3600.0",
                    "acknowledged_at IS NOT NULL",
                    where,
                ),
                params,
            )
        )
    )
    resolve = _medians(
        list(
            await conn.execute_fetchall(
                _median_sql(
                    "(closed_at - acknowledged_at) / 86400.0",
                    f"status = '{Status.RESOLVED.value}' AND acknowledged_at IS NOT NULL"
                    " AND closed_at IS NOT NULL",
                    where,
                ),
                params,
            )
        )
    )
    return PeriodFigures(
        by_category=[(str(r["key"]), int(r["n"])) for r in categories],
        by_status=[(str(r["status"]), int(r["n"])) for r in statuses],
        units=[
            UnitFigures(
                code=str(r["code"]),
                name=str(r["name"] or r["code"]),
                total=int(r["total"]),
                open=int(r["open"]),
                overdue=int(r["overdue"]),
                resolved=int(r["resolved"]),
                declined=int(r["declined"]),
                median_ack_hours=ack.get(r["code"]),
                median_resolve_days=resolve.get(r["code"]),
                rating_sum=int(r["rating_sum"]),
                rating_count=int(r["rating_count"]),
            )
            for r in units
        ],
    )
