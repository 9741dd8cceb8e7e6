"""`[web]`: every key read, and every bad value one line naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, WebConfig, load_settings
from tests.test_config import GOOD, write

WEB = """
[web]
enabled = true
listen = "localhost"
port = 8443
public_url = "https://phananh.example.org/"
board_min_reports = 12
"""


def test_every_web_key_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    web = load_settings(write(tmp_path, GOOD + WEB)).web
    assert web == WebConfig(
        enabled=True,
        listen="localhost",
        port=8443,
        public_url="https://phananh.example.org",
        board_min_reports=12,
    )
    assert web.secure


def test_web_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    web = load_settings(write(tmp_path, GOOD)).web
    assert web == WebConfig()
    assert (web.enabled, web.listen, web.port, web.board_min_reports) == (
        False,
        "127.0.0.1",
        8080,
        5,
    )
    assert not web.secure
    plain = load_settings(write(tmp_path, GOOD + '[web]\npublic_url = "http://127.0.0.1:8080"'))
    assert not plain.web.secure


BAD = [
    ("enabled = 1", "web.enabled", "true or false"),
    ('enabled = "yes"', "web.enabled", "true or false"),
    ("listen = 127", "web.listen", "must be a string"),
    ('listen = "phananh.example.org"', "web.listen", "IP address"),
    ('listen = "127.0.0.300"', "web.listen", "IP address"),
    ("port = 0", "web.port", "1 to 65535"),
    ("port = 65536", "web.port", "1 to 65535"),
    ("port = true", "web.port", "1 to 65535"),
    ('port = "8080"', "web.port", "1 to 65535"),
    ("port = 80.5", "web.port", "1 to 65535"),
    ('public_url = "phananh.example.org"', "web.public_url", "http:// or https://"),
    ('public_url = "ftp://phananh.example.org"', "web.public_url", "http:// or https://"),
    ('public_url = "https://"', "web.public_url", "http:// or https://"),
    ("public_url = 5", "web.public_url", "must be a string"),
    ("board_min_reports = 0", "web.board_min_reports", "1 to 1000"),
    ("board_min_reports = 1001", "web.board_min_reports", "1 to 1000"),
    ("board_min_reports = false", "web.board_min_reports", "1 to 1000"),
    ("board_min_reports = 2.5", "web.board_min_reports", "1 to 1000"),
    ("board_minimum = 5", "web.board_minimum", "unknown key"),
]


@pytest.mark.parametrize(("line", "key", "words"), BAD)
def test_bad_web_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, key: str, words: str
) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    path = write(tmp_path, f"{GOOD}\n[web]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == key
    assert words in caught.value.message
    assert str(path) in str(caught.value)


def test_web_as_a_value_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "web = true\n" + GOOD))
    assert caught.value.key == "web"


@pytest.mark.parametrize(
    ("line", "key"),
    [("port = 0", "web.port"), ('listen = "any"', "web.listen"), ("enabled = 1", "web.enabled")],
)
def test_cli_exits_2_with_one_line(tmp_path: Path, line: str, key: str) -> None:
    path = write(tmp_path, f"{GOOD}\n[web]\n{line}\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert key in proc.stderr and str(path) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
