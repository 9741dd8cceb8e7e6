"""The chart's process (`bot.figures.chart_process`): a chart in on stdin, a PNG out on stdout.

It imports Pillow first, while its parent counts the figures, then blocks on its input.
The chart comes with its words translated and its numbers formatted (`stats.chart_of`), so
nothing else of the bot is loaded here (no asyncio, no storage, no translations, no babel):
each import is time an admin waits for the chart and memory held while it is drawn.
"""

from __future__ import annotations

import pickle
import sys

from bot.figures.drawing import draw, load_modules


def main() -> None:
    """Load Pillow, read the chart, write the PNG, exit."""
    load_modules()
    chart = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(draw(chart))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
