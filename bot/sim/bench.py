"""`liemchinh bench`: load, latency, memory, backlog and figures against the simulated Telegram.

The simulated Bot API (bot/simulator.py, flood limits enforced) runs inside this process, which
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
import math
import os
import random
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sim import BotApiSimulator, SimUser

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
ADMIN_ID = 810_000_001
UNIT_COUNT = 40
UNIT_CHAT_BASE = -1_002_000_000_000
ECHO_BASE = 830_000_000
CITIZEN_BASE = 840_000_000
OPEN_BASE = 850_000_000
BACKLOG_BASE = 860_000_000
CHAOS_BASE = 870_000_000
CODE_RE = re.compile(r"\b([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")
PHOTO = b"\xff\xd8\xff\xe0" + b"bench evidence photo" * 40 + b"\xff\xd9"
DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định, hẹn lại nhiều lần."
# The echo bot's citizens send as many texts as a report takes steps, at the same pace.
REPORT_STEPS = 13
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def unit_code(number: int) -> str:
    """Return the code of the bench's unit number `number`."""
    return f"B{number:02d}"


def unit_name(number: int) -> str:
    """Return the name of the bench's unit number `number` (unique under search)."""
    return f"Đơn vị đo tải {number:02d}"


def unit_chat(number: int) -> int:
    """Return the id of the group that receives unit `number`'s alerts."""
    return UNIT_CHAT_BASE - number


# ---------------------------------------------------------------------------------------------
# The simulator, with latency records


class BenchSimulator(BotApiSimulator):
    """The simulated Bot API, timing each update from hand-out to the bot's first answer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handed_at: dict[int, float] = {}
        self.redelivered = 0
        self.latencies: list[float] = []
        self.answered_at: list[float] = []
        self.waiting: dict[int, deque[int]] = {}
        self.update_chat: dict[int, int] = {}
        self.chat_events: dict[int, asyncio.Event] = {}
        self.on_message(self._wake_chat)

    def reset_probe(self) -> None:
        """Start a new measurement: forget the latencies taken so far."""
        self.latencies = []
        self.answered_at = []

    def unanswered(self) -> list[int]:
        """Update ids handed out whose chat has not had an answer since."""
        return [u for queue in self.waiting.values() for u in queue]

    def chat_event(self, chat_id: int) -> asyncio.Event:
        """The event set whenever the bot posts or edits in a chat."""
        return self.chat_events.setdefault(chat_id, asyncio.Event())

    def _wake_chat(self, chat_id: int, message: dict[str, Any], kind: str) -> None:
        event = self.chat_events.get(chat_id)
        if event is not None:
            event.set()

    async def _get_updates(self, p: Any) -> list[dict[str, Any]]:
        batch = await super()._get_updates(p)
        now = time.monotonic()
        for update in batch:
            update_id = int(update["update_id"])
            if update_id in self.handed_at:
                # Not confirmed before: the bot restarted, or its poll was cut.
                self.redelivered += 1
                continue
            self.handed_at[update_id] = now
            chat_id = _chat_of(update)
            if chat_id is not None:
                self.update_chat[update_id] = chat_id
                self.waiting.setdefault(chat_id, deque()).append(update_id)
        return batch

    def _check_flood(self, method: str, params: Any) -> None:
        super()._check_flood(method, params)  # raises the 429 of a refused message
        try:
            chat_id = params.integer("chat_id")
        except Exception:  # a malformed id is the bot's error to get, not the probe's
            return
        queue = self.waiting.get(chat_id) if chat_id is not None else None
        if not queue:
            return
        now = time.monotonic()
        while queue:
            self.latencies.append(now - self.handed_at[queue.popleft()])
            self.answered_at.append(now)


def _chat_of(update: dict[str, Any]) -> int | None:
    """The chat an update comes from."""
    for key in ("message", "edited_message", "channel_post"):
        if key in update:
            return int(update[key]["chat"]["id"])
    if "callback_query" in update:
        message = update["callback_query"].get("message")
        return int(message["chat"]["id"]) if message else None
    return None


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class ProcStats:
    """What /proc says about a process."""

    rss_mb: float
    hwm_mb: float
    cpu_s: float


def proc_stats(pid: int) -> ProcStats:
    """Read a process's resident memory, its peak and its CPU time from /proc."""
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name may hold spaces: the fields to count start after its ")".
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return ProcStats(rss, hwm, cpu)


