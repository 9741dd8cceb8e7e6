"""A small smoke run of `liemchinh bench`: a few complete reports, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.sim.bench_phases import percentile

KEYS = (
    "updates_per_s",
    "echo_updates_per_s",
    "ratio_to_echo",
    "p50_ms",
    "p99_ms",
    "reports",
    "alerts_delivered",
    "lost",
    "duplicates",
    "flood_violations",
    "peak_rss_mb",
    "bytes_per_open_conversation",
)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.99) == 99.0


def test_bench_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A quick pace breaks Telegram's one-message-a-second per chat, so the limits are only
    # counted here; the real runs enforce them (docs/performance.md).
    argv = ["bench", "--citizens", "3", "--reports", "3", "--think", "0.05", "--open", "5"]
    argv += ["--backlog", "0", "--seed", "0", "--lenient", "--json", "--workdir", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert key in result, key
    assert result["reports"] == 3
    assert result["alerts_delivered"] == 3
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["updates_lost"] == 0
    assert result["open_conversations"] == 5
