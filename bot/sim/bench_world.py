"""The world `liemchinh bench` and `liemchinh bench --chaos N` run in: their ids and
constants, the options they were given, the simulated Telegram that times each update from
hand-out to the bot's first answer, the 40 units with their groups and the configuration
pointing the bot at them, and the bot and echo bot as subprocesses whose memory and CPU are read
from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.sim import BotApiSimulator

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
ADMIN_ID = 810_000_001
OFFICER_BASE = 820_000_000
UNIT_COUNT = 40
UNIT_CHAT_BASE = -1_002_000_000_000
ECHO_BASE = 830_000_000
CITIZEN_BASE = 840_000_000
OPEN_BASE = 850_000_000
BACKLOG_BASE = 860_000_000
CHAOS_BASE = 870_000_000
SATURATE_BASE = 880_000_000
SATURATE_ECHO_BASE = 890_000_000
CODE_RE = re.compile(r"\b([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")
PHOTO = b"\xff\xd8\xff\xe0" + b"bench evidence photo" * 40 + b"\xff\xd9"
DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định, hẹn lại nhiều lần."
# The echo bot's citizens send as many texts as a report takes steps, at the same pace.
REPORT_STEPS = 13
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# Options live here, not in bench.py, because the chaos run reads them too.
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
    # Reports sent with no think time and the limits lifted (0: no saturation phase).
    saturate: int = 0
    # Where to write a cProfile of the bot's load phase (None: not profiled).
    profile: Path | None = None
    # The source tree whose bot is measured (None: this one), e.g. an earlier commit's.
    bot_root: Path | None = None
    # Counts of webhook workers on PostgreSQL to compare with one process on SQLite (empty:
    # the usual phases run instead).
    workers: tuple[int, ...] = ()
    # The echo bot's HTTP client: "httpx", python-telegram-bot's default (the framework's
    # floor), or "aiohttp", the bot's own.
    echo_transport: str = "httpx"


# `--quick`: every figure of the full run at smaller sizes, in under 3 minutes on 2 cores.
QUICK = BenchOptions(
    citizens=30, reports=30, think=2.5, open_conversations=300, backlog=0, seed=20_000, saturate=30
)


def unit_code(number: int) -> str:
    """Return the code of the bench's unit number `number`."""
    return f"B{number:02d}"


def unit_name(number: int) -> str:
    """Return the name of the bench's unit number `number` (unique under search)."""
    return f"Đơn vị đo tải {number:02d}"


def unit_chat(number: int) -> int:
    """Return the id of the group that receives unit `number`'s alerts."""
    return UNIT_CHAT_BASE - number


def officer_of(number: int) -> int:
    """Return the id of unit `number`'s officer (named in the configuration on request)."""
    return OFFICER_BASE + number


# ---------------------------------------------------------------------------------------------
# The simulator, with latency records


class BenchSimulator(BotApiSimulator):
    """The simulated Bot API, timing each update from hand-out to the bot's first answer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handed_at: dict[int, float] = {}
        self.redelivered = 0
        self.latencies: list[float] = []
        # What each latency's update was (`kind_of`), in the same order: the tail by step.
        self.latency_kinds: list[str] = []
        self.update_kind: dict[int, str] = {}
        self.answered_at: list[float] = []
        self.waiting: dict[int, deque[int]] = {}
        self.update_chat: dict[int, int] = {}
        self.chat_events: dict[int, asyncio.Event] = {}
        # When each message (chat, message id) first appeared: the receipts' and alerts' delay.
        self.first_seen: dict[tuple[int, int], float] = {}
        self.on_message(self._wake_chat)

    def reset_probe(self) -> None:
        """Start a new measurement: forget the latencies taken so far."""
        self.latencies = []
        self.latency_kinds = []
        self.answered_at = []

    def unanswered(self) -> list[int]:
        """Update ids handed out whose chat has not had an answer since."""
        return [u for queue in self.waiting.values() for u in queue]

    def chat_event(self, chat_id: int) -> asyncio.Event:
        """The event set whenever the bot posts or edits in a chat."""
        return self.chat_events.setdefault(chat_id, asyncio.Event())

    def _wake_chat(self, chat_id: int, message: dict[str, Any], kind: str) -> None:
        self.first_seen.setdefault((chat_id, int(message.get("message_id", 0))), time.monotonic())
        event = self.chat_events.get(chat_id)
        if event is not None:
            event.set()

    async def _get_updates(self, p: Any) -> list[dict[str, Any]]:
        batch = await super()._get_updates(p)
        for update in batch:
            self._hand_out(update)
        return batch

    def _posting(self, update: dict[str, Any]) -> None:
        # A webhook: the update is handed out as it is posted (the answer may come after the
        # bot's reply, since the bot answers 200 once the update is stored).
        self._hand_out(update)

    def _hand_out(self, update: dict[str, Any]) -> None:
        update_id = int(update["update_id"])
        if update_id in self.handed_at:
            # Not confirmed before: the bot restarted, its poll was cut, or a worker refused
            # the webhook's POST (or died with it).
            self.redelivered += 1
            return
        self.handed_at[update_id] = time.monotonic()
        self.update_kind[update_id] = kind_of(update)
        chat_id = _chat_of(update)
        if chat_id is not None:
            self.update_chat[update_id] = chat_id
            self.waiting.setdefault(chat_id, deque()).append(update_id)

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
            update_id = queue.popleft()
            self.latencies.append(now - self.handed_at[update_id])
            self.latency_kinds.append(self.update_kind.get(update_id, "other"))
            self.answered_at.append(now)


def kind_of(update: dict[str, Any]) -> str:
    """Name an update's step without its content: a command, "text", "photo", "button X"."""
    message = update.get("message")
    if message is not None:
        if "photo" in message:
            return "photo"
        text = str(message.get("text", ""))
        if text.startswith("/"):
            return text.split()[0]
        return "text" if text else "other"
    if "callback_query" in update:
        # The callback data's format (bot/telegram/callbacks.py) and its first field when
        # that names a step or an action ("a:unit:HL" is "button a:unit"), never an id.
        parts = str(update["callback_query"].get("data", "")).split(":")
        named = len(parts) > 2 and not parts[1].isdigit()
        return "button " + ":".join(parts[:2] if named else parts[:1])
    return "other"


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


