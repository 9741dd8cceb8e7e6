"""Configuration: the contract's key names, and one clear error per mistake."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    OpsConfig,
    SlaConfig,
    check_database_path,
    load_settings,
    proxy_address,
    proxy_secrets,
)
from bot.core.deadlines import Calendar

GOOD = """
[telegram]
token = "123:ABC"
[storage]
database = "data/test.db"
[bot]
admins = [1, 2]
default_locale = "vi"
[[units]]
code = "P"
name = "Tỉnh"
chat_id = -1001
officers = [5]
[[units]]
code = "C"
name = "Phường"
parent = "P"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.token == "123:ABC"
    assert settings.database == tmp_path / "data" / "test.db"
    assert settings.admins == frozenset({1, 2})
    assert [u.code for u in settings.units] == ["P", "C"]
    assert settings.units[0].chat_id == -1001 and settings.units[0].officers == (5,)
    assert settings.units[1].parent == "P" and settings.units[1].chat_id is None
    assert settings.base_url == "https://api.telegram.org/bot"
    assert settings.sla == SlaConfig()
    assert settings.sla.resolve_days == 30 and settings.sla.extra_days_off == frozenset()
    assert settings.sla.working_days == frozenset()


def test_environment_token_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIEMCHINH_TOKEN", "999:FROMENV")
    assert load_settings(write(tmp_path, GOOD)).token == "999:FROMENV"


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    example = Path(__file__).parent.parent / "config.example.toml"
    settings = load_settings(example, require_token=False)
    assert settings.token is None
    assert any(u.parent is None for u in settings.units)
    # Quảng Ninh and its 54 units, as examples/make_units.py wrote them.
    assert len(settings.units) == 55
    assert settings.sla.acknowledge_working_days == SlaConfig().acknowledge_working_days
    assert settings.sla.resolve_days == SlaConfig().resolve_days
    calendar = Calendar.from_sla(settings.sla)
    assert not calendar.is_working_day(date(2026, 2, 17))  # Tết Bính Ngọ
    assert not calendar.is_working_day(date(2027, 4, 16))  # Hùng Kings 2027
    # Weekends are never working days, so the example gives weekdays off only, and makes only
    # weekend days working days.
    assert settings.sla.extra_days_off
    assert all(day.weekday() < 5 for day in settings.sla.extra_days_off)
    assert settings.sla.working_days
    assert all(day.weekday() >= 5 for day in settings.sla.working_days)
    with pytest.raises(ConfigError, match=r"telegram\.token"):
        load_settings(example)


def test_sla_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    text = GOOD + (
        "\n[sla]\nacknowledge_working_days = 5\nresolve_days = 45\nextension_max_days = 0\n"
        "reopen_days = 0\nremind_hours_before = 168\n"
        'holidays = [2026-01-01, "2026-04-30", " 2026-05-01 ", 2026-01-01]\n'
    )
    sla = load_settings(write(tmp_path, text)).sla
    assert sla == SlaConfig(
        acknowledge_working_days=5,
        resolve_days=45,
        extension_max_days=0,
        reopen_days=0,
        remind_hours_before=168,
        extra_days_off=frozenset({date(2026, 1, 1), date(2026, 4, 30), date(2026, 5, 1)}),
    )


def test_yearly_arrangement_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    text = GOOD + (
        "\n[sla]\nextra_days_off = [2026-01-02]\nholidays = ['2026-12-31']\n"
        "working_days = [2026-01-10, '2026-08-22']\n"
    )
    sla = load_settings(write(tmp_path, text)).sla
    # The old key's days are days off too, so a config written before keeps its meaning.
    assert sla.extra_days_off == frozenset({date(2026, 1, 2), date(2026, 12, 31)})
    assert sla.working_days == frozenset({date(2026, 1, 10), date(2026, 8, 22)})


