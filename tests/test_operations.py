"""The operator's side: `liemchinh check`, and a start-up that shows no framework warning in
either log format."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.sim import BotApiSimulator
from tests.conftest import Person
from tests.test_restart import write_config

ROOT = Path(__file__).resolve().parent.parent


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LIEMCHINH_TOKEN", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = str(ROOT)
    # Deprecations too, which Python hides by default: they are next version's breakage.
    env["PYTHONWARNINGS"] = "default"
    return env


async def liemchinh(*args: str, wait: float = 60) -> tuple[int, str, str]:
    """Run the command line in a subprocess; return its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), wait)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- liemchinh check ---------------------------------------------------------------------------


async def test_check_reaches_telegram(sim: BotApiSimulator, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path)
    code, out, err = await liemchinh("check", "--config", str(config))
    assert code == 0, err
    assert "@liemchinh_bot" in out
    assert str(tmp_path / "data" / "bot.db") in out
    assert sim.token not in out + err
    # The database file check creates is owner-only, as the bot's own would be.
    assert (tmp_path / "data" / "bot.db").stat().st_mode & 0o777 == 0o600


async def test_check_names_the_unreachable_address(sim: BotApiSimulator, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path)
    dead = f"http://127.0.0.1:{closed_port()}/bot"
    config.write_text(config.read_text().replace(sim.base_url, dead), encoding="utf-8")
    code, out, err = await liemchinh("check", "--config", str(config))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and dead in err
    assert sim.token not in out + err


async def test_check_says_the_token_was_refused(sim: BotApiSimulator, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path)
    wrong = "7000000001:NOT-the-simulated-token"
    config.write_text(config.read_text().replace(sim.token, wrong), encoding="utf-8")
    code, out, err = await liemchinh("check", "--config", str(config))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "refused the token" in err
    assert sim.base_url in err and wrong not in out + err


async def test_check_reports_a_config_error_like_run(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase = "bot.db"\n[sla]\nworking_days = [2026-01-12]\n')
    for command in ("check", "run"):
        code, _out, err = await liemchinh(command, "--config", str(config))
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert "telegram.token" in err  # the first problem, the same for both commands
    config.write_text(
        config.read_text().replace("[storage]", '[telegram]\ntoken = "1:A"\n[storage]')
    )
    code, _out, err = await liemchinh("check", "--config", str(config))
    assert code == 2 and f"{config}: sla.working_days: 2026-01-12 is a Monday" in err


async def test_check_refuses_a_day_both_worked_and_off(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[telegram]\ntoken = "1:A"\n[storage]\ndatabase = "bot.db"\n[sla]\n'
        "extra_days_off = [2026-01-02]\nworking_days = [2026-01-10, 2026-01-02]\n"
    )
    code, out, err = await liemchinh("check", "--config", str(config))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"liemchinh: configuration error: {config}: sla.working_days: 2026-01-02 is also listed"
        " in sla.extra_days_off: a day is either worked or off; remove it from one of the two"
        " lists"
    ]


# -- start-up: no framework warning, either log format ---------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_the_bot_starts_without_warnings(
    sim: BotApiSimulator, tmp_path: Path, log_format: str
) -> None:
    config = write_config(sim, tmp_path)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            "--log-format",
            log_format,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env=environment(),
        )
        try:
            citizen = Person(sim, sim.add_user(730001, "Minh", language_code="vi"))
            await citizen.say("/start", expect="đồng ý", wait=30)
            await citizen.press("Tôi đồng ý", expect="Chọn loại")
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
    text = stderr.read_text(encoding="utf-8")
    assert "running (polling)" in text
    # Python's warnings name their class: UserWarning, PTBUserWarning, DeprecationWarning...
    assert "Warning" not in text
    for secret in (sim.token, "730001", "Minh"):
        assert secret not in text
    if log_format == "json":
        records = [json.loads(line) for line in text.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(records[0])


async def test_the_scripted_demo_shows_no_warning() -> None:
    code, out, err = await liemchinh("demo", "--script", wait=120)
    assert code == 0
    assert "resolved there" in out
    assert "Warning" not in err
