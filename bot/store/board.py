"""The public board: per-unit figures of a period, aggregated in SQL.

Only counts and medians leave this module, per unit and only for units with enough reports in
the period: no description, code, finer date or official's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.database import Store


@dataclass(frozen=True)
class BoardRow:
    """One unit's figures for a period."""

    unit_code: str
    unit_name: str
    received: int
    acknowledged_on_time: int
    resolved_on_time: int
    overdue: int
    median_ack_days: float | None
    median_resolve_days: float | None


# A deadline missed is an escalation: the clock escalates a report exactly when its running
# deadline passes, so "on time" is "before acknowledgement (or resolution) without one".
_SQL = """
WITH r AS (
    SELECT id, unit_code, status, created_at, acknowledged_at, closed_at, deadline_at
    FROM reports WHERE created_at >= :since AND spam = 0
),
counts AS (
    SELECT unit_code, count(*) AS received,
        sum(acknowledged_at IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM audit a WHERE a.report_id = r.id AND a.action = 'escalated'
            AND a.at <= r.acknowledged_at)) AS ack_on_time,
        sum(status = 'resolved' AND NOT EXISTS (
            SELECT 1 FROM audit a WHERE a.report_id = r.id AND a.action = 'escalated'
            AND a.at >= coalesce(r.acknowledged_at, r.created_at))) AS res_on_time,
        sum(status IN ('new', 'acknowledged', 'in_progress')
            AND deadline_at IS NOT NULL AND deadline_at <= :now) AS overdue
    FROM r GROUP BY unit_code HAVING count(*) >= :minimum
),
ack AS (
    SELECT unit_code, (acknowledged_at - created_at) / 86400.0 AS v FROM r
    WHERE acknowledged_at IS NOT NULL
),
res AS (
    SELECT unit_code, (closed_at - created_at) / 86400.0 AS v FROM r
    WHERE status = 'resolved' AND closed_at IS NOT NULL
),
ack_ranked AS (
    SELECT unit_code, v, row_number() OVER (PARTITION BY unit_code ORDER BY v) AS i,
        count(*) OVER (PARTITION BY unit_code) AS n FROM ack
),
res_ranked AS (
    SELECT unit_code, v, row_number() OVER (PARTITION BY unit_code ORDER BY v) AS i,
        count(*) OVER (PARTITION BY unit_code) AS n FROM res
),
ack_median AS (
    SELECT unit_code, avg(v) AS m FROM ack_ranked WHERE i IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY unit_code
),
res_median AS (
    SELECT unit_code, avg(v) AS m FROM res_ranked WHERE i IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY unit_code
)
SELECT counts.unit_code AS unit_code, units.name AS unit_name, received, ack_on_time,
    res_on_time, overdue, ack_median.m AS ack_m, res_median.m AS res_m
FROM counts JOIN units ON units.code = counts.unit_code
LEFT JOIN ack_median ON ack_median.unit_code = counts.unit_code
LEFT JOIN res_median ON res_median.unit_code = counts.unit_code
ORDER BY units.name, counts.unit_code
"""


class BoardStore(Store):
    """Per-unit figures for the public board."""

    async def unit_figures(self, since: float, now: float, minimum: int) -> list[BoardRow]:
        """Return the figures of units with at least `minimum` reports since `since`.

        One long query over the period's reports: on the read-only connection
        (`Database.snapshot`), so that a visit to the board holds up no citizen's step.
        """
        async with self._snapshot() as conn:
            rows = await conn.execute_fetchall(
                _SQL, {"since": since, "now": now, "minimum": minimum}
            )
        return [
            BoardRow(
                unit_code=r["unit_code"],
                unit_name=r["unit_name"],
                received=int(r["received"]),
                acknowledged_on_time=int(r["ack_on_time"] or 0),
                resolved_on_time=int(r["res_on_time"] or 0),
                overdue=int(r["overdue"] or 0),
                median_ack_days=r["ack_m"],
                median_resolve_days=r["res_m"],
            )
            for r in rows
        ]
