"""An export's process (`bot.figures.export_process`): rows in on stdin, two files on disk.

It reads one pickle with the export's settings (locale, full, now, folder), then pickled chunks
of rows until None, writes both files into the folder as they come (`Export`), and prints how
many rows it wrote. Nothing of the bot's storage, network or configuration is loaded here.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from bot.figures.export import Export
from bot.i18n import Translator


def main() -> None:
    """Write the rows given on stdin to the export's folder; print their count."""
    given = sys.stdin.buffer
    locale, full, now, folder = pickle.load(given)
    files = Export(
        Translator(only=locale).get(locale), locale, full=full, now=now, folder=Path(folder)
    )
    try:
        while (chunk := pickle.load(given)) is not None:
            files.add(chunk)
        files.finish()
    except BaseException:
        files.discard()
        raise
    sys.stdout.write(str(files.count))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