def _children(pid: int) -> list[int]:
    """The processes `pid` started and has not reaped (its main thread's, which is all of a
    bot's: asyncio starts subprocesses from the event loop's thread)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as found:
            return [int(child) for child in found.read().split()]
    except OSError:
        return []


def pss_mb(pid: int) -> float:
    """A process's proportional set size: its private pages, and its share of each page it
    maps together with other processes (the interpreter's and the libraries' code)."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


# A /proc/PID/pagemap entry: bit 63 "present in RAM", bits 0-54 the page frame's number.
_PRESENT = 1 << 63
_FRAME = (1 << 55) - 1
# The vsyscall page sits beyond what pagemap can be read for.
_VSYSCALL = 0xFFFFFFFFFF600000


def resident_frames(pid: int) -> npt.NDArray[np.uint64] | None:
    """The numbers of the physical page frames a process holds in RAM (/proc/PID/pagemap), a
    sorted numpy array; None where the kernel does not tell them (it shows frame 0 to a reader
    without CAP_SYS_ADMIN)."""
    # numpy (matplotlib's) reads the entries in bulk: a Python loop over them took 10 to 20 ms
    # a process, in the bench process that also plays Telegram while /stats is timed.
    import numpy as np

    page = os.sysconf("SC_PAGE_SIZE")
    parts = []
    with (
        open(f"/proc/{pid}/maps", encoding="ascii") as maps,
        open(f"/proc/{pid}/pagemap", "rb") as pagemap,
    ):
        for line in maps:
            start, end = (int(bound, 16) for bound in line.split(maxsplit=1)[0].split("-"))
            if start >= _VSYSCALL:
                continue
            pagemap.seek(start // page * 8)
            entries = np.frombuffer(pagemap.read((end - start) // page * 8), dtype=np.uint64)
            present = entries[(entries & np.uint64(_PRESENT)) != 0]
            parts.append(present & np.uint64(_FRAME))
    frames = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    return None if len(frames) and frames[0] == 0 else frames


class MemorySampler:
    """Samples a process and its children: the children's highest peak, and the highest sum.

    The sum is read three ways. By resident set (RSS): the process's own, plus each child's
    high-water mark, which counts the pages they share (the interpreter, the libraries) once
    per process. By proportional set (PSS), read as the processes hold it at each sample: each
    page shared with any process (this one too) split between them, so it errs low. By the
    page frames they hold (`distinct_peak_mb`): each page in RAM counted once, however many of
    them map it, what the machine gives them together. Frames are read only when the RSS they
    hold at a sample is the highest yet, with a child running, in a thread: a read takes a few
    milliseconds, and while memory climbs (an export's) there is one at most samples, CPU
    taken from what is timed meanwhile; with `frames` False they are not read.
    """

    def __init__(self, pid: int, every: float = 0.02, *, frames: bool = True) -> None:
        self.pid = pid
        self.every = every
        self.frames = frames
        self.children_peak_mb = 0.0
        self.total_peak_mb = 0.0
        self.total_pss_peak_mb = 0.0
        # None until read, and where the kernel does not tell the frames.
        self.distinct_peak_mb: float | None = None
        self._held_peak_mb = 0.0

    def sample(self) -> None:
        """Read the memory of the process and of its children once."""
        pids = self._read()
        if pids:
            self._count_frames(pids)

    def _read(self) -> list[int]:
        """Read the resident and proportional sets; return the processes whose page frames are
        to be read (none unless their resident sets summed are the highest yet)."""
        try:
            total = proc_stats(self.pid).rss_mb
            proportional = pss_mb(self.pid)
        except OSError:
            return []  # the process is gone
        held = total
        children = []
        for child in _children(self.pid):
            try:
                # A child's high-water mark, not what it holds at the sample: the sum errs high.
                stats = proc_stats(child)
                share = pss_mb(child)
            except OSError:
                continue  # it ended between the listing and the reading
            total += stats.hwm_mb
            held += stats.rss_mb
            proportional += share
            children.append(child)
            self.children_peak_mb = max(self.children_peak_mb, stats.hwm_mb)
        self.total_peak_mb = max(self.total_peak_mb, total)
        self.total_pss_peak_mb = max(self.total_pss_peak_mb, proportional)
        if self.frames and children and held > self._held_peak_mb:
            self._held_peak_mb = held
            return [self.pid, *children]
        return []

    def _count_frames(self, pids: Sequence[int]) -> None:
        import numpy as np

        held = []
        for pid in pids:
            try:
                frames = resident_frames(pid)
            except OSError:
                continue  # it ended meanwhile
            if frames is None:
                return
            held.append(frames)
        if not held:
            return  # all of them ended meanwhile
        mb = len(np.unique(np.concatenate(held))) * os.sysconf("SC_PAGE_SIZE") / 2**20
        self.distinct_peak_mb = max(self.distinct_peak_mb or 0.0, mb)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            pids = self._read()
            if pids:
                # In a thread: this process also plays Telegram, and /stats is timed meanwhile;
                # read on its event loop, the frames held the bot's calls up (0.1 to 0.2 s of
                # /stats at 100,000 reports).
                await asyncio.to_thread(self._count_frames, pids)
            await asyncio.sleep(self.every)


class Process:
    """A bot (or the echo bot) in a subprocess, logging to a file."""

    def __init__(self, argv: Sequence[str], log: Path, root: Path = ROOT) -> None:
        self.argv = list(argv)
        self.log = log
        self.root = root
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_hwm_mb = 0.0

    async def start(self) -> None:
        """Start the process."""
        env = {k: v for k, v in os.environ.items() if k != "LIEMCHINH_TOKEN"}
        env["PYTHONPATH"] = str(self.root)
        # The output goes to a file: an unread pipe would block a chatty bot.
        with open(self.log, "ab") as out:  # noqa: ASYNC230 - a moment, once per start
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                # `python -m` looks in the working directory first: the tree measured.
                cwd=self.root,
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


def write_config(
    sim: BotApiSimulator,
    folder: Path,
    *,
    lifted: bool = False,
    database: str = "bench.db",
    state_dir: Path | None = None,
    rate: int | None = None,
    officers: bool = False,
    extra: Sequence[str] = (),
    name: str | None = None,
) -> Path:
    """Write the bench's configuration: 40 units with a group each, one admin.

    `lifted` lifts Telegram's limits as a bot with paid broadcasts on a test Telegram sees
    them: 1,000 messages a second, private chats not paced (the saturation phase). `rate` is
    the bot's overall pace otherwise (Telegram's 29 by default); `officers` names one officer
    per unit (`officer_of`); `extra` lines end the file (a webhook worker's own tables).
    """
    if lifted:
        telegram = ["messages_per_second = 1000", "pace_private_chats = false"]
    else:
        telegram = [f"messages_per_second = {rate}"] if rate is not None else []
    lines = [
        "[telegram]",
        f'token = "{sim.token}"',
        f'base_url = "{sim.base_url}"',
        f'base_file_url = "{sim.base_file_url}"',
        *telegram,
        "[storage]",
        f'database = "{database}"',
        *([f'state_dir = "{state_dir}"'] if state_dir is not None else []),
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
            *([f"officers = [{officer_of(number)}]"] if officers else []),
        ]
    lines += extra
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or ("config-lifted.toml" if lifted else "config.toml"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_world(sim: BotApiSimulator) -> None:
    """Create the units' groups, their officers (members of them) and the admin."""
    for number in range(1, UNIT_COUNT + 1):
        group = sim.add_chat(unit_chat(number), unit_name(number), type="supergroup")
        officer = sim.add_user(officer_of(number), f"Cán bộ {number:02d}", language_code="vi")
        group.add_member(officer)
    sim.add_user(ADMIN_ID, "Quản trị", language_code="vi")


def bot_process(
    config: Path, folder: Path, profile: Path | None = None, root: Path | None = None
) -> Process:
    """The real application, as an operator runs it (under cProfile, writing to `profile`),
    from this source tree or from `root`."""
    log = (folder / "bot.log").resolve()
    argv = ["-m", "bot", "run", "--config", str(config.resolve()), "--log-file", str(log)]
    if profile is not None:
        argv = ["-m", "cProfile", "-o", str(profile.resolve()), *argv]
    return Process(argv, log, root or ROOT)


async def wait_polling(sim: BenchSimulator, since: int, seconds: float = 60.0) -> None:
    """Wait until a freshly started bot polls getUpdates."""
    deadline = time.monotonic() + seconds
    while sim.count("getUpdates") <= since:
        if time.monotonic() > deadline:
            raise RuntimeError("the bot did not start polling; see its log")
        await asyncio.sleep(0.05)
