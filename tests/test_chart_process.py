"""The chart is drawn in a child process: the same PNG as in-process, and failures reported."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import cast

import pytest

import bot
from bot.figures.chart_process import PNG_SIGNATURE, ChartError, ChartProcess, draw_chart
from bot.figures.child import _environment
from bot.figures.drawing import Chart
from bot.figures.stats import chart_of, render_chart
from bot.i18n import Translator
from tests.figures_reference import compute
from tests.test_stats import NOW, PERIOD, sample_rows


def sample(locale: str = "vi") -> Chart:
    """The chart of the statistics tests' sample reports."""
    return chart_of(compute(sample_rows(), PERIOD, NOW), Translator().get(locale), locale)


async def test_the_child_draws_the_same_chart_as_this_process() -> None:
    stats = compute(sample_rows(), PERIOD, NOW)
    png = await draw_chart(sample("en"))
    assert png.startswith(PNG_SIGNATURE)
    assert png == render_chart(stats, Translator().get("en"), "en")


async def test_a_child_that_fails_is_a_chart_error_with_its_reason() -> None:
    chart = await ChartProcess.start()
    try:
        with pytest.raises(ChartError, match="failed") as caught:
            # Not a chart: the child's drawing fails and exits with an error.
            await chart.draw(cast(Chart, "not a chart"))
    finally:
        await chart.close()
    assert "AttributeError" in str(caught.value)


async def test_a_chart_not_asked_for_stops_its_child() -> None:
    chart = await ChartProcess.start()
    await chart.close()
    await chart.close()  # twice is harmless
    with pytest.raises(ChartError):
        await chart.draw(sample())


async def test_a_child_that_cannot_start_is_a_chart_error_when_drawing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    chart = await ChartProcess.start()  # the caller's other work goes on
    with pytest.raises(ChartError, match="cannot start"):
        await chart.draw(sample())
    await chart.close()


def test_a_child_gets_none_of_the_bots_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIEMCHINH_TOKEN", "123:not-a-real-token")
    monkeypatch.setenv("LIEMCHINH_SEAL_KEY", "not-a-real-key")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = _environment()
    assert not [name for name in env if name.startswith("LIEMCHINH_")]
    # This process's `bot` package first, so that the child runs the same code.
    root = str(Path(bot.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
