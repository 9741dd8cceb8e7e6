"""The measurements of `liemchinh bench`, one phase each: the echo bot's floor and the real
bot's load (updates a second, latency percentiles, CPU per update), memory per open
conversation, draining a backlog queued while the bot was down, and the time /stats and /export
take over a seeded database, with the helpers that check no report or alert was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sim.bench_citizens import Citizen, Outcome, echo_citizen
from bot.sim.bench_seed import seed_reports
from bot.sim.bench_trace import holders, take_snapshot, trace_folder
from bot.sim.bench_world import (
    ADMIN_ID,
    BACKLOG_BASE,
    CODE_RE,
    ECHO_BASE,
    JSON,
    OPEN_BASE,
    REPORT_STEPS,
    SATURATE_BASE,
    SATURATE_ECHO_BASE,
    UNIT_COUNT,
    BenchSimulator,
    MemorySampler,
    Process,
    bot_process,
    unit_chat,
    wait_polling,
)
from bot.sim.flood import counts_as_message

# How long the memory phase lets the bot rest before it reads its RSS: past the second quiet
# look after which the bot gives the pages a burst freed back (bot.heap), so that the reading
# is the steady memory, not the height of the burst just ended.
SETTLE_S = 3.0


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of `values` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


def _rate(sim: BenchSimulator) -> float:
    """Updates answered per second over the measured span."""
    times = sim.answered_at
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / max(times[-1] - times[0], 1e-9)


@dataclass
class LoadResult:
    """One load run against a bot."""

    updates: int
    updates_per_s: float
    offered_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_update: float
    outcomes: list[Outcome] = field(default_factory=list)
    # The steps of the slowest 1 % (those at or above the p99), counted by kind, and each
    # kind's own p99: where the tail comes from.
    slowest_kinds: dict[str, int] = field(default_factory=dict)
    p99_ms_by_kind: dict[str, float] = field(default_factory=dict)


async def _load(
    sim: BenchSimulator,
    proc: Process,
    citizens: int,
    total: int,
    run_one: Callable[[int], Any],
    ramp: float = 0.0,
) -> tuple[LoadResult, list[Any]]:
    """Run `total` citizen sessions, `citizens` at a time; time them in the simulator.

    The first `citizens` begin spread evenly over `ramp` seconds, as people arrive, rather
    than in one instant: 40 first messages in the same millisecond are more than Telegram's
    30 a second, and the bot would rightly hold the last of them for a second.
    """
    sim.reset_probe()
    before = proc.stats()
    began = time.monotonic()
    queue = iter(range(total))
    results: list[Any] = []

    async def worker(number: int) -> None:
        await asyncio.sleep(ramp * number / citizens)
        for index in queue:
            results.append(await run_one(index))

    await asyncio.gather(*(worker(number) for number in range(citizens)))
    span = time.monotonic() - began
    after = proc.stats()
    latencies = sim.latencies
    handled = len(latencies)
    return (
        LoadResult(
            updates=handled,
            updates_per_s=_rate(sim),
            offered_per_s=handled / span if span else 0.0,
            p50_ms=1000 * statistics.median(latencies) if latencies else 0.0,
            p99_ms=1000 * percentile(latencies, 0.99),
            cpu_ms_per_update=1000 * (after.cpu_s - before.cpu_s) / max(handled, 1),
            slowest_kinds=slowest_kinds(latencies, sim.latency_kinds),
            p99_ms_by_kind=p99_by_kind(latencies, sim.latency_kinds),
        ),
        results,
    )


def slowest_kinds(latencies: Sequence[float], kinds: Sequence[str]) -> dict[str, int]:
    """Count by kind the updates at or above the p99 (the slowest 1 %), most first."""
    if not latencies:
        return {}
    tail = percentile(latencies, 0.99)
    counts: dict[str, int] = {}
    for latency, kind in zip(latencies, kinds, strict=True):
        if latency >= tail:
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def p99_by_kind(latencies: Sequence[float], kinds: Sequence[str]) -> dict[str, float]:
    """Each kind's own p99 in milliseconds, slowest first."""
    by_kind: dict[str, list[float]] = {}
    for latency, kind in zip(latencies, kinds, strict=True):
        by_kind.setdefault(kind, []).append(latency)
    tails = {kind: round(1000 * percentile(values, 0.99), 1) for kind, values in by_kind.items()}
    return dict(sorted(tails.items(), key=lambda item: (-item[1], item[0])))