class Process:
    """A bot (or the echo bot) in a subprocess, logging to a file."""

    def __init__(self, argv: Sequence[str], log: Path) -> None:
        self.argv = list(argv)
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_hwm_mb = 0.0

    async def start(self) -> None:
        """Start the process."""
        env = {k: v for k, v in os.environ.items() if k != "LIEMCHINH_TOKEN"}
        env["PYTHONPATH"] = str(ROOT)
        # The output goes to a file: an unread pipe would block a chatty bot.
        with open(self.log, "ab") as out:  # noqa: ASYNC230 - a moment, once per start
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
            )

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def stats(self) -> ProcStats:
        """Memory and CPU of the running process."""
        stats = proc_stats(self.pid)
        self.peak_hwm_mb = max(self.peak_hwm_mb, stats.hwm_mb)
        return stats

    async def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        """Stop the process as an operator would (SIGTERM), killing it if it hangs."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.stats()
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            await self.kill()


def write_config(sim: BotApiSimulator, folder: Path) -> Path:
    """Write the bench's configuration: 40 units with a group each, one admin."""
    lines = [
        "[telegram]",
        f'token = "{sim.token}"',
        f'base_url = "{sim.base_url}"',
        f'base_file_url = "{sim.base_file_url}"',
        "[storage]",
        'database = "bench.db"',
        "[bot]",
        f"admins = [{ADMIN_ID}]",
        'default_locale = "vi"',
        "reports_per_day = 100",
        "[[units]]",
        'code = "BENCH"',
        'name = "Tỉnh đo tải"',
    ]
    for number in range(1, UNIT_COUNT + 1):
        lines += [
            "[[units]]",
            f'code = "{unit_code(number)}"',
            f'name = "{unit_name(number)}"',
            'parent = "BENCH"',
            f"chat_id = {unit_chat(number)}",
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_world(sim: BotApiSimulator) -> None:
    """Create the units' groups and the admin on the simulated Telegram."""
    for number in range(1, UNIT_COUNT + 1):
        sim.add_chat(unit_chat(number), unit_name(number), type="supergroup")
    sim.add_user(ADMIN_ID, "Quản trị", language_code="vi")


def bot_process(config: Path, folder: Path) -> Process:
    """The real application, as an operator runs it."""
    log = folder / "bot.log"
    return Process(["-m", "bot", "run", "--config", str(config), "--log-file", str(log)], log)


async def wait_polling(sim: BenchSimulator, since: int, seconds: float = 60.0) -> None:
    """Wait until a freshly started bot polls getUpdates."""
    deadline = time.monotonic() + seconds
    while sim.count("getUpdates") <= since:
        if time.monotonic() > deadline:
            raise RuntimeError("the bot did not start polling; see its log")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Citizens


@dataclass
class Outcome:
    """What one citizen got out of one report."""

    code: str | None = None
    updates: int = 0
    nudges: int = 0
    stuck: bool = False


class Citizen:
    """A person who answers whatever the bot's newest question is, one report to its code."""

    def __init__(self, sim: BenchSimulator, user: SimUser, unit: int, think: float) -> None:
        self.sim = sim
        self.user = user
        self.unit = unit
        self.think = think
        self.mark = 0
        self.acted: set[tuple[int, str]] = set()
        self.event = sim.chat_event(user.id)
        self.outcome = Outcome()

    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages in this citizen's chat (the live list)."""
        return self.sim._bot_messages.get(self.user.id, [])

    async def pause(self) -> None:
        """Read and type like a person: Telegram allows about one message a second per chat."""
        await asyncio.sleep(self.think * random.uniform(0.85, 1.15))

    async def report(self, *, patience: float = 30.0, give_up: float = 120.0) -> Outcome:
        """Walk one report with a photo to its tracking code; nudge with /report when ignored."""
        await self._send("/start")
        started = last_progress = time.monotonic()
        while self.outcome.code is None:
            action = self._next_action()
            if action is not None:
                await self.pause()
                await action()
                last_progress = time.monotonic()
                continue
            now = time.monotonic()
            if now - started > give_up:
                self.outcome.stuck = True
                break
            if now - last_progress > patience:
                # A person who hears nothing asks again: /report resumes the step in progress,
                # or starts the report if the step that created it never got through.
                self.outcome.nudges += 1
                last_progress = now
                await self._send("/report")
                continue
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), 1.0)
        return self.outcome

    async def open_conversation(self, *, seconds: float = 120.0) -> bool:
        """Consent and stop at the first question: a report left open mid-way."""
        await self._send("/start")
        deadline = time.monotonic() + seconds
        pressed = False
        while time.monotonic() < deadline:
            for message in reversed(self.messages()[self.mark :]):
                data = _buttons(message)
                if not pressed and "consent:yes" in data:
                    await self.pause()
                    await self._press(message, "consent:yes")
                    pressed = True
                    break
                if pressed and any(d.startswith("cat:") for d in data):
                    return True
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), 1.0)
        return False

    def _next_action(self) -> Callable[[], Any] | None:
        """The answer to the newest recognisable bot message since the last action."""
        for message in reversed(self.messages()[self.mark :]):
            text = message.get("text") or ""
            found = CODE_RE.search(text)
            if found and "/status" in text:
                self.outcome.code = found.group(1)
                return None
            data = _buttons(message)
            key = (int(message["message_id"]), ",".join(data))
            if key in self.acted:
                continue
            action = self._answer(message, text, data)
            if action is not None:
                self.acted.add(key)
                return action
        return None

    def _answer(
        self, message: dict[str, Any], text: str, data: list[str]
    ) -> Callable[[], Any] | None:
        target = f"unit:{unit_code(self.unit)}"
        for wanted in ("confirm", "id:anon", "when:today", "skip", "consent:yes", target):
            if wanted in data:
                return lambda: self._press(message, wanted)
        if "cat:conduct" in data:
            return lambda: self._press(message, "cat:conduct")
        if "ev:clear" in data:
            return lambda: self._press(message, "ev:done")
        if "ev:done" in data:
            return self._photo
        if any(d.startswith(("ub:", "unit:")) for d in data):
            return lambda: self._send(unit_name(self.unit).lower())
        if not data and "Mô tả sự việc" in text:
            return lambda: self._send(f"{DESCRIPTION} (#{self.user.id})")
        return None

    async def _send(self, text: str) -> None:
        self.mark = len(self.messages())
        self.outcome.updates += 1
        await self.user.send(text)

    async def _photo(self) -> None:
        self.mark = len(self.messages())
        self.outcome.updates += 1
        await self.user.send_photo(content=PHOTO)

    async def _press(self, message: dict[str, Any], data: str) -> None:
        self.mark = len(self.messages())
        self.outcome.updates += 1
        current = self.sim._stored(message)
        await self.user.press(current, data, check_button=False)