def test_sla_keys_are_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    sla = load_settings(write(tmp_path, GOOD + "\n[sla]\nresolve_days = 15\n")).sla
    assert sla == SlaConfig(resolve_days=15)
    assert load_settings(write(tmp_path, GOOD + "\n[sla]\n")).sla == SlaConfig()


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda t: t.replace('token = "123:ABC"', ""), "telegram.token", "missing"),
        (lambda t: t.replace('parent = "P"', 'parent = "X"'), "units.C.parent", "unknown unit"),
        (lambda t: t.replace('code = "C"', 'code = "P"'), "units.P.code", "duplicate"),
        (
            lambda t: t.replace('name = "Tỉnh"', 'name = "Tỉnh"\nparent = "C"'),
            "units.P.parent",
            "cycle",
        ),
        (lambda t: t.replace("chat_id = -1001", 'chat_id = "abc"'), "units.P.chat_id", "integer"),
        (lambda t: t.replace("[bot]", "[bot]\nadmin = [3]"), "bot.admin", "unknown key"),
        (lambda t: t.replace("[storage]", "[storag]"), "storag", "unknown section"),
        (
            lambda t: t.replace('code = "C"', 'code = "C"\nchatid = 4'),
            "units[2].chatid",
            "unknown",
        ),
        (lambda t: t.replace('"vi"', '"fr"'), "bot.default_locale", "one of"),
        (lambda t: t.replace("admins = [1, 2]", 'admins = ["x"]'), "bot.admins", "integer"),
        (lambda t: t + "\n[[units]]\ncode = 'bad code!'\nname = 'x'", "units[3].code", "letters"),
        (lambda t: t.replace("[telegram]", "[telegram"), "file", "TOML"),
        (lambda t: t + "\n[sla]\nresolve_day = 30", "sla.resolve_day", "unknown key"),
        (lambda t: "sla = 3\n" + t, "sla", "must be a table"),
        (lambda t: t + "\n[sla]\nresolve_days = true", "sla.resolve_days", "1 to 365"),
        (lambda t: t + "\n[sla]\nresolve_days = 0", "sla.resolve_days", "1 to 365"),
        (lambda t: t + "\n[sla]\nresolve_days = 366", "sla.resolve_days", "1 to 365"),
        (lambda t: t + "\n[sla]\nresolve_days = 30.0", "sla.resolve_days", "whole number"),
        (lambda t: t + "\n[sla]\nresolve_days = '30'", "sla.resolve_days", "whole number"),
        (
            lambda t: t + "\n[sla]\nacknowledge_working_days = 31",
            "sla.acknowledge_working_days",
            "1 to 30",
        ),
        (lambda t: t + "\n[sla]\nextension_max_days = -1", "sla.extension_max_days", "0 to"),
        (lambda t: t + "\n[sla]\nreopen_days = 91", "sla.reopen_days", "0 to 90"),
        (lambda t: t + "\n[sla]\nremind_hours_before = 0", "sla.remind_hours_before", "1 to"),
        (lambda t: t + "\n[sla]\nremind_hours_before = false", "sla.remind_hours_before", "1 to"),
        (lambda t: t + "\n[sla]\nholidays = 2026-01-01", "sla.holidays", "list of dates"),
        (lambda t: t + "\n[sla]\nextra_days_off = ['2/1/2026']", "sla.extra_days_off", "2/1"),
        (lambda t: t + "\n[sla]\nworking_days = 2026-01-10", "sla.working_days", "list"),
        # A make-up working day is one that would be off otherwise: a weekday that is no
        # holiday is a typo.
        (
            lambda t: t + "\n[sla]\nworking_days = [2026-01-09]",
            "sla.working_days",
            "2026-01-09 is a Friday and no public holiday: it is a working day already",
        ),
        # One date in both lists is refused, whichever name the days off are listed under.
        (
            lambda t: t + "\n[sla]\nworking_days = [2026-02-14]\nextra_days_off = [2026-02-14]",
            "sla.working_days",
            "2026-02-14 is also listed in sla.extra_days_off: a day is either worked or off",
        ),
        (
            lambda t: t + "\n[sla]\nworking_days = [2026-04-30]\nholidays = [2026-04-30]",
            "sla.working_days",
            "2026-04-30 is also listed in sla.holidays",
        ),
        (
            lambda t: t + "\n[sla]\nholidays = [2026-01-01, '30/04/2026']",
            "sla.holidays",
            "'30/04/2026'",
        ),
        (lambda t: t + "\n[sla]\nholidays = ['2026-02-30']", "sla.holidays", "'2026-02-30'"),
        (lambda t: t + "\n[sla]\nholidays = ['20260101']", "sla.holidays", "'20260101'"),
        (lambda t: t + "\n[sla]\nholidays = [20260101]", "sla.holidays", "20260101"),
        (
            lambda t: t + "\n[sla]\nholidays = [2026-01-01T08:00:00]",
            "sla.holidays",
            "YYYY-MM-DD",
        ),
        (
            lambda t: t.replace("[storage]", 'proxy = "ftp://h:1"\n[storage]'),
            "telegram.proxy",
            "socks5://",
        ),
        (
            lambda t: t.replace("[storage]", 'proxy = "127.0.0.1:1080"\n[storage]'),
            "telegram.proxy",
            "socks5://",
        ),
        (lambda t: t.replace("[storage]", "proxy = 1080\n[storage]"), "telegram.proxy", "string"),
        (lambda t: t + "\n[ops]\nenabled = 1", "ops.enabled", "true or false"),
        (lambda t: t + "\n[ops]\nready_intake_seconds = 5", "ops.ready_intake_seconds", "10 to"),
        (lambda t: t + "\n[ops]\nready_outbox_minutes = 0", "ops.ready_outbox_minutes", "1 to"),
        (lambda t: t + "\n[ops]\nlisten = '0.0.0.0'", "ops.listen", "unknown key"),
        (lambda t: t + "\n[webhook]\nport = 0", "webhook.port", "port number"),
    ],
)
def test_bad_config_names_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: object, key: str, words: str
) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    path = write(tmp_path, change(GOOD))  # type: ignore[operator]
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == key
    assert words in caught.value.message
    assert str(path) in str(caught.value)