async def echo_phase(
    sim: BenchSimulator,
    folder: Path,
    citizens: int,
    total: int,
    think: float,
    *,
    first_id: int = ECHO_BASE,
    lifted: bool = False,
    transport: str = "httpx",
) -> LoadResult:
    """The framework's floor: the echo bot under the same citizens and pace."""
    words = [*(["lifted"] * lifted), *(["aiohttp"] * (transport == "aiohttp"))]
    argv = ["-m", "bot.sim.bench", "echo", sim.base_url, sim.token, *words]
    echo = Process(argv, folder / "echo.log")
    polls = sim.count("getUpdates")
    await echo.start()
    try:
        await wait_polling(sim, polls)
        users = [sim.add_user(first_id + i, f"Echo {i}") for i in range(total)]

        async def one(index: int) -> int:
            return await echo_citizen(sim, users[index], think, REPORT_STEPS)

        result, _echoed = await _load(sim, echo, citizens, total, one, ramp=think)
    finally:
        await echo.stop()
    return result


async def report_phase(
    sim: BenchSimulator, bot: Process, citizens: int, total: int, think: float, first_id: int
) -> LoadResult:
    """Citizens walk complete reports with a photo, `citizens` at a time."""
    users = [sim.add_user(first_id + i, f"Dân {i}", language_code="vi") for i in range(total)]

    async def one(index: int) -> Outcome:
        unit = 1 + index % UNIT_COUNT
        return await Citizen(sim, users[index], unit, think).report()

    result, outcomes = await _load(sim, bot, citizens, total, one, ramp=think)
    result.outcomes = outcomes
    return result


def messages_to(sim: BenchSimulator, first_id: int, count: int, after: int) -> int:
    """Calls from index `after` that sent or edited a message in chats first_id.. (+count)."""
    chats = range(first_id, first_id + count)
    total = 0
    for name, params in sim.calls[after:]:
        if counts_as_message(name):
            chat = params.get("chat_id")
            if (
                isinstance(chat, int | str)
                and str(chat).lstrip("-").isdigit()
                and int(chat) in chats
            ):
                total += 1
    return total


def lost_in(sim: BenchSimulator, first_id: int, count: int) -> int:
    """Updates from chats first_id.. (+count) handed out and never answered."""
    chats = range(first_id, first_id + count)
    return sum(len(queue) for chat, queue in sim.waiting.items() if chat in chats)


async def saturation_phase(
    sim: BenchSimulator,
    config: Path,
    folder: Path,
    citizens: int,
    total: int,
    root: Path,
    *,
    echo_transport: str = "httpx",
) -> JSON:
    """Limits lifted, no think time: the most updates a second the bot and the echo bot take.

    The simulator counts what would break Telegram's limits but answers every call.
    """
    enforced, sim.enforce_limits = sim.enforce_limits, False
    try:
        echo = await echo_phase(
            sim,
            folder,
            citizens,
            total,
            0.0,
            first_id=SATURATE_ECHO_BASE,
            lifted=True,
            transport=echo_transport,
        )
        bot = bot_process(config, folder, root=root)
        polls = sim.count("getUpdates")
        await bot.start()
        try:
            await wait_polling(sim, polls)
            load = await report_phase(sim, bot, citizens, total, 0.0, SATURATE_BASE)
            # The phase's own traffic ends with it: alerts left in the outbox would go out at
            # the next start, under the limits, beside the burst of the last second.
            await wait_alerts(sim, {o.code for o in load.outcomes if o.code}, seconds=60)
        finally:
            await bot.stop()
        # What was sent at the lifted rate leaves Telegram's one-second window before a bot
        # under the limits sends again.
        await asyncio.sleep(1.0)
    finally:
        sim.enforce_limits = enforced
    return {
        "saturation_updates_per_s": round(load.updates_per_s, 1),
        "echo_saturation_updates_per_s": round(echo.updates_per_s, 1),
        "saturation_ratio_to_echo": round(load.updates_per_s / echo.updates_per_s, 3)
        if echo.updates_per_s
        else None,
        "saturation_reports": sum(1 for o in load.outcomes if o.code),
        "saturation_cpu_ms_per_update": round(load.cpu_ms_per_update, 2),
        "echo_saturation_cpu_ms_per_update": round(echo.cpu_ms_per_update, 2),
        # From an update handed out to its answer: with no think time, the citizens at a time
        # divided by this is the rate, unless a process runs out of CPU first.
        "saturation_p50_ms": round(load.p50_ms, 1),
        "echo_saturation_p50_ms": round(echo.p50_ms, 1),
        **delay_figures(
            "saturation_receipt", [o.receipt_s for o in load.outcomes if o.receipt_s is not None]
        ),
    }