def _buttons(message: dict[str, Any]) -> list[str]:
    return [data for _label, data in message.get("buttons") or [] if data]


async def echo_citizen(sim: BenchSimulator, user: SimUser, think: float, steps: int) -> int:
    """Send `steps` texts, each after the echo of the previous one; return the echoes."""
    event = sim.chat_event(user.id)
    echoed = 0
    for step in range(steps):
        await asyncio.sleep(think * random.uniform(0.85, 1.15))
        text = f"tin nhắn {step} của {user.id}"
        await user.send(text)
        deadline = time.monotonic() + 60
        while not any(m.get("text") == text for m in sim._bot_messages.get(user.id, [])[-3:]):
            if time.monotonic() > deadline:
                return echoed
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 1.0)
        echoed += 1
    return echoed


# ---------------------------------------------------------------------------------------------
# Measurements


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


async def _load(
    sim: BenchSimulator,
    proc: Process,
    citizens: int,
    total: int,
    run_one: Callable[[int], Any],
) -> tuple[LoadResult, list[Any]]:
    """Run `total` citizen sessions, `citizens` at a time; time them in the simulator."""
    sim.reset_probe()
    before = proc.stats()
    began = time.monotonic()
    queue = iter(range(total))
    results: list[Any] = []

    async def worker() -> None:
        for index in queue:
            results.append(await run_one(index))

    await asyncio.gather(*(worker() for _ in range(citizens)))
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
        ),
        results,
    )


