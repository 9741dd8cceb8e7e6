"""The deployment files: the image, compose, the balancer and the systemd unit agree."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from bot.cli import _parser
from bot.config import load_settings

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