def _alert_messages(sim: BenchSimulator) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Each alert in the units' groups: its chat, the message and its tracking code.

    An alert is a text, or the caption of its one photo; either carries the unit's buttons,
    which the copies of evidence (captioned with the code too) do not.
    """
    for number in range(1, UNIT_COUNT + 1):
        chat = unit_chat(number)
        for message in sim._bot_messages.get(chat, []):
            if not message.get("buttons"):
                continue
            found = CODE_RE.search(message.get("text") or "")
            if found:
                yield chat, message, found.group(1)


def alerts(sim: BenchSimulator) -> dict[str, int]:
    """How many alerts each tracking code got in the units' groups."""
    seen: dict[str, int] = {}
    for _chat, _message, code in _alert_messages(sim):
        seen[code] = seen.get(code, 0) + 1
    return seen


def alert_delays(sim: BenchSimulator, outcomes: Sequence[Outcome]) -> list[float]:
    """Seconds from each report's Send to its alert's first appearance in its unit's group."""
    sent = {o.code: o.sent_at for o in outcomes if o.code and o.sent_at is not None}
    delays = []
    for chat, message, code in _alert_messages(sim):
        at = sim.first_seen.get((chat, int(message.get("message_id", 0))))
        if at is not None and code in sent:
            delays.append(at - sent.pop(code))
    return delays


def delay_figures(name: str, delays: Sequence[float]) -> JSON:
    """`name`_p50_ms, _p99_ms and _max_ms of some delays (None without any)."""
    if not delays:
        return {f"{name}_p50_ms": None, f"{name}_p99_ms": None, f"{name}_max_ms": None}
    return {
        f"{name}_p50_ms": round(1000 * statistics.median(delays), 1),
        f"{name}_p99_ms": round(1000 * percentile(delays, 0.99), 1),
        f"{name}_max_ms": round(1000 * max(delays), 1),
    }


async def wait_alerts(sim: BenchSimulator, codes: set[str], seconds: float) -> dict[str, int]:
    """Wait until every code was alerted (or time is up); return the alert counts."""
    deadline = time.monotonic() + seconds
    while True:
        seen = alerts(sim)
        if codes <= set(seen) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.5)


