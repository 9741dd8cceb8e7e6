"""Synthetic reports for the benchmark's /stats and /export timings (`liemchinh bench
--seed N`, or `--seed-into DB` alone): thousands of reports written straight into a database in
seconds. Test data only; the bot never writes reports this way.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from bot.sim.bench_world import DESCRIPTION


def seed_reports(database: Path, count: int, *, seed: int = 1) -> int:
    """Write `count` synthetic reports straight into the database; return how many.

    TEST DATA ONLY: this bypasses bot.store.repository.Repository (and its audit log and outbox) to
    fill a benchmark database in seconds. The bot never writes reports this way.
    """
    from bot.core.domain import Category, Status
    from bot.core.parsing import CODE_ALPHABET, CODE_LENGTH, fold

    rng = random.Random(seed)
    now = time.time()
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.create_function("fold", 1, fold, deterministic=True)
        units = [r[0] for r in conn.execute("SELECT code FROM units WHERE parent IS NOT NULL")]
        if not units:
            units = [r[0] for r in conn.execute("SELECT code FROM units")]
        codes = {r[0] for r in conn.execute("SELECT code FROM reports")}
        first_id = conn.execute("SELECT coalesce(max(id), 0) FROM reports").fetchone()[0] + 1
        # Benchmark data only: losing it to a power cut costs nothing, so skip the fsyncs.
        conn.execute("PRAGMA synchronous = OFF")
        categories = [c.value for c in Category]
        statuses = [s.value for s in Status]
        reports: list[tuple[Any, ...]] = []
        reporters: list[tuple[int, int, int]] = []
        for number in range(count):
            code = ""
            while not code or code in codes:
                code = "".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            codes.add(code)
            report_id = first_id + number
            created = now - rng.uniform(60, 360 * 86400)
            status = rng.choice(statuses)
            acknowledged = created + rng.uniform(3600, 5 * 86400) if status != "new" else None
            closed = (
                (acknowledged or created) + rng.uniform(86400, 40 * 86400)
                if status in ("resolved", "declined")
                else None
            )
            description = f"{DESCRIPTION} Phản ánh thử số {number}."
            official = f"Cán bộ bàn số {rng.randint(1, 20)}"
            reports.append(
                (
                    report_id,
                    code,
                    status,
                    rng.choice(categories),
                    rng.choice(units),
                    description,
                    official,
                    1,
                    "vi",
                    created,
                    created + 3 * 86400,
                    acknowledged,
                    closed,
                    rng.randint(1, 5) if status == "resolved" and rng.random() < 0.5 else None,
                    created,
                    fold(f"{code} {description} {official}"),
                )
            )
            reporters.append((report_id, 900_000_000 + number, 900_000_000 + number))
        with conn:
            conn.executemany(
                "INSERT INTO reports (id, code, status, category, unit_code, description,"
                " official, anonymous, locale, created_at, deadline_at, acknowledged_at,"
                " closed_at, rating, updated_at, search_text)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                reports,
            )
            conn.executemany(
                "INSERT INTO reporters (report_id, user_id, chat_id) VALUES (?, ?, ?)", reporters
            )
    return count
