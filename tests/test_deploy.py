"""The deployment files: the image, compose, the balancer and the systemd unit agree."""

from __future__ import annotations

import asyncio
import configparser
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.cli import _parser
from bot.config import load_settings
from tests.test_backup import make_database

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instruction(name: str) -> str:
    """Return a Dockerfile instruction's arguments, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.+)$", joined, flags=re.MULTILINE)
    assert len(found) == 1, f"{name}: {found}"
    return str(found[0]).strip()


def image_command() -> list[str]:
    return [*json.loads(instruction("ENTRYPOINT")), *json.loads(instruction("CMD"))]


def readme_command() -> list[str]:
    match = re.search(r"its command is\s+`(liemchinh run [^`]+)`", README)
    assert match, "the README states the image's command"
    return shlex.split(match.group(1))


def test_the_image_is_slim_non_root_with_a_health_check_and_the_readmes_command() -> None:
    assert instruction("FROM").endswith("-slim")
    assert instruction("USER") == "liemchinh"
    assert "--uid 10001" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "8443" in instruction("HEALTHCHECK")
    assert instruction("EXPOSE") == "8443"
    assert image_command() == readme_command()
    assert "docker build -t liemchinh ." in README and "docker build -t liemchinh ." in DOCKERFILE
    # The command is one the bot accepts.
    args = _parser().parse_args(image_command()[1:])
    assert (args.command, args.webhook, args.standby, args.log_format) == (
        "run",
        True,
        True,
        "json",
    )


def test_compose_runs_postgresql_workers_and_a_balancer(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "worker", "balancer"}
    assert services["db"]["image"].startswith("postgres:")
    worker = services["worker"]
    assert worker["build"] == "."
    assert worker["deploy"]["replicas"] >= 2
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    for name in (
        "LIEMCHINH_TOKEN",
        "LIEMCHINH_WEBHOOK_SECRET",
        "LIEMCHINH_DATA_KEY",
        "PGPASSWORD",
    ):
        assert name in worker["environment"], name
    mounts = dict(m.rsplit(":", 2)[:2] for m in worker["volumes"] if m.startswith("./"))
    config_path = image_command()[image_command().index("--config") + 1]
    assert mounts["./deploy/config.compose.toml"] == config_path

    # The configuration the workers mount is valid and points at the compose database.
    monkeypatch.setenv("LIEMCHINH_TOKEN", "123:abc")
    monkeypatch.setenv("LIEMCHINH_WEBHOOK_SECRET", "s3cret")
    settings = load_settings(ROOT / "deploy" / "config.compose.toml")
    assert settings.database_url == "postgresql://liemchinh@db:5432/liemchinh"
    assert settings.database.parent == Path("/var/lib/liemchinh")
    assert any(v.endswith(":/var/lib/liemchinh") for v in worker["volumes"])
    assert (settings.web.listen, settings.web.port) == ("0.0.0.0", 8443)
    assert settings.ops.enabled
    assert "http://127.0.0.1:8443/healthz" in instruction("HEALTHCHECK")

    balancer = services["balancer"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in balancer["volumes"]
    assert balancer["ports"] == ["127.0.0.1:8443:8443"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"server worker:8443\b", nginx)
    assert re.search(r"proxy_next_upstream error timeout", nginx)
    assert "client_max_body_size 1m;" in nginx


def test_the_systemd_unit_is_hardened_and_runs_the_same_command() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    unit.read(ROOT / "deploy" / "liemchinh.service", encoding="utf-8")
    service = unit["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "liemchinh"
    assert service["NoNewPrivileges"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    executable, *args = shlex.split(service["ExecStart"])
    assert executable.endswith("/liemchinh")
    assert args == image_command()[1:]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# -- the daily backup under systemd -------------------------------------------------------------

# What only the worker does: run, restart and stop the bot, with its environment.
WORKER_ONLY = {"Type", "ExecStart", "Restart", "RestartSec", "KillSignal", "TimeoutStopSec"}
WORKER_ONLY |= {"Environment", "StateDirectory"}


def systemd_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Read a unit file of deploy/ as systemd does: a key may repeat, and every value counts."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    text = (ROOT / "deploy" / name).read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(settings: dict[str, list[str]], key: str) -> str:
    values = settings[key]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def backup_command() -> tuple[list[str], str]:
    """Return the backup unit's `liemchinh` command as the shell runs it, and its shell."""
    service = systemd_unit("liemchinh-backup.service")["Service"]
    shell, flag, script = shlex.split(one(service, "ExecStart"))
    # systemd turns $$ into $ and %% into %; the shell then runs the script.
    script = script.replace("$$", "$").replace("%%", "%")
    words = shlex.split(script)
    assert words[0] == "exec", "the shell gives way to liemchinh, whose exit code counts"
    return words[1:], f"{shell} {flag}"


