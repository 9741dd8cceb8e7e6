"""The reports of a period, read for statistics and exports: counted in SQL, or streamed.

Both start from one scope (creation time since/until, a set of units, spam left out or not),
so the figures `/stats` shows, the rows `/export` writes and a public board's per-unit figures
always count the same reports.

They take long on many reports, so their callers lend them the read-only connection
(`Database.snapshot`) rather than the writer's, which citizens' steps wait for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from bot.core.domain import OPEN_STATUSES, Status
from bot.sealing import unseal
from bot.store.dialect import Connection, fetch_one

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

# An export's rows are read this many at a time: at 100,000 reports, 2,000 a time raised the
# bot's resident memory by 10 MB while the child wrote the files, 500 by 4 MB, in the same time.
CHUNK_ROWS = 500
# The durations of /stats, pairs of a code and a number, are read this many at a time: 10,000
# held 2.8 MB more at the bot's peak, for no time saved.
DURATIONS_BATCH = 1000

_ACK_HOURS = "(acknowledged_at - created_at) / 3600.0"
_RESOLVE_DAYS = "(closed_at - acknowledged_at) / 86400.0"
# Resolved reports' time to resolve is measured from their acknowledgement.
_RESOLVED = (
    f"status = '{Status.RESOLVED.value}' AND closed_at IS NOT NULL AND acknowledged_at IS NOT NULL"
)
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
    "CASE WHEN anonymous <> 0 THEN NULL ELSE contact_name END AS contact_name,"
    " CASE WHEN anonymous <> 0 THEN NULL ELSE contact_phone END AS contact_phone"
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
            clauses.append("spam = 0")
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


async def count_rows(conn: Connection, scope: Scope) -> int:
    """Count the reports in the scope."""
    where, params = scope.where()
    row = await fetch_one(conn, "SELECT count(*)" + _FROM + where, params)
    return int(row[0]) if row else 0


Reader = Callable[[], AbstractAsyncContextManager[Connection]]


async def iter_rows(
    read: Reader, scope: Scope, *, contacts: bool, chunk: int = CHUNK_ROWS
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the scope's rows in id order, `chunk` at a time, from a `read()` context factory."""
    # Each chunk is its own short read (keyset on the id), so the connection is free for the
    # bot's other work between chunks however long the export takes: its lock is let go before
    # a chunk is yielded, and a consumer that stops early leaves nothing held.
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
            cursor = await conn.execute(sql, (*params, last, chunk))
            try:
                # Plain tuples zipped with the names: half the time of Row and dict().
                cursor.row_factory = None
                rows = await cursor.fetchall()
                names = [column[0] for column in cursor.description]
            finally:
                # Even when cancelled: a statement left open keeps its read transaction open.
                await cursor.close()
        if not rows:
            return
        found = [dict(zip(names, row, strict=True)) for row in rows]
        if contacts:
            for item in found:
                item["contact_name"] = unseal(item["contact_name"])
                item["contact_phone"] = unseal(item["contact_phone"])
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


async def _medians(
    conn: Connection, value: str, condition: str, scope: Scope, counts: dict[str, int]
) -> dict[str, float]:
    """Each unit's median of `value` over the scope's reports where `condition`.

    SQLite has no median. The values come sorted by unit, then value, and only the middle one
    or two of each unit are kept: the same arithmetic as statistics.median, in constant memory.
    (A list of floats per unit was 6 MB of objects at 100,000 reports, which CPython kept.)
    `counts` gives each unit's number of values, counted in the same snapshot (a unit not
    counted there gets no median).
    """
    where, params = scope.where()
    medians: dict[str, float] = {}
    # "+unit_code": sorted in a temporary b-tree (0.09 s at 100,000 reports), not by walking
    # the (unit, status) index, a random read per report (0.2-0.5 s).
    cursor = await conn.execute(
        f"SELECT unit_code, {value} AS value FROM reports WHERE {where} AND {condition}"
        " ORDER BY +unit_code, value",
        params,
    )
    try:
        cursor.row_factory = None
        code = None
        index = count = 0
        low = 0.0
        while rows := await cursor.fetchmany(DURATIONS_BATCH):
            for unit, number in rows:
                if unit != code:
                    code, index, count = unit, 0, counts.get(unit, 0)
                if index == (count - 1) // 2:
                    low = number
                if index == count // 2 and count > 0:
                    medians[unit] = number if count % 2 else (low + number) / 2
                index += 1
    finally:
        # Even when cancelled: a statement left open keeps its read transaction open.
        await cursor.close()
    return medians