async def echo_phase(
    sim: BenchSimulator, folder: Path, citizens: int, total: int, think: float
) -> LoadResult:
    """The framework's floor: the echo bot under the same citizens and pace."""
    echo = Process(["-m", "bot.sim.bench", "echo", sim.base_url, sim.token], folder / "echo.log")
    polls = sim.count("getUpdates")
    await echo.start()
    try:
        await wait_polling(sim, polls)
        users = [sim.add_user(ECHO_BASE + i, f"Echo {i}") for i in range(total)]

        async def one(index: int) -> int:
            return await echo_citizen(sim, users[index], think, REPORT_STEPS)

        result, _echoed = await _load(sim, echo, citizens, total, one)
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

    result, outcomes = await _load(sim, bot, citizens, total, one)
    result.outcomes = outcomes
    return result


def alerts(sim: BenchSimulator) -> dict[str, int]:
    """How many alert texts each tracking code got in the units' groups."""
    seen: dict[str, int] = {}
    for number in range(1, UNIT_COUNT + 1):
        for message in sim._bot_messages.get(unit_chat(number), []):
            if message.get("method") != "sendMessage":
                continue
            found = CODE_RE.search(message.get("text") or "")
            if found:
                seen[found.group(1)] = seen.get(found.group(1), 0) + 1
    return seen


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
    """Leave `count` citizens mid-report; the bot's memory growth per open conversation."""
    users = [sim.add_user(OPEN_BASE + i, f"Mở {i}") for i in range(count)]
    before = bot.stats()
    opened = 0

    async def one(index: int) -> bool:
        return await Citizen(sim, users[index], 1, 1.5).open_conversation()

    queue = iter(range(count))

    async def worker() -> None:
        nonlocal opened
        for index in queue:
            # Await first: `opened += await ...` would read `opened` before the wait.
            done = await one(index)
            opened += done

    await asyncio.gather(*(worker() for _ in range(min(count, 200))))
    await asyncio.sleep(1.0)
    after = bot.stats()
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        drafts, data_bytes = conn.execute(
            "SELECT count(*), coalesce(avg(length(data)), 0) FROM drafts"
        ).fetchone()
    return {
        "open_conversations": opened,
        "rss_before_mb": round(before.rss_mb, 1),
        "rss_after_mb": round(after.rss_mb, 1),
        "bytes_per_open_conversation": round(
            max(0.0, after.rss_mb - before.rss_mb) * 1024 * 1024 / max(opened, 1)
        ),
        "drafts_in_db": drafts,
        # The row also carries four integers, a float and SQLite's record header (~30 bytes).
        "draft_data_bytes": round(data_bytes),
    }


async def backlog_phase(
    sim: BenchSimulator, config: Path, folder: Path, count: int, bot: Process
) -> JSON:
    """Queue `count` first messages while the bot is down; time how it drains them."""
    await bot.stop()
    sim.reset_probe()
    for i in range(count):
        await sim.add_user(BACKLOG_BASE + i, f"Chờ {i}").send("/start")
    fresh = bot_process(config, folder)
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
    """Seed `count` reports, then time /stats and /export as an admin sends them."""
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

    mark = len(inbox)
    sent = time.monotonic()
    await admin.send("/stats 365d")
    stats_s = await until(lambda m: m.get("method") == "sendPhoto", mark) - sent
    await asyncio.sleep(2.0)  # one message a second per chat, as Telegram allows
    mark = len(inbox)
    sent = time.monotonic()
    await admin.send("/export 365d")

    def xlsx(message: dict[str, Any]) -> bool:
        name = str((message.get("document") or {}).get("file_name", ""))
        return message.get("method") == "sendDocument" and name.endswith(".xlsx")

    export_s = await until(xlsx, mark) - sent
    return {
        "seeded_reports": count,
        "seed_s": round(seeded_s, 1),
        "stats_s": round(stats_s, 2),
        "export_s": round(export_s, 2),
        **await asyncio.to_thread(_figures_breakdown, database),
    }


def _figures_breakdown(database: Path) -> JSON:
    """Time the code paths behind /stats and /export one by one, in this process."""
    from bot.figures.export import export_csv, export_xlsx
    from bot.figures.stats import compute, parse_period, render_chart
    from bot.i18n import Translator
    from bot.store.repository import Repository

    now = time.time()
    period, _rest = parse_period(["365d"], now)
    _ = Translator().get("vi")

    async def rows() -> list[dict[str, Any]]:
        repo = Repository(database)
        await repo.open()
        try:
            return await repo.reports.report_rows(period.since, period.until, None)
        finally:
            await repo.close()

    timings: JSON = {}
    began = time.perf_counter()
    data = asyncio.run(rows())
    timings["report_rows_s"] = time.perf_counter() - began
    began = time.perf_counter()
    figures = compute(data, period, now)
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
    return {key: round(value, 2) for key, value in timings.items()}


