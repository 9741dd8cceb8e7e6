"""The chart is drawn in a child process: the same PNG as in-process, and failures reported."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import cast

import pytest

from bot.core.domain import VN_TZ
from bot.figures.chart_process import PNG_SIGNATURE, ChartError, ChartProcess, draw_chart
from bot.figures.stats import Period, Stats, render_chart
from bot.i18n import Translator
from tests.figures_reference import compute

NOW = datetime(2026, 11, 20, 12, tzinfo=VN_TZ).timestamp()
PERIOD = Period(NOW - 30 * 86400, NOW, "30d")


def sample() -> Stats:
    """Figures of a few reports over two units."""
    rows = [
        {
            "id": n,
            "code": f"AB{n:06d}",
            "status": "resolved" if n % 2 else "new",
            "category": "bribery" if n % 3 else "delay",
            "unit_code": "HL" if n % 2 else "DT",
            "unit_name": "UBND phường Hạ Long" if n % 2 else "UBND phường Đông Triều",
            "created_at": NOW - 86400 * n,
            "acknowledged_at": NOW - 86400 * n + 3600,
            "closed_at": NOW - 86400 * n + 7200 if n % 2 else None,
            "deadline_at": NOW + 86400,
            "escalation_level": 0,
            "rating": 4 if n % 2 else None,
            "spam": 0,
        }
        for n in range(1, 9)
    ]
    return compute(rows, PERIOD, NOW)


async def test_the_child_draws_the_same_chart_as_this_process() -> None:
    stats = sample()
    png = await draw_chart(stats, "en")
    assert png.startswith(PNG_SIGNATURE)
    assert png == render_chart(stats, Translator().get("en"), "en")


async def test_a_child_that_fails_is_a_chart_error_with_its_reason() -> None:
    chart = await ChartProcess.start()
    try:
        with pytest.raises(ChartError, match="failed") as caught:
            # Not figures: the child's render fails and exits with an error.
            await chart.draw(cast(Stats, "not figures"), "vi")
    finally:
        await chart.close()
    assert "AttributeError" in str(caught.value)


async def test_a_chart_not_asked_for_stops_its_child() -> None:
    chart = await ChartProcess.start()
    await chart.close()
    await chart.close()  # twice is harmless
    with pytest.raises(ChartError):
        await chart.draw(sample(), "vi")


async def test_a_child_that_cannot_start_is_a_chart_error_when_drawing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    chart = await ChartProcess.start()  # the caller's other work goes on
    with pytest.raises(ChartError, match="cannot start"):
        await chart.draw(sample(), "vi")
    await chart.close()