@dataclass
class _Tally:
    count: int = 0
    first: int = 0  # the lowest report id, to break ties as the rows' order would


def _ranked(tallies: dict[str, _Tally]) -> list[tuple[str, int]]:
    ordered = sorted(tallies.items(), key=lambda item: (-item[1].count, item[1].first))
    return [(key, tally.count) for key, tally in ordered]


async def period_figures(conn: Connection, scope: Scope, now: float) -> PeriodFigures:
    """Count the scope's reports by category, status and unit, without reading them one by one.

    Overdue: open past its deadline at `now`, or escalated once already. Time to acknowledge is
    in hours from creation, time to resolve in days from acknowledgement (resolved reports only).
    Ties in the category and status counts keep the order in which each first occurs.
    """
    where, params = scope.where()
    # One pass grouped by unit, status and category (a few thousand groups at most), summed up
    # below. "+unit_code" keeps SQLite from walking the (unit, status) index for the grouping,
    # which costs a random read per report; the creation-time index serves the period instead.
    groups = await conn.execute_fetchall(
        "SELECT unit_code, status, coalesce(nullif(category, ''), 'other') AS category,"
        f" count(*) AS n, min(id) AS first, sum({_OVERDUE}) AS overdue,"
        " coalesce(sum(rating), 0) AS rating_sum, count(rating) AS rating_count,"
        f" count(acknowledged_at) AS acked, count(CASE WHEN {_RESOLVED} THEN 1 END) AS closed"
        " FROM reports WHERE " + where + " GROUP BY +unit_code, status, category",
        [now, *params],
    )
    acked = {g["unit_code"]: 0 for g in groups}
    closed = dict(acked)
    for g in groups:
        acked[g["unit_code"]] += g["acked"]
        closed[g["unit_code"]] += g["closed"]
    ack = await _medians(conn, _ACK_HOURS, "acknowledged_at IS NOT NULL", scope, acked)
    resolve = await _medians(conn, _RESOLVE_DAYS, _RESOLVED, scope, closed)
    codes = sorted({g["unit_code"] for g in groups})
    names: dict[str, str] = {}
    if codes:
        marks = ",".join("?" * len(codes))
        for row in await conn.execute_fetchall(
            f"SELECT code, name FROM units WHERE code IN ({marks})", codes
        ):
            names[row["code"]] = row["name"]
    categories: dict[str, _Tally] = {}
    statuses: dict[str, _Tally] = {}
    units: dict[str, dict[str, int]] = {}
    for g in groups:
        if g["unit_code"] not in names:
            continue  # a report of no known unit is in no listing (as with report_rows' join)
        for tallies, key in ((categories, g["category"]), (statuses, g["status"])):
            tally = tallies.setdefault(str(key), _Tally(0, g["first"]))
            tally.count += g["n"]
            tally.first = min(tally.first, g["first"])
        unit = units.setdefault(g["unit_code"], dict.fromkeys(_UNIT_SUMS, 0))
        status = g["status"]
        unit["total"] += g["n"]
        unit["open"] += g["n"] if status in OPEN_STATUSES else 0
        unit["resolved"] += g["n"] if status == Status.RESOLVED else 0
        unit["declined"] += g["n"] if status == Status.DECLINED else 0
        unit["overdue"] += g["overdue"] or 0
        unit["rating_sum"] += g["rating_sum"]
        unit["rating_count"] += g["rating_count"]
    return PeriodFigures(
        by_category=_ranked(categories),
        by_status=_ranked(statuses),
        units=[
            UnitFigures(
                code=code,
                name=names[code] or code,
                median_ack_hours=ack.get(code),
                median_resolve_days=resolve.get(code),
                **sums,
            )
            for code, sums in sorted(units.items())
        ],
    )


_UNIT_SUMS = ("total", "open", "overdue", "resolved", "declined", "rating_sum", "rating_count")
