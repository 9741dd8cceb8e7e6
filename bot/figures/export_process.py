"""An export's two files written by a short-lived process of its own, from rows read here.

Turning 100,000 rows into CSV and XLSX is about 1.5 s of pure Python. In a thread of the bot it
held the interpreter, and with it every citizen's step, for as long, and its buffers stayed in
the bot's heap. A child (`bot.figures.export_child`) writes both files on the other core while
this process reads the next chunk from the store; the rows go to it over a pipe as pickles
(only its parent writes to that pipe), and it answers with the number of rows it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bot.figures.child import start_child
from bot.figures.export import Row

__all__ = ["ExportError", "ExportFiles"]

CHILD = "bot.figures.export_child"
# The child takes a chunk in a fraction of a second; one that takes none for this long, or
# does not end this long after the last, is stuck, not slow.
STALL = 60.0
# The child's last words, when it fails, go to the log: enough for a traceback's end.
_ERROR_TAIL = 2000


class ExportError(Exception):
    """The export's files could not be written (the child failed, was killed or stalled)."""


class ExportFiles:
    """One export's CSV and XLSX, written by a child from chunks of rows: `write()` once.

    `count` is the number of rows handed to the child so far, for a progress report; the pipe
    holds little, so the child is never far behind.
    """

    def __init__(self, locale: str, *, full: bool, now: float, folder: Path) -> None:
        self.csv_path = folder / "export.csv"
        self.xlsx_path = folder / "export.xlsx"
        self.count = 0
        self._settings = (locale, full, now, str(folder))

    async def write(self, chunks: AsyncIterator[Sequence[Row]]) -> tuple[Path, Path]:
        """Write the rows of `chunks` to both files; return the CSV's and the XLSX's paths."""
        try:
            proc = await start_child(CHILD)
        except OSError as exc:
            raise ExportError(f"cannot start the export's process: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        # Both read all along: a child stuck writing a long traceback to a full pipe would
        # never read the next chunk.
        out = asyncio.ensure_future(proc.stdout.read())
        err = asyncio.ensure_future(proc.stderr.read())
        try:
            try:
                await self._send(proc.stdin, self._settings)
                async for chunk in chunks:
                    await self._send(proc.stdin, list(chunk))
                    self.count += len(chunk)
                await self._send(proc.stdin, None)  # the child ends at this, not at EOF
            except (BrokenPipeError, ConnectionResetError):
                pass  # the child ended early: its exit status and last words tell why, below
            try:
                await asyncio.wait_for(proc.wait(), STALL)
            except TimeoutError as exc:
                raise ExportError(f"the export's process did not end in {STALL:.0f} s") from exc
            written, failure = await out, await err
        finally:
            proc.stdin.close()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                # Reaped, or asyncio would warn of a child it never waited for.
                await asyncio.shield(proc.wait())
            for reading in (out, err):
                reading.cancel()
        if proc.returncode != 0 or written.strip() != str(self.count).encode():
            tail = failure.decode("utf-8", "replace")[-_ERROR_TAIL:].strip()
            raise ExportError(f"the export's process failed ({proc.returncode}): {tail}")
        return self.csv_path, self.xlsx_path

    @staticmethod
    async def _send(pipe: asyncio.StreamWriter, value: object) -> None:
        pipe.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            await asyncio.wait_for(pipe.drain(), STALL)
        except TimeoutError as exc:
            raise ExportError(f"the export's process took nothing for {STALL:.0f} s") from exc
