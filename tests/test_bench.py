"""A small smoke run of `liemchinh bench`: a few complete reports, nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from bot.cli import _parser, main
from bot.sim.bench_phases import (
    ECHO_BASE,
    _load,
    echo_phase,
    lost_in,
    p99_by_kind,
    percentile,
    slowest_kinds,
)
from bot.sim.bench_world import (
    QUICK,
    BenchSimulator,
    MemorySampler,
    Process,
    ProcStats,
    kind_of,
    proc_stats,
    resident_frames,
)
from bot.sim.pgserver import binaries

# Every field the issue asks `liemchinh bench --quick --json` to report.
KEYS = (
    "updates_per_s",
    "echo_updates_per_s",
    "ratio_to_echo",
    "calls_per_update",
    "p50_ms",
    "p99_ms",
    "echo_p50_ms",
    "echo_p99_ms",
    "updates_lost",
    "echo_updates_lost",
    "flood_violations",
    "cpu_ms_per_update",
    "echo_cpu_ms_per_update",
    "saturation_updates_per_s",
    "echo_saturation_updates_per_s",
    "bytes_per_open_conversation",
    "steady_rss_mb",
    "peak_rss_mb",
    "stats_s",
    "export_s",
    "reports",
    "alerts_delivered",
    "lost",
    "duplicates",
)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.99) == 99.0


def test_each_update_is_named_by_its_step_not_its_content() -> None:
    chat = {"id": 5, "type": "private"}
    assert kind_of({"update_id": 1, "message": {"chat": chat, "text": "/start ref"}}) == "/start"
    assert kind_of({"update_id": 2, "message": {"chat": chat, "text": "Ông Nguyễn"}}) == "text"
    assert kind_of({"update_id": 3, "message": {"chat": chat, "photo": [{}]}}) == "photo"
    named = {
        "a:unit:HL": "button a:unit",
        "st:ack:42": "button st:ack",
        "r:42": "button r",
        "p:42:3": "button p",
        "consent": "button consent",
    }
    for data, kind in named.items():
        press = {"id": "q", "data": data, "message": {"chat": chat}}
        assert kind_of({"update_id": 4, "callback_query": press}) == kind
    assert kind_of({"update_id": 5, "my_chat_member": {}}) == "other"


def test_the_tail_is_counted_by_kind() -> None:
    latencies = [0.01] * 98 + [0.5, 0.9]
    kinds = ["text"] * 97 + ["photo", "photo", "button send"]
    # The nearest-rank p99 of 100 values is the 99th: 0.5 s, so the two slowest are the tail.
    assert slowest_kinds(latencies, kinds) == {"button send": 1, "photo": 1}
    assert p99_by_kind(latencies, kinds) == {"button send": 900.0, "photo": 500.0, "text": 10.0}
    assert slowest_kinds([], []) == {} and p99_by_kind([], []) == {}


class _Idle:
    """A process that uses no CPU, for timing the harness alone."""

    def stats(self) -> ProcStats:
        return ProcStats(rss_mb=0.0, hwm_mb=0.0, cpu_s=0.0)


async def test_the_first_citizens_arrive_spread_over_the_ramp() -> None:
    starts: dict[int, float] = {}

    async def one(index: int) -> int:
        starts[index] = time.monotonic()
        await asyncio.sleep(0.5)  # a citizen's session, so that each worker keeps its own
        return index

    sim = BenchSimulator()
    began = time.monotonic()
    _result, done = await _load(sim, cast(Process, _Idle()), 4, 6, one, ramp=0.4)
    assert sorted(done) == list(range(6))
    offsets = sorted(starts[index] - began for index in range(4))
    # Worker k starts at k/4 of the ramp: 0, 0.1, 0.2, 0.3 s (give or take the loop's delay).
    for number, offset in enumerate(offsets):
        assert number * 0.1 - 0.01 <= offset < number * 0.1 + 0.09, offsets
    # Without a ramp (the saturation phase) they all begin at once.
    starts.clear()
    began = time.monotonic()
    await _load(sim, cast(Process, _Idle()), 4, 4, one)
    assert max(starts.values()) - began < 0.05


def test_bench_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A quick pace breaks Telegram's one-message-a-second per chat, so the limits are only
    # counted here; the real runs enforce them (docs/performance.md).
    argv = ["bench", "--citizens", "3", "--reports", "3", "--think", "0.05", "--open", "5"]
    argv += ["--backlog", "0", "--seed", "0", "--saturate", "3", "--lenient", "--json"]
    argv += ["--workdir", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert key in result, key
    assert result["reports"] == 3
    assert result["alerts_delivered"] == 3
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["updates_lost"] == 0
    assert result["echo_updates_lost"] == 0
    assert result["open_conversations"] == 5
    # Counted by the simulator: one message per step, the receipt besides.
    assert 0 < result["calls_per_update"] <= 1.1
    # Every step of the report is named in the tail's breakdown, and the tail is among them.
    assert {"/start", "photo", "text"} <= set(result["p99_ms_by_kind"])
    assert 0 < sum(result["slowest_updates"].values()) <= result["updates"]
    assert set(result["slowest_updates"]) <= set(result["p99_ms_by_kind"])
    # Every report's code and alert were timed from its Send.
    for name in ("receipt", "alert"):
        p50, p99, most = (result[f"{name}_{q}_ms"] for q in ("p50", "p99", "max"))
        assert 0 < p50 <= p99 <= most, (name, p50, p99, most)
    assert result["saturation_reports"] == 3
    assert result["saturation_updates_per_s"] > 0
    assert result["echo_saturation_updates_per_s"] > 0


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_the_echo_floor_answers_on_either_transport(tmp_path: Path, transport: str) -> None:
    async with BenchSimulator(enforce_limits=False) as sim:
        result = await echo_phase(sim, tmp_path, 2, 2, 0.05, transport=transport)
        assert lost_in(sim, ECHO_BASE, 2) == 0
    assert result.updates > 0 and result.cpu_ms_per_update > 0
    assert _parser().parse_args(["bench", "--echo-transport", transport]).echo_transport == (
        transport
    )


def test_the_quick_profile_has_the_issues_sizes() -> None:
    assert (QUICK.reports, QUICK.open_conversations, QUICK.seed) == (30, 300, 20_000)
    assert QUICK.saturate > 0 and QUICK.backlog == 0
    args = _parser().parse_args(["bench", "--quick", "--json"])
    assert args.quick and args.json


def test_bench_workers_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if binaries() is None:
        pytest.skip("PostgreSQL's binaries are not installed (.ci/run installs them)")
    argv = ["bench", "--workers", "1", "--reports", "3", "--citizens", "3", "--json"]
    argv += ["--workdir", str(tmp_path)]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["workers"]
    assert [(r["database"], r["workers"]) for r in rows] == [("SQLite", 1), ("PostgreSQL", 1)]
    for row in rows:
        assert row["reports"] == 3
        assert row["updates_lost"] == 0 and row["stuck_citizens"] == 0
        assert row["updates"] > 0 and row["updates_per_s"] > 0 and row["p99_ms"] > 0


def test_bench_workers_takes_a_list_of_counts() -> None:
    assert _parser().parse_args(["bench", "--workers", "1,2,3"]).workers == (1, 2, 3)
    for wrong in ("0", "1,x", "", "1,,2"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["bench", "--workers", wrong])


def sample_beside(sampler: MemorySampler, code: str, enough: Callable[[], bool]) -> None:
    """Sample while a child that ran `code` waits, until `enough()` (or 30 s); then end it."""
    child = subprocess.Popen(
        [sys.executable, "-c", f"{code}; import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not enough() and time.monotonic() < deadline:
            time.sleep(0.05)
            sampler.sample()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def test_the_memory_sampler_counts_a_process_and_its_children() -> None:
    sampler = MemorySampler(os.getpid())
    sampler.sample()
    alone, alone_pss = sampler.total_peak_mb, sampler.total_pss_peak_mb
    own = resident_frames(os.getpid())
    alone_frames = 0.0 if own is None else len(own) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert alone > 0 and 0 < alone_pss <= alone and sampler.children_peak_mb == 0
    # A child holding 64 MB more than an idle interpreter.
    sample_beside(sampler, "b = bytearray(64 << 20)", lambda: sampler.children_peak_mb >= 64)
    assert sampler.children_peak_mb >= 64
    assert sampler.total_peak_mb >= alone + 64
    # The child's 64 MB are its own pages: they count in full by proportional set size too.
    assert sampler.total_pss_peak_mb >= alone_pss + 64
    if sampler.distinct_peak_mb is not None:
        # Counted once per frame: the child's own 64 MB in full, the interpreter the two share
        # once, so less than the resident sets summed.
        assert sampler.distinct_peak_mb >= alone_frames + 64
        assert sampler.distinct_peak_mb < sampler.total_peak_mb


def test_the_memory_sampler_can_leave_the_page_frames_unread() -> None:
    # What is timed meanwhile does not share the CPU with reading them.
    sampler = MemorySampler(os.getpid(), frames=False)
    sample_beside(sampler, "pass", lambda: sampler.children_peak_mb > 0)
    assert sampler.children_peak_mb > 0 and sampler.total_peak_mb > sampler.children_peak_mb
    assert sampler.distinct_peak_mb is None


def test_resident_frames_are_this_process_s_pages_in_ram() -> None:
    frames = resident_frames(os.getpid())
    if frames is None:
        pytest.skip("the kernel does not show page frames to this user")
    held = len(frames) * os.sysconf("SC_PAGE_SIZE") / 2**20
    rss = proc_stats(os.getpid()).rss_mb
    # The same pages as the resident set, read a moment apart.
    assert 0.8 * rss <= held <= 1.2 * rss