def test_unreadable_database_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    (tmp_path / "data").write_text("a file where a folder should be")
    settings = load_settings(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"storage\.database"):
        check_database_path(settings)


def test_database_folder_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    check_database_path(settings)
    assert (tmp_path / "data").is_dir()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("chat_id = -1001", "chat_id = 1.5"), "units.P.chat_id"),
        (GOOD.replace('token = "123:ABC"', ""), "telegram.token"),
        (GOOD.replace("[bot]", "[bot]\ntypo = 1"), "bot.typo"),
        (GOOD + "\n[sla]\nholidays = ['1/1/2026']\n", "sla.holidays"),
        (GOOD + "\n[sla]\nworking_days = [2026-01-12]\n", "sla.working_days"),
        (
            GOOD + "\n[sla]\nworking_days = [2026-09-02]\nextra_days_off = [2026-09-02]\n",
            "sla.working_days: 2026-09-02 is also listed in sla.extra_days_off",
        ),
    ],
)
def test_cli_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
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
    assert expected in proc.stderr and str(path) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_proxy_ops_and_the_one_server_address_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    text = GOOD.replace("[storage]", 'proxy = "socks5://op:p%40ss@10.1.2.3:1080"\n[storage]')
    text += "\n[ops]\nenabled = true\nready_outbox_minutes = 30\n[webhook]\nport = 8443\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.proxy == "socks5://op:p%40ss@10.1.2.3:1080"
    assert proxy_address(settings.proxy) == "socks5://10.1.2.3:1080"
    assert set(proxy_secrets(settings.proxy)) == {"op:p%40ss", "p%40ss", "op:p@ss", "p@ss"}
    assert settings.ops == OpsConfig(enabled=True, ready_outbox_minutes=30)
    # A config written when the webhook had a server of its own keeps its address...
    assert (settings.web.listen, settings.web.port) == ("127.0.0.1", 8443)
    # ...until [web] gives one, which the one server then takes.
    settings = load_settings(write(tmp_path, text + '[web]\nlisten = "127.0.0.2"\n'))
    assert (settings.web.listen, settings.web.port) == ("127.0.0.2", 8080)
    assert load_settings(write(tmp_path, GOOD)).proxy is None
