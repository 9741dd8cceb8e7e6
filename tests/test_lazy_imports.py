"""The bot starts without the heavy libraries of the figures: they load when first asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# matplotlib (with numpy and Pillow) is tens of megabytes in every bot process that never draws.
HEAVY = ("matplotlib", "numpy", "PIL", "openpyxl", "xlsxwriter", "lxml")


def loaded_after(statement: str) -> list[str]:
    """Import in a fresh interpreter; return the heavy packages it holds afterwards."""
    script = (
        f"import sys\n{statement}\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.split()


def test_the_application_and_handlers_load_no_chart_or_spreadsheet_library() -> None:
    modules = "bot.app, bot.cli, bot.jobs, handlers, bot.figures.export, bot.figures.chart_process"
    assert loaded_after(f"import {modules}") == []
    # Nor does the process that writes an export's files.
    assert loaded_after("import bot.figures.export_process, bot.figures.export_child") == []


def test_the_public_boards_chart_loads_no_chart_library() -> None:
    # A public page: what it loaded would stay in the bot's process for good.
    script = (
        "from bot.store.board import BoardRow\n"
        "from bot.web.board import render_svg\n"
        "row = BoardRow('U1', 'UBND phường Hạ Long', 5, 4, 3, 1, 0.5, 2.0)\n"
        "assert render_svg([row], lambda text: text).startswith(b'<svg')\n"
    )
    assert loaded_after(script) == []


def test_statistics_load_pillow_only_to_draw_and_never_matplotlib() -> None:
    assert loaded_after("import bot.figures.stats") == []
    drawn = loaded_after("import bot.figures.drawing as d; d.load_modules()")
    assert drawn == ["PIL"]
    # The chart is drawn with Pillow alone: matplotlib only ships its font file.
    assert loaded_after("from tests.test_canvas import chart, draw; draw(chart())") == ["PIL"]


def test_the_charts_process_loads_no_other_part_of_the_bot_nor_babel() -> None:
    # Its chart comes worded and formatted: translations and number formats stay in the bot.
    script = (
        "import sys, bot.figures.chart_child\n"
        "print(' '.join(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('babel', 'handlers') or m.startswith('bot.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == [
        "bot.figures",
        "bot.figures.canvas",
        "bot.figures.chart_child",
        "bot.figures.drawing",
    ]


def test_a_bot_on_sqlite_loads_no_postgresql_driver(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "bot.db"}"\n', encoding="utf-8")
    # `liemchinh run` as far as serving, which is stubbed: everything it imports on the way.
    script = (
        "import sys, bot.app, bot.cli\n"
        "from bot.config import load_settings\n"
        "async def serve(app, webhook): pass\n"
        "bot.app.build_application = lambda settings: None\n"
        "bot.app.serve = serve\n"
        f"assert bot.cli._run(load_settings({str(config)!r}, require_token=False)) == 0\n"
        "import handlers, bot.jobs, bot.store.repository\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncpg'"
        " or m == 'bot.store.postgres'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
