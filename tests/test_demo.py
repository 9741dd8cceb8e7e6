"""The offline demo a newcomer runs first."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.sim.demo import run_demo
from tests.conftest import CODE_RE

ROOT = Path(__file__).resolve().parent.parent


async def test_scripted_demo_reaches_the_unit_channel() -> None:
    out = io.StringIO()
    assert await run_demo(script=True, out=out) == 0
    transcript = out.getvalue()
    code = CODE_RE.search(transcript)
    assert code is not None
    assert "unit channel «UBND phường Hạ Long»" in transcript
    assert transcript.count(code.group(1)) >= 4  # citizen, alert, evidence caption, /status hint
    assert "no trace of the reporter" in transcript and "no trace of the officer" in transcript
    assert "BOT → officer, in private" in transcript and "resolved there" in transcript


def test_no_token_runs_the_interactive_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIEMCHINH_TOKEN", "LIEMCHINH_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no config.toml here
        input="1\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "offline demo" in proc.stdout
    assert "Xin chào" in proc.stdout and "Tôi đồng ý" in proc.stdout