# ---------------------------------------------------------------------------------------------
# Seeding


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


# ---------------------------------------------------------------------------------------------
# The whole run


@dataclass
class BenchOptions:
    """What `liemchinh bench` was asked to do."""

    citizens: int = 40
    reports: int = 200
    think: float = 3.0
    open_conversations: int = 1000
    backlog: int = 10_000
    seed: int = 100_000
    chaos: int = 0
    workdir: Path | None = None
    enforce_limits: bool = True


async def run_bench(options: BenchOptions) -> JSON:
    """Run every measurement the options ask for; return the results as one object."""
    with contextlib.ExitStack() as stack:
        folder = options.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="liemchinh-bench-"))
        )
        folder.mkdir(parents=True, exist_ok=True)
        async with BenchSimulator(enforce_limits=options.enforce_limits) as sim:
            add_world(sim)
            config = write_config(sim, folder)
            if options.chaos:
                from bot.sim.chaos import run_chaos

                return await run_chaos(sim, config, folder, options)
            return await _measure(sim, config, folder, options)
    raise AssertionError("unreachable")  # pragma: no cover - mypy cannot see the with's return


async def _measure(sim: BenchSimulator, config: Path, folder: Path, options: BenchOptions) -> JSON:
    database = folder / "bench.db"
    result: JSON = {"simulator": "in the bench process", "bot": "python -m bot run (subprocess)"}
    echo = await echo_phase(sim, folder, options.citizens, options.reports, options.think)
    bot = bot_process(config, folder)
    polls = sim.count("getUpdates")
    await bot.start()
    try:
        await wait_polling(sim, polls)
        load = await report_phase(
            sim, bot, options.citizens, options.reports, options.think, CITIZEN_BASE
        )
        codes = {o.code for o in load.outcomes if o.code}
        seen = await wait_alerts(sim, codes, seconds=120)
        stored = stored_codes(database)
        result.update(
            updates=load.updates,
            updates_per_s=round(load.updates_per_s, 2),
            echo_updates_per_s=round(echo.updates_per_s, 2),
            ratio_to_echo=round(load.updates_per_s / echo.updates_per_s, 3)
            if echo.updates_per_s
            else None,
            p50_ms=round(load.p50_ms, 1),
            p99_ms=round(load.p99_ms, 1),
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
            updates_lost=len(sim.unanswered()),
            flood_violations=sim.flood_violations,
        )
        if options.open_conversations:
            result.update(await memory_phase(sim, bot, options.open_conversations, database))
        if options.backlog:
            result.update(await backlog_phase(sim, config, folder, options.backlog, bot))
        if options.seed:
            result.update(await figures_phase(sim, config, folder, options.seed, bot, database))
        result["flood_violations"] = sim.flood_violations
        result["flood_by_limit"] = _flood_by_limit(sim)
        with contextlib.suppress(ProcessLookupError):
            bot.stats()
        result["peak_rss_mb"] = round(bot.peak_hwm_mb, 1)
        result.setdefault("bytes_per_open_conversation", None)
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
    options = BenchOptions(
        citizens=args.citizens,
        reports=args.reports,
        think=args.think,
        open_conversations=args.open,
        backlog=args.backlog,
        seed=args.seed,
        chaos=args.chaos,
        workdir=args.workdir,
        enforce_limits=not args.lenient,
    )
    return run(options, as_json=args.json)


def run(options: BenchOptions, *, as_json: bool) -> int:
    """Run the bench; print JSON or a table; return the exit code."""
    result = asyncio.run(run_bench(options))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        width = max(len(key) for key in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


# ---------------------------------------------------------------------------------------------
# The echo bot


def echo_main(base_url: str, token: str) -> None:
    """Run the minimal echo bot: one MessageHandler that replies the text."""
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler
    from telegram.ext import filters as f

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        await update.effective_message.reply_text(update.effective_message.text)

    base_file_url = base_url.replace("/bot", "/file/bot")
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        # The same limiter as the bot's: without it the echo bot's replies past 30/s get 429.
        .rate_limiter(AIORateLimiter(max_retries=0))
        .build()
    )
    app.add_handler(MessageHandler(f.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "echo":
        echo_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: python -m bot.sim.bench echo BASE_URL TOKEN")
