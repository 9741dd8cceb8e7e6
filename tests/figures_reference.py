"""Statistics two ways for the tests: through SQL as the bot counts, and row by row as before.

`compute` writes rows shaped like `Repository.report_rows` into a fresh database and counts them
with `ReportStore.period_figures`, so every figure a test pins is the bot's own. `compute_rows`
is the former row-by-row computation, kept only here as the reference the SQL must equal.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.core.domain import OPEN_STATUSES, Status
from bot.core.parsing import fold
from bot.figures.stats import Period, Stats, UnitStats, stats_of
from bot.store.repository import Repository

_DAY = 86_400.0
_HOUR = 3_600.0
# Columns of a report_rows row that are stored as they are in `reports`.
_STORED = (
    "status",
    "category",
    "unit_code",
    "created_at",
    "acknowledged_at",
    "closed_at",
    "deadline_kind",
    "deadline_at",
    "escalation_level",
    "extended",
    "description",
    "official",
    "amount",
    "rating",
    "anonymous",
    "spam",
)


async def load_rows(repo: Repository, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store the rows (and their units) in an open repository, in list order."""
    async with repo.database.write() as conn:
        for index, row in enumerate(rows):
            await conn.execute(
                "INSERT OR IGNORE INTO units (code, name, created_at) VALUES (?, ?, 0)",
                (row["unit_code"], row.get("unit_name") or ""),
            )
            values = {c: row.get(c) for c in _STORED}
            values["description"] = values["description"] or "-"
            values["escalation_level"] = values["escalation_level"] or 0
            values["extended"] = values["extended"] or 0
            values["anonymous"] = 1 if values["anonymous"] is None else values["anonymous"]
            values["spam"] = values["spam"] or 0
            await conn.execute(
                "INSERT INTO reports (code, locale, "
                + ", ".join(values)
                + ") VALUES (?, 'vi', "
                + ", ".join("?" * len(values))
                + ")",
                (f"T{index:07d}", *values.values()),
            )


def compute(rows: Sequence[Mapping[str, Any]], period: Period, now: float) -> Stats:
    """Count the rows the way the bot does: stored, then aggregated in SQL."""

    async def run() -> Stats:
        with tempfile.TemporaryDirectory() as folder:
            async with Repository(Path(folder) / "stats.db") as repo:
                await load_rows(repo, rows)
                figures = await repo.reports.period_figures(None, None, None, now)
        return stats_of(figures, period)

    # A thread of its own, so that async tests may call it too.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


# --------------------------------------------------------------------------- the reference


def _is_overdue(row: Mapping[str, Any], now: float) -> bool:
    if (row.get("escalation_level") or 0) > 0:
        return True
    deadline = row.get("deadline_at")
    return row.get("status") in OPEN_STATUSES and deadline is not None and deadline <= now


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _unit_stats(code: str, rows: list[Mapping[str, Any]], now: float) -> UnitStats:
    ack_hours: list[float] = []
    resolve_days: list[float] = []
    ratings: list[int] = []
    open_count = overdue = resolved = declined = 0
    for row in rows:
        status = row.get("status")
        created, acked, closed = (
            row.get("created_at"),
            row.get("acknowledged_at"),
            row.get("closed_at"),
        )
        if status in OPEN_STATUSES:
            open_count += 1
        elif status == Status.RESOLVED:
            resolved += 1
            if acked is not None and closed is not None:
                resolve_days.append((closed - acked) / _DAY)
        elif status == Status.DECLINED:
            declined += 1
        if _is_overdue(row, now):
            overdue += 1
        if created is not None and acked is not None:
            ack_hours.append((acked - created) / _HOUR)
        if row.get("rating") is not None:
            ratings.append(int(row["rating"]))
    name = next((str(r["unit_name"]) for r in rows if r.get("unit_name")), code)
    return UnitStats(
        code=code,
        name=name,
        total=len(rows),
        open=open_count,
        overdue=overdue,
        resolved=resolved,
        declined=declined,
        median_ack_hours=_median(ack_hours),
        median_resolve_days=_median(resolve_days),
        rating_avg=_mean(ratings),
        rating_count=len(ratings),
    )


def compute_rows(rows: Sequence[Mapping[str, Any]], period: Period, now: float) -> Stats:
    """The former computation: every row of `Repository.report_rows` read in Python."""
    kept = [r for r in rows if not r.get("spam")]
    by_unit: dict[str, list[Mapping[str, Any]]] = {}
    for row in kept:
        by_unit.setdefault(str(row.get("unit_code") or ""), []).append(row)
    units = sorted(
        (_unit_stats(code, unit_rows, now) for code, unit_rows in by_unit.items()),
        key=lambda u: (-u.total, fold(u.name), u.name, u.code),
    )
    ratings = [int(r["rating"]) for r in kept if r.get("rating") is not None]
    return Stats(
        period=period,
        total=len(kept),
        by_category=dict(Counter(str(r.get("category") or "other") for r in kept).most_common()),
        by_status=dict(Counter(str(r.get("status")) for r in kept).most_common()),
        units=units,
        overdue=sum(u.overdue for u in units),
        rating_avg=_mean(ratings),
        rating_count=len(ratings),
    )
