"""The chart's process (`bot.figures.chart_process`): figures in on stdin, a PNG out on stdout.

It imports matplotlib first, while its parent counts the figures, then blocks on its input.
Nothing else of the bot is loaded here (no asyncio, no storage, no configuration): each import
is time an admin waits for the chart and memory held while it is drawn.
"""

from __future__ import annotations

import pickle
import sys

from bot.figures.stats import load_chart_modules, render_chart
from bot.i18n import Translator


def main() -> None:
    """Load matplotlib, read the figures and a locale, write the PNG, exit."""
    load_chart_modules()
    stats, locale = pickle.loads(sys.stdin.buffer.read())
    png = render_chart(stats, Translator(only=locale).get(locale), locale)
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