def test_the_backup_unit_runs_liemchinh_backup_as_the_workers_user() -> None:
    worker = systemd_unit("liemchinh.service")["Service"]
    service = systemd_unit("liemchinh-backup.service")["Service"]
    assert one(service, "Type") == "oneshot"
    # One user for both, and the worker's state folder: the database and its keys.
    assert one(worker, "DynamicUser") == one(service, "DynamicUser") == "yes"
    assert one(worker, "User") == one(service, "User") == "liemchinh"
    worker_dirs = one(worker, "StateDirectory").split()
    backup_dirs = one(service, "StateDirectory").split()
    assert worker_dirs == ["liemchinh"] and backup_dirs[: len(worker_dirs)] == worker_dirs
    # The same confinement, key by key (SystemCallFilter's two lines included).
    for key in worker.keys() - WORKER_ONLY:
        assert service.get(key) == worker[key], key
    # No secret is needed for a copy; the data key in particular stays out of the job.
    assert "LIEMCHINH_DATA_KEY" in one(service, "UnsetEnvironment").split()

    (executable, *args), shell = backup_command()
    assert shell == "/bin/sh -c"
    assert executable == shlex.split(one(worker, "ExecStart"))[0]
    parsed = _parser().parse_args(args)
    assert parsed.command == "backup"
    worker_args = _parser().parse_args(shlex.split(one(worker, "ExecStart"))[1:])
    assert parsed.sub_config == worker_args.run_config
    # Into a state folder of its own, which the unit may write, a file a day.
    target = Path(parsed.file)
    writable = {Path("/var/lib") / name for name in backup_dirs[len(worker_dirs) :]}
    assert target.parent in writable
    assert "$(date +%F)" in target.name
    # Old copies go, and only copies: the pattern matches the name and nothing in a subfolder.
    find = shlex.split(one(service, "ExecStartPost"))
    assert find[:4] == ["/usr/bin/find", str(target.parent), "-maxdepth", "1"]
    pattern = find[find.index("-name") + 1]
    assert fnmatch.fnmatch(target.name.replace("$(date +%F)", "2026-12-02"), pattern)
    assert find[-1] == "-delete"


def test_the_timer_starts_the_backup_daily_and_the_readme_points_at_both() -> None:
    timer = systemd_unit("liemchinh-backup.timer")
    assert one(timer["Timer"], "Unit") == "liemchinh-backup.service"
    assert one(timer["Timer"], "OnCalendar") == "daily"
    assert one(timer["Timer"], "Persistent") == "true"
    assert one(timer["Timer"], "RandomizedDelaySec")
    assert one(timer["Install"], "WantedBy") == "timers.target"
    # Started by the timer only: nothing to enable on the service itself.
    assert "Install" not in systemd_unit("liemchinh-backup.service")
    for name in ("deploy/liemchinh-backup.service", "deploy/liemchinh-backup.timer"):
        assert name in README, name
    assert "systemctl enable --now liemchinh-backup.timer" in README


def test_the_backup_units_commands_write_todays_copy_and_delete_old_ones(tmp_path: Path) -> None:
    """Run the unit's two commands with its paths moved under tmp_path."""
    (executable, *args), shell = backup_command()
    parsed = _parser().parse_args(args)
    service = systemd_unit("liemchinh-backup.service")["Service"]
    database = tmp_path / "state" / "liemchinh.db"
    asyncio.run(make_database(database))
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    backups = tmp_path / "backups"
    backups.mkdir()  # systemd makes the state folder
    moves = {
        executable: f"{shlex.quote(sys.executable)} -m bot",
        str(parsed.sub_config): str(config),
        str(Path(parsed.file).parent): str(backups),
    }
    script = shlex.split(one(service, "ExecStart"))[2].replace("$$", "$").replace("%%", "%")
    find = one(service, "ExecStartPost")
    for old, new in moves.items():
        script, find = script.replace(old, new), find.replace(old, new)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}

    stale = backups / "liemchinh-2026-10-01.db"
    stale.write_bytes(b"a month old")
    os.utime(stale, (time.time() - 40 * 86_400,) * 2)
    other = backups / "notes.txt"
    other.write_text("not a copy")
    os.utime(other, (time.time() - 40 * 86_400,) * 2)
    # Twice: a second run on the same day (started by hand) replaces that day's copy.
    for _ in range(2):
        done = subprocess.run(
            [*shell.split(), script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "integrity_check: ok" in done.stdout
        subprocess.run(shlex.split(find), env=env, check=True, timeout=60)
    copies = sorted(path.name for path in backups.glob("liemchinh-*.db"))
    assert len(copies) == 1 and re.fullmatch(r"liemchinh-\d{4}-\d\d-\d\d\.db", copies[0])
    assert copies[0] != stale.name and other.exists()
    assert (backups / copies[0]).stat().st_mode & 0o777 == 0o600