def stored_codes(database: Path) -> list[str]:
    """Every tracking code in the database, formatted as citizens see them."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT code FROM reports").fetchall()
    return [f"{code[:4]}-{code[4:]}" for (code,) in rows]


async def memory_phase(sim: BenchSimulator, bot: Process, count: int, database: Path) -> JSON:
    """Leave `count` citizens mid-report; the bot's memory growth per open conversation.

    The first tenth warms the bot up (code paths run once, SQLite's page cache, allocator
    arenas) and is left out of the growth, which is then what each further one costs. Both
    parts open conversations with as many citizens at once: with more at once in the measured
    part, the growth would be the memory of more updates in flight (which the allocator keeps
    for later), not what each conversation holds.
    """
    users = [sim.add_user(OPEN_BASE + i, f"Mở {i}") for i in range(count)]
    start = bot.stats()
    opened = 0

    async def one(index: int) -> bool:
        return await Citizen(sim, users[index], 1, 1.5).open_conversation()

    warm = max(1, count // 10)
    width = min(warm, 200)

    async def open_range(first: int, last: int) -> int:
        queue = iter(range(first, last))
        done = 0

        async def worker() -> None:
            nonlocal done
            for index in queue:
                # Await first: `done += await ...` would read `done` before the wait.
                ok = await one(index)
                done += ok

        await asyncio.gather(*(worker() for _ in range(min(last - first, width))))
        return done

    traces = trace_folder(bot.root)
    opened = await open_range(0, warm)
    await asyncio.sleep(SETTLE_S)
    before = bot.stats()
    # Taken after the RSS is read: the snapshot's own memory is not a conversation's.
    first = await take_snapshot(bot, traces) if traces is not None else None
    measured = await open_range(warm, count)
    opened += measured
    await asyncio.sleep(SETTLE_S)
    after = bot.stats()
    last = await take_snapshot(bot, traces) if traces is not None else None
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        drafts, data_bytes = conn.execute(
            "SELECT count(*), coalesce(avg(length(data)), 0) FROM drafts"
        ).fetchone()
    return {
        "open_conversations": opened,
        "rss_before_mb": round(start.rss_mb, 1),
        "rss_after_mb": round(after.rss_mb, 1),
        # The bot's resident memory with every conversation open, once it is quiet again.
        "steady_rss_mb": round(after.rss_mb, 1),
        "bytes_per_open_conversation": round(
            max(0.0, after.rss_mb - before.rss_mb) * 1024 * 1024 / max(measured, 1)
        ),
        "drafts_in_db": drafts,
        # The row also carries four integers, a float and SQLite's record header (~30 bytes).
        "draft_data_bytes": round(data_bytes),
        # With LIEMCHINH_TRACEMALLOC set: what the bot's Python heap kept per conversation
        # (tracing adds to the RSS above, so that run's bytes per conversation is not the one).
        **(
            {"traced": await asyncio.to_thread(holders, first, last, measured)}
            if first is not None and last is not None
            else {}
        ),
    }


async def backlog_phase(
    sim: BenchSimulator, config: Path, folder: Path, count: int, bot: Process
) -> JSON:
    """Queue `count` first messages while the bot is down; time how it drains them."""
    await bot.stop()
    sim.reset_probe()
    for i in range(count):
        await sim.add_user(BACKLOG_BASE + i, f"Chờ {i}").send("/start")
    fresh = bot_process(config, folder, root=bot.root)
    began = time.monotonic()
    await fresh.start()
    deadline = began + max(120.0, count / 10)
    fetched_s: float | None = None
    while time.monotonic() < deadline:
        if fetched_s is None and not sim.pending_updates:
            fetched_s = time.monotonic() - began
        if len(sim.latencies) >= count:
            break
        await asyncio.sleep(0.1)
    drained = len(sim.latencies)
    end = sim.answered_at[-1] if sim.answered_at else time.monotonic()
    bot.proc, bot.peak_hwm_mb = fresh.proc, max(bot.peak_hwm_mb, fresh.peak_hwm_mb)
    return {
        "backlog": count,
        "backlog_answered": drained,
        "backlog_confirmed_s": round(fetched_s, 2) if fetched_s is not None else None,
        "backlog_drain_s": round(end - began, 2),
        "backlog_p99_ms": round(1000 * percentile(sim.latencies, 0.99)),
    }


async def figures_phase(
    sim: BenchSimulator, config: Path, folder: Path, count: int, bot: Process, database: Path
) -> JSON:
    """Seed `count` reports, then time /stats and /export as an admin sends them, and send
    them again to count the memory they take."""
    await bot.stop()
    began = time.monotonic()
    seed_reports(database, count)
    seeded_s = time.monotonic() - began
    polls = sim.count("getUpdates")
    await bot.start()
    await wait_polling(sim, polls)
    admin = sim.user(ADMIN_ID)
    inbox = sim._bot_messages.setdefault(ADMIN_ID, [])

    async def until(predicate: Callable[[dict[str, Any]], bool], mark: int) -> float:
        event = sim.chat_event(ADMIN_ID)
        deadline = time.monotonic() + 300
        while not any(predicate(m) for m in inbox[mark:]):
            if time.monotonic() > deadline:
                raise RuntimeError("no answer to the admin's command in 300 s")
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 1.0)
        return time.monotonic()

    def xlsx(message: dict[str, Any]) -> bool:
        name = str((message.get("document") or {}).get("file_name", ""))
        return message.get("method") == "sendDocument" and name.endswith(".xlsx")

    async def both(memory: MemorySampler) -> tuple[float, float]:
        """/stats, then /export, sampling the memory meanwhile; how long each took."""
        sampling = asyncio.create_task(memory.run())
        mark = len(inbox)
        sent = time.monotonic()
        await admin.send("/stats 365d")
        stats_s = await until(lambda m: m.get("method") == "sendPhoto", mark) - sent
        await asyncio.sleep(2.0)  # one message a second per chat, as Telegram allows
        mark = len(inbox)
        sent = time.monotonic()
        await admin.send("/export 365d")
        export_s = await until(xlsx, mark) - sent
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        return stats_s, export_s

    # The chart and the export's files are made in child processes of the bot: their memory
    # counts too, sampled with the bot's own while the commands run. Two passes: the first
    # timed, its page frames not read (reading them took CPU from the bot: 0.1 to 0.2 s of
    # /stats, as much or more of /export); the second, untimed, reads them. The second's bot
    # has been through the first, so what it holds errs high, if anything.
    memory = MemorySampler(bot.pid, frames=False)
    stats_s, export_s = await both(memory)
    await asyncio.sleep(2.0)
    frames = MemorySampler(bot.pid)
    await both(frames)
    # The bot was started afresh for this phase: its high-water mark is that of the figures.
    figures_rss = bot.stats().hwm_mb
    return {
        "seeded_reports": count,
        "seed_s": round(seeded_s, 1),
        "stats_s": round(stats_s, 2),
        "export_s": round(export_s, 2),
        "figures_peak_rss_mb": round(figures_rss, 1),
        "figures_children_peak_rss_mb": round(
            max(memory.children_peak_mb, frames.children_peak_mb), 1
        ),
        "figures_peak_total_rss_mb": round(
            max(memory.total_peak_mb, frames.total_peak_mb, figures_rss), 1
        ),
        "figures_peak_total_pss_mb": round(
            max(memory.total_pss_peak_mb, frames.total_pss_peak_mb), 1
        ),
        "figures_peak_total_distinct_mb": None
        if frames.distinct_peak_mb is None
        else round(frames.distinct_peak_mb, 1),
        **await asyncio.to_thread(_figures_breakdown, database),
    }


def _figures_breakdown(database: Path) -> JSON:
    """Time the code paths behind /stats and /export one by one, in this process."""
    from bot.figures.export import export_csv, export_folder, export_xlsx
    from bot.figures.export_process import ExportFiles
    from bot.figures.stats import parse_period, render_chart, stats_of
    from bot.i18n import Translator
    from bot.store.periods import PeriodFigures
    from bot.store.repository import Repository

    now = time.time()
    period, _rest = parse_period(["365d"], now)
    _ = Translator().get("vi")

    async def rows() -> list[dict[str, Any]]:
        async with Repository(database) as repo:
            return await repo.reports.report_rows(period.since, period.until, None)

    async def counted() -> PeriodFigures:
        async with Repository(database) as repo:
            return await repo.reports.period_figures(period.since, period.until, None, now)

    async def streamed() -> int:
        # What /export does: both files from rows read a chunk at a time, written to disk.
        with export_folder(database.parent) as folder:
            files = ExportFiles("vi", full=False, now=now, folder=folder)
            async with Repository(database) as repo:
                rows = repo.reports.iter_report_rows(period.since, period.until, None)
                await files.write(rows)
        return files.count

    timings: JSON = {}
    began = time.perf_counter()
    data = asyncio.run(rows())
    timings["report_rows_s"] = time.perf_counter() - began
    # compute_s: the figures of /stats, counted in SQL (they were computed from the rows).
    began = time.perf_counter()
    figures = stats_of(asyncio.run(counted()), period)
    timings["compute_s"] = time.perf_counter() - began
    began = time.perf_counter()
    render_chart(figures, _, "vi")
    timings["render_chart_s"] = time.perf_counter() - began
    began = time.perf_counter()
    export_csv(data, _, "vi", full=False, now=now)
    timings["export_csv_s"] = time.perf_counter() - began
    began = time.perf_counter()
    export_xlsx(data, _, "vi", full=False, now=now)
    timings["export_xlsx_s"] = time.perf_counter() - began
    del data
    began = time.perf_counter()
    asyncio.run(streamed())
    timings["export_streamed_s"] = time.perf_counter() - began
    return {key: round(value, 2) for key, value in timings.items()}
