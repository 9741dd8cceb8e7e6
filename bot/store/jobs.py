"""The repeating jobs on a database several workers share: one worker runs them, once a period.

The worker that holds the jobs' advisory lock (`bot.store.coordination.JOB_LOCK`) runs them;
the others try to take the lock at each of their own ticks, and so take over within one tick
of its holder's death. Each period of each job is recorded before it runs (`job_runs`): a
period already recorded is not run again, whoever holds the jobs then, and the table shows
that each period ran once. On SQLite the one process runs the jobs, recorded the same way.
"""

from __future__ import annotations

from bot.store.coordination import JOB_LOCK, lead
from bot.store.database import Store

# Job runs are kept this long (a record of what ran, nothing personal).
KEEP_SECONDS = 30 * 86400.0
PRUNE_EVERY = 86400.0


class JobStore(Store):
    """Who runs the repeating jobs, and which of their periods ran."""

    _pruned_at = float("-inf")

    async def lead(self) -> bool:
        """Take or keep the jobs' lock; True if this worker runs the jobs."""
        return await lead(self._database.coordination, JOB_LOCK)

    def leads(self) -> bool:
        """Tell whether this worker holds the jobs now (without asking the database)."""
        coordination = self._database.coordination
        return coordination is None or coordination.holds(JOB_LOCK)

    async def claim_period(self, job: str, period: int) -> bool:
        """Record that this worker runs `job` for `period`; False if it ran already."""
        now = self._now()
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO job_runs (job, period, worker, ran_at) VALUES (?, ?, ?, ?)",
                (job, period, self._database.worker, now),
            )
            if now - self._pruned_at >= PRUNE_EVERY:
                self._pruned_at = now
                await conn.execute("DELETE FROM job_runs WHERE ran_at < ?", (now - KEEP_SECONDS,))
            return bool(cur.rowcount)

    async def runs(self, job: str) -> list[tuple[int, str]]:
        """Return (period, worker) of the recorded runs of `job`, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT period, worker FROM job_runs WHERE job = ? ORDER BY period", (job,)
            )
        return [(r["period"], r["worker"]) for r in rows]
