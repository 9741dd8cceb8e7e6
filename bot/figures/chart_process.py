"""The chart of /stats and the weekly digest, drawn in a short-lived process of its own.

Drawing holds the interpreter for a tenth of a second, during which no citizen's step would be
answered, and Pillow with the page it draws on is about 20 MB at its peak, of which the bot's
process would keep a part for good after the first chart (CPython returns little of it). A child
process gives all of it back when it exits, and draws on another core.

The child is started before the figures are counted, so that its imports overlap the query; it
then reads the chart, worded and formatted here (`stats.chart_of`), from its standard input and
writes the PNG to its standard output. Only its parent writes to that pipe, so the chart goes
as a pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle

from bot.figures.child import start_child
from bot.figures.drawing import Chart

__all__ = ["PNG_SIGNATURE", "ChartError", "ChartProcess", "draw_chart"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A chart takes a fraction of a second; a child still drawing after this is stuck, not slow.
TIMEOUT = 60.0
# The child's last words, when it fails, go to the log: enough for a traceback's end.
_ERROR_TAIL = 2000
# What the child runs: a module of its own, which imports what drawing needs and no more.
CHILD = "bot.figures.chart_child"


class ChartError(Exception):
    """The chart could not be drawn (the child failed, was killed or did not answer in time)."""


class ChartProcess:
    """One child process that draws one chart: `start()`, then `draw()`, then `close()`."""

    def __init__(self, proc: asyncio.subprocess.Process | None, failure: str = "") -> None:
        self._proc = proc
        self._failure = failure

    @classmethod
    async def start(cls) -> ChartProcess:
        """Start the child; it loads Pillow while the caller counts the figures.

        A child that cannot be started is reported by `draw()`, so that what needs no chart
        (the figures' text) goes out all the same.
        """
        try:
            proc = await start_child(CHILD)
        except OSError as exc:
            return cls(None, f"cannot start the chart's process: {exc}")
        return cls(proc)

    async def draw(self, chart: Chart) -> bytes:
        """Hand the child the chart; return the PNG it draws."""
        if self._proc is None:
            raise ChartError(self._failure)
        data = pickle.dumps(chart, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            out, err = await asyncio.wait_for(self._proc.communicate(data), TIMEOUT)
        except TimeoutError as exc:
            raise ChartError(f"the chart's process did not answer in {TIMEOUT:.0f} s") from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The child died before it read the chart; its exit status tells more below.
            await self._proc.wait()
            out, err = b"", str(exc).encode()
        if self._proc.returncode != 0 or not out.startswith(PNG_SIGNATURE):
            tail = err.decode("utf-8", "replace")[-_ERROR_TAIL:].strip()
            raise ChartError(f"the chart's process failed ({self._proc.returncode}): {tail}")
        return out

    async def close(self) -> None:
        """Stop the child if it still runs (the chart was not needed after all) and reap it."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        # Reaped, or asyncio would warn of a child it never waited for.
        await self._proc.wait()


async def draw_chart(chart: Chart) -> bytes:
    """Draw `chart` in a child process of its own and return the PNG."""
    process = await ChartProcess.start()
    try:
        return await process.draw(chart)
    finally:
        await process.close()
