"""`liemchinh bench`: load, latency, memory, backlog and figures against the simulated Telegram.

The simulated Bot API (bot/sim/server.py, flood limits enforced) runs inside this process, which
also plays the citizens; the bot is the real application in its own process
(`python -m bot run --config FILE`), and the framework's floor is a minimal python-telegram-bot
echo bot, also in its own process (`python -m bot.sim.bench echo URL TOKEN`). Latency is taken in
the simulator: from the moment getUpdates hands an update out to the first message the bot
sends or edits in that update's chat, so the driver's own pace does not skew it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bot.sim import BotApiSimulator
from bot.sim.bench_echo import echo_main
from bot.sim.bench_phases import (
    alert_delays,
    backlog_phase,
    delay_figures,
    echo_phase,
    figures_phase,
    lost_in,
    memory_phase,
    messages_to,
    report_phase,
    saturation_phase,
    stored_codes,
    wait_alerts,
)
from bot.sim.bench_seed import seed_reports
from bot.sim.bench_workers import print_table, run_workers
from bot.sim.bench_world import (
    CITIZEN_BASE,
    ECHO_BASE,
    JSON,
    QUICK,
    BenchOptions,
    BenchSimulator,
    add_world,
    bot_process,
    wait_polling,
    write_config,
)
from bot.sim.chaos import run_chaos


async def run_bench(options: BenchOptions) -> JSON:
    """Run every measurement the options ask for; return the results as one object."""
    if options.workers:
        return await run_workers(options)
    with contextlib.ExitStack() as stack:
        folder = options.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="liemchinh-bench-"))
        )
        folder.mkdir(parents=True, exist_ok=True)
        async with BenchSimulator(enforce_limits=options.enforce_limits) as sim:
            add_world(sim)
            config = write_config(sim, folder)
            if options.chaos:
                return await run_chaos(sim, config, folder, options)
            return await _measure(sim, config, folder, options)
    raise AssertionError("unreachable")  # pragma: no cover - mypy cannot see the with's return


async def _measure(sim: BenchSimulator, config: Path, folder: Path, options: BenchOptions) -> JSON:
    database = folder / "bench.db"
    result: JSON = {
        "simulator": "in the bench process",
        "bot": "python -m bot run (subprocess)",
        "echo_transport": options.echo_transport,
    }
    echo = await echo_phase(
        sim,
        folder,
        options.citizens,
        options.reports,
        options.think,
        transport=options.echo_transport,
    )
    echo_lost = lost_in(sim, ECHO_BASE, options.reports)
    echo_flood = sim.flood_violations
    bot = bot_process(config, folder, options.profile, options.bot_root)
    polls = sim.count("getUpdates")
    await bot.start()
    try:
        await wait_polling(sim, polls)
        mark = len(sim.calls)
        load = await report_phase(
            sim, bot, options.citizens, options.reports, options.think, CITIZEN_BASE
        )
        sent = messages_to(sim, CITIZEN_BASE, options.reports, mark)
        codes = {o.code for o in load.outcomes if o.code}
        seen = await wait_alerts(sim, codes, seconds=120)
        stored = stored_codes(database)
        citizen_updates = sum(o.updates for o in load.outcomes)
        result.update(
            updates=load.updates,
            updates_per_s=round(load.updates_per_s, 2),
            echo_updates_per_s=round(echo.updates_per_s, 2),
            ratio_to_echo=round(load.updates_per_s / echo.updates_per_s, 3)
            if echo.updates_per_s
            else None,
            # Messages sent or edited in the citizens' chats (answering a press is not one),
            # the receipts with their codes included, per update the citizens sent.
            calls_per_update=round(sent / citizen_updates, 3) if citizen_updates else None,
            p50_ms=round(load.p50_ms, 1),
            p99_ms=round(load.p99_ms, 1),
            slowest_updates=load.slowest_kinds,
            p99_ms_by_kind=load.p99_ms_by_kind,
            echo_p50_ms=round(echo.p50_ms, 1),
            echo_p99_ms=round(echo.p99_ms, 1),
            cpu_ms_per_update=round(load.cpu_ms_per_update, 2),
            echo_cpu_ms_per_update=round(echo.cpu_ms_per_update, 2),
            cpu_ratio_to_echo=round(echo.cpu_ms_per_update / load.cpu_ms_per_update, 3)
            if load.cpu_ms_per_update
            else None,
            reports=len(codes),
            reports_stored=len(stored),
            alerts_delivered=len(set(seen) & codes),
            lost=len(codes - set(stored)) + len(codes - set(seen)),
            duplicates=sum(n - 1 for n in seen.values()) + (len(stored) - len(set(stored))),
            stuck_citizens=sum(1 for o in load.outcomes if o.stuck),
            nudges=sum(o.nudges for o in load.outcomes),
            updates_lost=lost_in(sim, CITIZEN_BASE, options.reports),
            echo_updates_lost=echo_lost,
            flood_violations=sim.flood_violations - echo_flood,
            echo_flood_violations=echo_flood,
        )
        # What the outbox's share of the budget costs: from Send to the citizen's code, and
        # to the alert in the unit's group.
        receipts = [o.receipt_s for o in load.outcomes if o.receipt_s is not None]
        result.update(delay_figures("receipt", receipts))
        result.update(delay_figures("alert", alert_delays(sim, load.outcomes)))
        flood = sim.flood_violations
        if options.open_conversations:
            result.update(await memory_phase(sim, bot, options.open_conversations, database))
            # The conversations opened at once are answered under the limits too.
            result["flood_violations"] += sim.flood_violations - flood
        flood = sim.flood_violations
        if options.saturate:
            await bot.stop()
            lifted = write_config(sim, folder, lifted=True)
            result.update(
                await saturation_phase(
                    sim,
                    lifted,
                    folder,
                    options.citizens,
                    options.saturate,
                    bot.root,
                    echo_transport=options.echo_transport,
                )
            )
            # Counted, not enforced, while the limits were lifted: not the bot's violations.
            result["saturation_flood_counted"] = sim.flood_violations - flood
            flood = sim.flood_violations
            polls = sim.count("getUpdates")
            await bot.start()
            await wait_polling(sim, polls)
        if options.backlog:
            result.update(await backlog_phase(sim, config, folder, options.backlog, bot))
        if options.seed:
            result.update(await figures_phase(sim, config, folder, options.seed, bot, database))
        result["flood_violations"] += sim.flood_violations - flood
        result["flood_by_limit"] = _flood_by_limit(sim)
        with contextlib.suppress(ProcessLookupError):
            bot.stats()
        result["peak_rss_mb"] = round(bot.peak_hwm_mb, 1)
        result.setdefault("bytes_per_open_conversation", None)
        for key in ("saturation_updates_per_s", "echo_saturation_updates_per_s", "stats_s"):
            result.setdefault(key, None)
        result.setdefault("export_s", None)
    finally:
        await bot.stop()
    return result


def _flood_by_limit(sim: BotApiSimulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for violation in sim.flood_log:
        counts[violation.limit] = counts.get(violation.limit, 0) + 1
    return counts


def run_from_args(args: argparse.Namespace) -> int:
    """Run `liemchinh bench` as parsed by bot.cli; print JSON or a table; return 0."""
    if args.seed_into is not None:
        began = time.monotonic()
        count = seed_reports(args.seed_into, args.seed)
        print(f"seeded {count} reports into {args.seed_into} in {time.monotonic() - began:.1f} s")
        return 0
    if args.quick:
        options = replace(
            QUICK,
            workdir=args.workdir,
            enforce_limits=not args.lenient,
            chaos=args.chaos,
            profile=args.profile,
            bot_root=args.bot_root,
            echo_transport=args.echo_transport,
        )
        return run(options, as_json=args.json)
    options = BenchOptions(
        profile=args.profile,
        bot_root=args.bot_root,
        citizens=args.citizens,
        reports=args.reports,
        think=args.think,
        open_conversations=args.open,
        backlog=args.backlog,
        seed=args.seed,
        chaos=args.chaos,
        workdir=args.workdir,
        enforce_limits=not args.lenient,
        saturate=args.saturate,
        workers=args.workers or (),
        echo_transport=args.echo_transport,
    )
    return run(options, as_json=args.json)


def run(options: BenchOptions, *, as_json: bool) -> int:
    """Run the bench; print JSON or a table; return the exit code."""
    result = asyncio.run(run_bench(options))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    elif "workers" in result:
        print_table(result)
    else:
        width = max(len(key) for key in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    words = set(sys.argv[4:])
    if len(sys.argv) >= 4 and sys.argv[1] == "echo" and words <= {"lifted", "aiohttp"}:
        transport = "aiohttp" if "aiohttp" in words else "httpx"
        echo_main(sys.argv[2], sys.argv[3], lifted="lifted" in words, transport=transport)
    else:
        sys.exit("usage: python -m bot.sim.bench echo BASE_URL TOKEN [lifted] [aiohttp]")
