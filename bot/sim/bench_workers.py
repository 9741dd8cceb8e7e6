"""`liemchinh bench --workers 1,2,3`: how far webhook workers on PostgreSQL carry the load,
beside one process on SQLite, in one run.

Every configuration runs as an operator runs it (`bot.sim.cluster`): `liemchinh run --webhook`
processes behind the round-robin balancer, the simulated Telegram posting its webhook requests
to the balancer (40 at a time, a chat's updates one at a time). Each gets the same load, as the
saturation phase of the plain bench: `citizens` at a time walk `reports` complete reports with a
photo and no think time, with Telegram's limits lifted (the simulator counts what would break
them and refuses nothing; the bot is configured to 1,000 messages a second, private chats not
paced). Throughput is updates answered a second over the measured span; latency runs from an
update's POST to the bot's first message in its chat. PostgreSQL is a throwaway server
(`bot.sim.pgserver`), started for the run when its binaries are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from bot.sim.bench_citizens import Citizen, Outcome
from bot.sim.bench_phases import lost_in, percentile
from bot.sim.bench_world import JSON, UNIT_COUNT, BenchOptions, BenchSimulator, add_world
from bot.sim.cluster import Cluster
from bot.sim.pgserver import PostgresServer, binaries

# The citizens of each configuration get ids of their own from here on.
WORKERS_BASE = 900_000_000
CONFIGURATION_IDS = 1_000_000


async def run_workers(options: BenchOptions) -> JSON:
    """Measure one process on SQLite, then each count of workers on PostgreSQL."""
    with contextlib.ExitStack() as stack:
        folder = options.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="liemchinh-bench-"))
        )
        folder.mkdir(parents=True, exist_ok=True)
        rows: list[JSON] = []
        async with BenchSimulator(enforce_limits=False) as sim:
            add_world(sim)
            sqlite = str((folder / "sqlite" / "bench.db").resolve())
            rows.append(await _measure(sim, folder / "sqlite", sqlite, 1, "SQLite", 0, options))
            bin_dir = binaries()
            if bin_dir is None:
                return {"workers": rows, "postgresql": "binaries not installed: not measured"}
            server = PostgresServer(bin_dir)
            server.start()
            try:
                for index, count in enumerate(options.workers, start=1):
                    url = await server.new_database()
                    place = folder / f"postgresql-{count}"
                    rows.append(
                        await _measure(sim, place, url, count, "PostgreSQL", index, options)
                    )
            finally:
                server.stop()
        return {"workers": rows}
    raise AssertionError("unreachable")  # pragma: no cover - mypy cannot see the with's return


async def _measure(
    sim: BenchSimulator,
    folder: Path,
    database: str,
    count: int,
    label: str,
    index: int,
    options: BenchOptions,
) -> JSON:
    first = WORKERS_BASE + index * CONFIGURATION_IDS
    total = options.reports
    users = [sim.add_user(first + i, f"Tải {i}", language_code="vi") for i in range(total)]
    async with Cluster(sim, folder, database, count, lifted=True) as cluster:
        sim.reset_probe()
        queue = iter(range(total))
        outcomes: list[Outcome] = []

        async def citizen() -> None:
            for i in queue:
                person = Citizen(sim, users[i], 1 + i % UNIT_COUNT, 0.0)
                outcomes.append(await person.report())

        cpu = cluster.cpu_seconds()
        again = sim.redelivered
        refused = sum(getattr(sim, "webhook_refusals", {}).values())
        began = time.monotonic()
        await asyncio.gather(*(citizen() for _ in range(options.citizens)))
        span = time.monotonic() - began
        cpu = cluster.cpu_seconds() - cpu
        latencies = list(sim.latencies)
        again = sim.redelivered - again
        refused = sum(sim.webhook_refusals.values()) - refused
        answered = sorted(sim.answered_at)
    rate = (len(answered) - 1) / (answered[-1] - answered[0]) if len(answered) > 1 else 0.0
    return {
        "database": label,
        "workers": count,
        "reports": sum(1 for o in outcomes if o.code),
        "updates": len(latencies),
        "seconds": round(span, 1),
        "updates_per_s": round(rate, 1),
        "p50_ms": round(1000 * statistics.median(latencies)) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99)) if latencies else None,
        "cpu_ms_per_update": round(1000 * cpu / max(len(latencies), 1), 1),
        "updates_lost": lost_in(sim, first, total),
        # Webhook requests answered other than 2xx, and updates posted more than once.
        "refused": refused,
        "posted_again": again,
        "stuck_citizens": sum(1 for o in outcomes if o.stuck),
    }


def print_table(result: JSON) -> None:
    """Print the configurations as a table, one row each."""
    rows = result["workers"]
    columns = list(rows[0]) if rows else []
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(f"{c:>{widths[c]}}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]!s:>{widths[c]}}" for c in columns))
    for key, value in result.items():
        if key != "workers":
            print(f"{key}: {value}")
