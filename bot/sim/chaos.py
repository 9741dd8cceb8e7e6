"""`liemchinh bench --chaos N`: reports under SIGKILLs of the bot and Telegram's failures.

Citizens keep walking reports while the bot is killed with SIGKILL at N random moments and
restarted each time, and the simulated Telegram answers some calls with 429 (retry_after),
5xx, a timeout (the call succeeds but its answer comes too late) or a lost answer, and goes
down for a few seconds now and then. Afterwards every confirmed report must be stored and
alerted, and every update the simulator handed out must have been answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

from bot.sim.bench_citizens import Citizen, Outcome
from bot.sim.bench_phases import stored_codes, wait_alerts
from bot.sim.bench_world import (
    CHAOS_BASE,
    CODE_RE,
    JSON,
    UNIT_COUNT,
    BenchOptions,
    BenchSimulator,
    bot_process,
    wait_polling,
)

# Methods the bot uses to answer citizens and to alert units.
FAULTY_METHODS = ("sendMessage", "editMessageReplyMarkup", "editMessageText", "copyMessage")
# python-telegram-bot gives up reading an answer after 5 s by default.
LATE_ANSWER_S = 6.0


async def run_chaos(
    sim: BenchSimulator, config: Path, folder: Path, options: BenchOptions
) -> JSON:
    """Drive reports while killing the bot `options.chaos` times; return what survived."""
    database = folder / "bench.db"
    rng = random.Random(7)
    bot = bot_process(config, folder)
    await bot.start()
    await wait_polling(sim, 0)
    stop_new = asyncio.Event()
    outcomes: list[Outcome] = []
    started: list[Citizen] = []
    faults: dict[str, int] = {}
    next_id = iter(range(CHAOS_BASE, CHAOS_BASE + 1_000_000))

    async def citizen() -> None:
        while not stop_new.is_set():
            user_id = next(next_id)
            user = sim.add_user(user_id, f"Hỗn loạn {user_id % 10000}")
            unit = 1 + user_id % UNIT_COUNT
            person = Citizen(sim, user, unit, options.think)
            started.append(person)
            outcomes.append(await person.report(patience=12.0, give_up=900.0))

    async def troublemaker() -> None:
        while not stop_new.is_set():
            await asyncio.sleep(rng.uniform(1.5, 4.0))
            kind = rng.choice(("429", "5xx", "timeout", "lost_answer", "outage"))
            faults[kind] = faults.get(kind, 0) + 1
            method = rng.choice(FAULTY_METHODS)
            if kind == "429":
                sim.inject(method, status=429, retry_after=rng.randint(1, 3))
            elif kind == "5xx":
                sim.inject(method, status=rng.choice((500, 502, 503)))
            elif kind == "timeout":
                sim.inject(method, status=200, delay=LATE_ANSWER_S)
            elif kind == "lost_answer":
                sim.inject(method, status=200, lose_answer=True)
            else:
                sim.outage(rng.uniform(1.0, 4.0))

    crashes = 0

    async def supervisor() -> None:
        # What systemd's Restart=always does: the bot exits when Telegram is down at start-up.
        nonlocal crashes
        while True:
            await asyncio.sleep(0.5)
            if bot.proc is not None and bot.proc.returncode is not None:
                crashes += 1
                await bot.start()

    began = time.monotonic()
    workers = [asyncio.create_task(citizen()) for _ in range(options.citizens)]
    trouble = asyncio.create_task(troublemaker())
    keeper = asyncio.create_task(supervisor())
    kills = 0
    try:
        for _ in range(options.chaos):
            polls = sim.count("getUpdates")
            with contextlib.suppress(RuntimeError):
                await wait_polling(sim, polls, seconds=30)
            await asyncio.sleep(rng.uniform(1.0, 8.0))
            keeper.cancel()
            await bot.kill()
            kills += 1
            await bot.start()
            keeper = asyncio.create_task(supervisor())
        stop_new.set()
        await trouble
        sim.set_down(False)
        sim._injections.clear()
        # Citizens already in a report finish it against a bot that is no longer harassed.
        await asyncio.wait(workers, timeout=600)
        chaos_s = time.monotonic() - began
        confirmed = {o.code for o in outcomes if o.code}
        stored = stored_codes(database)
        seen = await wait_alerts(sim, set(stored), seconds=300)
        confirmations = _confirmations(sim)
    finally:
        stop_new.set()
        keeper.cancel()
        for task in workers:
            task.cancel()
        await bot.stop()
    return {
        "chaos_kills": kills,
        "start_up_crashes": crashes,
        "chaos_s": round(chaos_s, 1),
        "faults_injected": faults,
        "citizens": len(started),
        "citizens_unfinished": len(started) - len(outcomes),
        "reports_confirmed": len(confirmed),
        "reports_stored": len(stored),
        "alerts_delivered": len(set(seen) & set(stored)),
        "lost": len(confirmed - set(stored)) + len(set(stored) - set(seen)),
        "duplicated": sum(n - 1 for n in seen.values())
        + sum(n - 1 for n in confirmations.values()),
        "duplicated_alerts": sum(n - 1 for n in seen.values()),
        "duplicated_confirmations": sum(n - 1 for n in confirmations.values()),
        "stored_not_confirmed": len(set(stored) - confirmed),
        "stuck_citizens": sum(1 for o in outcomes if o.stuck),
        "nudges": sum(o.nudges for o in outcomes),
        "updates_handed_out": len(sim.handed_at),
        "updates_redelivered": sim.redelivered,
        "updates_lost": len(sim.unanswered()),
        "flood_violations": sim.flood_violations,
    }


def _confirmations(sim: BenchSimulator) -> dict[str, int]:
    """How many times each code was confirmed to a citizen."""
    counts: dict[str, int] = {}
    for chat_id, messages in sim._bot_messages.items():
        if chat_id < CHAOS_BASE:
            continue
        for message in messages:
            text: Any = message.get("text") or ""
            found = CODE_RE.search(text)
            if found and "/status" in text:
                counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    return counts
