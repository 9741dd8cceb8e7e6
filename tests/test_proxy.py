"""`[telegram] proxy`: every Bot API call and file download goes through it, HTTP or SOCKS5,
`liemchinh check` names it when it cannot get through, and no log shows its credentials."""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path

import pytest

from bot.app import build_application, running
from bot.config import proxy_secrets
from bot.logs import formatter
from bot.sim import BotApiSimulator
from tests.conftest import FakeClock, Person, eventually, make_settings
from tests.proxies import HttpProxy, Proxy, Socks5Proxy
from tests.test_operations import closed_port, liemchinh
from tests.test_restart import shut_down, start_bot, write_config

PASSWORD = "s3cret-Pass_42"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


def with_proxy(config: Path, proxy_url: str) -> None:
    """Add `[telegram] proxy` to a config file the tests wrote."""
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[telegram]\n", f'[telegram]\nproxy = "{proxy_url}"\n', 1), encoding="utf-8"
    )


def without_resource_warnings(err: str) -> list[str]:
    """Return the lines of stderr that are not part of a ResourceWarning's report."""
    lines = err.strip().splitlines()
    return [
        line
        for index, line in enumerate(lines)
        if "ResourceWarning" not in line
        and not (index and "ResourceWarning" in lines[index - 1] and line.startswith("  "))
    ]


@pytest.mark.parametrize(
    ("kind", "username"),
    [(HttpProxy, None), (HttpProxy, "operator"), (Socks5Proxy, None), (Socks5Proxy, "operator")],
)
async def test_every_call_and_download_goes_through_the_proxy(
    sim: BotApiSimulator, tmp_path: Path, kind: type[Proxy], username: str | None
) -> None:
    async with kind(username=username, password=PASSWORD if username else None) as proxy:
        settings = dataclasses.replace(make_settings(sim, tmp_path), proxy=proxy.url)
        app = build_application(settings, clock=FakeClock())
        async with running(app):
            citizen = Person(sim, sim.add_user(740001, "Lan", language_code="vi"))
            await citizen.say("/start", expect="đồng ý", wait=10)
            sent = await citizen.user.send_photo(content=PHOTO)
            file_id = sent["photo"][-1]["file_id"]
            downloaded = await (await app.bot.get_file(file_id)).download_as_bytearray()
            assert bytes(downloaded) == sim.file_content(file_id)
        assert proxy.refused == 0
    # Every call the simulated Telegram received came through the proxy, and nothing else did.
    methods = {name for name, _params in sim.calls} - {"getUpdates"}
    assert {"getMe", "sendMessage", "getFile", "deleteWebhook"} <= methods
    for method in methods:
        assert proxy.requests(method) == sim.count(method), method
    assert proxy.requests("getUpdates") >= 1
    assert proxy.requests("file") >= 1
    assert {port for _host, port in proxy.targets} == {
        int(sim.base_url.split(":")[2].split("/")[0])
    }


async def test_check_goes_through_the_proxy_and_names_it(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    async with Socks5Proxy(username="operator", password=PASSWORD) as proxy:
        with_proxy(config, proxy.url)
        code, out, err = await liemchinh("check", "--config", str(config))
        assert code == 0, err
        assert f"proxy: socks5://127.0.0.1:{proxy.port}" in out
        assert proxy.requests("getMe") == 1
        assert PASSWORD not in out + err

        # The wrong password: the proxy refuses, and check says which proxy, not the password.
        wrong = proxy.url.replace(PASSWORD, "Wr0ng-Pass_99")
        config.write_text(config.read_text().replace(proxy.url, wrong), encoding="utf-8")
        code, out, err = await liemchinh("check", "--config", str(config))
        assert code == 1
        assert proxy.refused == 1
        # httpcore 1.0 leaves the socket of a refused SOCKS handshake open; Python reports it
        # only where ResourceWarnings are shown, as these tests show them.
        assert len(without_resource_warnings(err)) == 1
        assert f"through the proxy socks5://127.0.0.1:{proxy.port}" in err
        assert "Wr0ng-Pass_99" not in out + err and sim.token not in out + err


async def test_check_names_a_proxy_that_does_not_answer(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    dead = closed_port()
    with_proxy(config, f"http://operator:{PASSWORD}@127.0.0.1:{dead}")
    code, out, err = await liemchinh("check", "--config", str(config))
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert f"through the proxy http://127.0.0.1:{dead}" in err
    assert PASSWORD not in out + err and sim.token not in out + err


async def test_the_running_bot_names_the_proxy_and_logs_no_credentials(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    async with HttpProxy(username="operator", password=PASSWORD) as proxy:
        # The bot is given a wrong password: it cannot start and says so in its log, retrying.
        with_proxy(config, proxy.url.replace(PASSWORD, f"{PASSWORD}-old"))
        bot = await start_bot(config, log)
        try:
            await eventually(
                lambda: proxy.refused > 0 and "could not start" in log.read_text(), 30
            )
        finally:
            await shut_down(bot)
    assert bot.returncode == 0
    text = log.read_text(encoding="utf-8")
    # The warning says which proxy failed, by its address alone.
    assert f"could not start through the proxy http://127.0.0.1:{proxy.port} (" in text
    assert PASSWORD not in text and "operator" not in text and sim.token not in text
    assert sim.count("getMe") == 0


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_lose_a_proxy_url_credentials(log_format: str) -> None:
    url = f"socks5://operator:{PASSWORD}%2F@10.0.0.1:1080"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, proxy_secrets(url)))
    log = logging.getLogger(f"tests.proxy.{log_format}")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning("cannot connect to %s", url)
        # The password alone, as an error message might quote it, decoded or not.
        log.warning("authentication failed for %s/", PASSWORD)
        # Another URL's credentials, not the configured ones: removed all the same.
        log.warning("retrying via http://someone:hunter2@127.0.0.1:3128")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert PASSWORD not in written and "hunter2" not in written
    assert "10.0.0.1:1080" in written and "127.0.0.1:3128" in written
    assert written.count("[redacted]") == 3
