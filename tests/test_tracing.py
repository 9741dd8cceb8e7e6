"""The opt-in tracemalloc snapshots: off by default, one file per SIGUSR1, compared per item."""

from __future__ import annotations

import asyncio
import os
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sim.bench_trace import holders
from bot.tracing import ENV, SNAPSHOT_GLOB, Tracer, from_environment, snapshot_on_signal


@pytest.fixture
def traced() -> Iterator[None]:
    """Stop tracing afterwards: it would slow every later test in this worker."""
    was = tracemalloc.is_tracing()
    yield
    if not was:
        tracemalloc.stop()


def test_nothing_is_traced_unless_asked() -> None:
    assert from_environment({}) is None
    assert from_environment({ENV: " "}) is None


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


def _kept() -> list[bytearray]:
    return [bytearray(1000) for _ in range(50)]


def test_snapshots_name_what_grew_per_item(tmp_path: Path, traced: None) -> None:
    tracer = from_environment({ENV: str(tmp_path / "traces")})
    assert tracer is not None and tracemalloc.is_tracing()
    before = tracer.snapshot()
    kept = _kept()
    after = tracer.snapshot()
    assert [before.name, after.name] == ["snapshot-001.tracemalloc", "snapshot-002.tracemalloc"]
    found = holders(before, after, len(kept))
    top = found["by_line"][0]
    assert top["where"].startswith("tests/test_tracing.py:")
    # A bytearray of 1,000 bytes is a little more with its object header.
    assert 1000 <= top["per_conversation"] < 1200
    assert found["traced_per_conversation"] >= 1000
    assert found["by_traceback"][0]["frames"][0] == top["where"]
    parts = found["parts_per_conversation"]
    assert parts["python_traced"] >= 1000 and "rss_anon" in parts


async def test_a_signal_writes_a_snapshot(tmp_path: Path, traced: None) -> None:
    loop = asyncio.get_running_loop()
    snapshot_on_signal(loop, None)  # off: no handler is installed
    tracer = Tracer(tmp_path)
    snapshot_on_signal(loop, tracer)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):
            if _names(tmp_path, SNAPSHOT_GLOB):
                break
            await asyncio.sleep(0.05)
        assert _names(tmp_path, SNAPSHOT_GLOB) == ["snapshot-001.tracemalloc"]
        assert _names(tmp_path, "*.partial") == []
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
