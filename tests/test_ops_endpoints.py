"""/healthz, /readyz and /metrics on the one web server, beside the pages and the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from telegram import Update

from bot.app import App, build_application, running
from bot.config import OpsConfig, Settings, WebConfig, WebhookConfig
from bot.core.domain import Status
from bot.metrics import Metrics
from bot.sim import BotApiSimulator
from bot.store.repository import Repository
from tests.conftest import (
    HA_LONG_CHAT,
    PROVINCE_CHAT,
    FakeClock,
    Person,
    eventually,
    make_settings,
    quick_report,
)
from tests.proxies import Socks5Proxy
from tests.test_operations import closed_port, environment
from tests.test_proxy import PASSWORD, with_proxy
from tests.test_restart import write_config

SECRET = "ops-secret-token"
CITIZEN_ID = 7_312_345_678
CITIZEN_NAME = "Phạm Thị Hồng Nhung"
DESCRIPTION = "Cán bộ Vũ Văn Khải đòi tiền mới nhận hồ sơ đất của gia đình tôi."


def ops_settings(sim: BotApiSimulator, tmp_path: Path, **changes: Any) -> Settings:
    """Settings with the operator's endpoints on (and whatever else a test changes)."""
    settings = make_settings(sim, tmp_path)
    return dataclasses.replace(settings, ops=OpsConfig(enabled=True), **changes)


@asynccontextmanager
async def serving(
    settings: Settings, clock: FakeClock, *, webhook: bool = False
) -> AsyncIterator[tuple[App, str]]:
    """Run the bot with its web server on a free port; yield it and the server's address."""
    app = build_application(settings, clock=clock)
    app.bot_data["services"].web_port = 0
    async with running(app, webhook=webhook):
        yield app, f"http://127.0.0.1:{app.bot_data['services'].web_port}"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Read a Prometheus exposition into {(sample name, labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_alive_and_ready_while_polling(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        serving(ops_settings(sim, tmp_path), clock) as (app, base),
        httpx.AsyncClient(base_url=base) as http,
    ):
        alive = await http.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        await eventually(lambda: sim.count("getUpdates") > 0)
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert set(body["checks"]) == {"database", "telegram_intake", "outbox"}
        assert all(check["ok"] for check in body["checks"].values())
        # The database check wrote its row: a real write, committed.
        db = app.bot_data["services"].db
        async with db.database.read() as conn:
            rows = await conn.execute_fetchall("SELECT checked_at FROM health_probe")
        assert len(rows) == 1


async def test_not_ready_when_the_outbox_is_stuck(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        serving(ops_settings(sim, tmp_path), clock) as (_app, base),
        httpx.AsyncClient(base_url=base) as http,
    ):
        citizen = Person(sim, sim.add_user(731001, "Lan", language_code="vi"))
        # The unit's chat refuses the alert for now: it stays owed.
        sim.inject("sendMessage", status=502, chat_id=HA_LONG_CHAT, times=1000)
        await quick_report(citizen)
        clock.advance(hours=0.5)
        stuck = await http.get("/readyz")
        assert stuck.status_code == 503
        outbox = stuck.json()["checks"]["outbox"]
        assert outbox["ok"] is False and outbox["depth"] >= 1
        assert outbox["oldest_seconds"] > 15 * 60
        assert stuck.json()["checks"]["database"]["ok"] is True
        # /metrics shows the same outbox as the readiness check.
        found = samples((await http.get("/metrics")).text)
        assert value(found, "liemchinh_outbox_depth") == outbox["depth"]
        assert value(found, "liemchinh_outbox_oldest_seconds") >= outbox["oldest_seconds"]
        sim.clear_injections()


async def test_not_ready_without_news_from_telegram_then_ready_again(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    hook = WebhookConfig(url="https://bot.invalid/telegram/hook", secret_token=SECRET)
    settings = ops_settings(sim, tmp_path, webhook=hook)
    async with (
        serving(settings, clock, webhook=True) as (_app, base),
        httpx.AsyncClient(base_url=base) as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        clock.advance(hours=0.1)
        quiet = await http.get("/readyz")
        assert quiet.status_code == 503
        intake = quiet.json()["checks"]["telegram_intake"]
        assert intake["ok"] is False and intake["seconds_since_last"] > 300
        update = {"update_id": 9001}
        posted = await http.post(
            "/telegram/hook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert posted.status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_not_ready_while_the_database_refuses_writes(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    settings = ops_settings(sim, tmp_path)
    async with (
        serving(settings, clock) as (_app, base),
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        await eventually(lambda: sim.count("getUpdates") > 0)
        # Another process holds the write lock longer than the bot waits for it (5 s).
        other = sqlite3.connect(settings.database, timeout=1)
        try:
            other.execute("BEGIN EXCLUSIVE")
            locked = await http.get("/readyz")
        finally:
            with contextlib.suppress(sqlite3.Error):
                other.rollback()
            other.close()
        assert locked.status_code == 503
        database = locked.json()["checks"]["database"]
        assert database["ok"] is False and "locked" in database["error"]
        assert (await http.get("/readyz")).status_code == 200


async def test_metrics_count_what_happened_and_name_nobody(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        serving(ops_settings(sim, tmp_path), clock) as (app, base),
        httpx.AsyncClient(base_url=base) as http,
    ):
        citizen = Person(sim, sim.add_user(CITIZEN_ID, CITIZEN_NAME, language_code="vi"))
        # One flood wait on the way: Telegram asks the bot to wait a second once.
        sim.inject("sendMessage", status=429, retry_after=1, chat_id=CITIZEN_ID)
        code = await quick_report(citizen, DESCRIPTION)
        await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=10)
        await eventually(lambda: sim.count("sendMessage", HA_LONG_CHAT) > 0)
        answer = await http.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.text
        found = samples(text)
        assert value(found, "liemchinh_updates_handled_total", kind="message") >= 3
        assert value(found, "liemchinh_updates_handled_total", kind="callback_query") >= 5
        handled = sum(
            v for (name, _l), v in found.items() if name == "liemchinh_updates_handled_total"
        )
        assert value(found, "liemchinh_handler_seconds_count") == handled
        sent = value(found, "liemchinh_bot_api_calls_total", method="sendMessage", outcome="ok")
        assert sent == sim.count("sendMessage") - 1
        assert (
            value(
                found, "liemchinh_bot_api_calls_total", method="sendMessage", outcome="flood_wait"
            )
            == 1
        )
        assert value(found, "liemchinh_flood_waits_total") == 1
        assert value(found, "liemchinh_flood_wait_seconds_total") == 1
        assert value(found, "liemchinh_reports", status="new") == 1
        assert value(found, "liemchinh_reports", status="resolved") == 0
        assert value(found, "liemchinh_reports_overdue") == 0
        assert value(found, "liemchinh_escalations") == 0
        assert ("liemchinh_outbox_depth", ()) in found
        assert ("liemchinh_outbox_oldest_seconds", ()) in found
        assert ("liemchinh_inbound_backlog", ()) in found

        # Past the acknowledgement deadline the report counts as overdue.
        clock.advance(days=10)
        found = samples((await http.get("/metrics")).text)
        assert value(found, "liemchinh_reports_overdue") == 1
        # The deadline check escalates it one level up: one escalation, still overdue.
        services = app.bot_data["services"]
        await services.workflow.run_timers()
        services.delivery.wake()
        await sim.wait_for_message(PROVINCE_CHAT, contains=code, timeout=10)
        found = samples((await http.get("/metrics")).text)
        assert value(found, "liemchinh_escalations") == 1
        assert value(found, "liemchinh_reports_overdue") == 1

    # No label carries a person's id, name or words: every label value is from a fixed set.
    allowed = {
        "kind": set(Update.ALL_TYPES) | {"other"},
        "status": {status.value for status in Status},
        "outcome": {
            "ok",
            "bad_request",
            "unauthorized",
            "forbidden",
            "not_found",
            "conflict",
            "flood_wait",
            "server_error",
            "other",
            "timed_out",
            "network_error",
        },
    }
    for (_name, labels), _v in found.items():
        for label, label_value in labels:
            if label == "method":
                assert re.fullmatch(r"[A-Za-z]+", label_value), label_value
            elif label == "le":
                float(label_value)
            else:
                assert label_value in allowed[label], (label, label_value)
    for personal in (str(CITIZEN_ID), CITIZEN_NAME, "Khải", "Nhung", code):
        assert personal not in text


async def test_the_inbound_backlog_counts_updates_stored_and_not_handled(tmp_path: Path) -> None:
    metrics = Metrics()
    async with Repository(tmp_path / "bot.db") as db:
        await db.inbound.store_updates([(n, json.dumps({"update_id": n})) for n in (1, 2, 3)])
        metrics.refresh(await db.health.figures())
        assert value(samples(metrics.exposition().decode()), "liemchinh_inbound_backlog") == 3
        await db.inbound.update_handled(2)
        metrics.refresh(await db.health.figures())
        assert value(samples(metrics.exposition().decode()), "liemchinh_inbound_backlog") == 2


async def test_each_application_counts_in_a_registry_of_its_own(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    first = build_application(make_settings(sim, tmp_path / "a"))
    second = build_application(make_settings(sim, tmp_path / "b"))
    one, two = first.bot_data["services"].metrics, second.bot_data["services"].metrics
    assert one.registry is not two.registry
    one.handled("message", 0.01)
    assert b'liemchinh_updates_handled_total{kind="message"} 1.0' in one.exposition()
    assert b"liemchinh_updates_handled_total{" not in two.exposition()


async def test_pages_webhook_and_probes_answer_on_one_port(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    hook = WebhookConfig(url="https://bot.invalid/telegram/hook", secret_token=SECRET)
    web = WebConfig(enabled=True, listen="127.0.0.1", port=1)
    settings = ops_settings(sim, tmp_path, webhook=hook, web=web)
    async with (
        serving(settings, clock, webhook=True) as (_app, base),
        httpx.AsyncClient(base_url=base) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/report")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        citizen = sim.add_user(731002, "Khoa", language_code="vi")
        update = {
            "update_id": 700,
            "message": {
                "message_id": 1,
                "date": int(clock()),
                "chat": {"id": citizen.id, "type": "private"},
                "from": {"id": citizen.id, "is_bot": False, "first_name": "Khoa"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        posted = await http.post(
            "/telegram/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert posted.status_code == 200
        await sim.wait_for_message(citizen.id, contains="đồng ý", timeout=10)


async def test_an_operator_run_through_a_socks_proxy_with_probes(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    port = closed_port()
    config = write_config(sim, tmp_path)
    stderr = tmp_path / "stderr.txt"
    async with Socks5Proxy(username="operator", password=PASSWORD) as proxy:
        with_proxy(config, proxy.url)
        with config.open("a", encoding="utf-8") as extra:
            extra.write(f"[ops]\nenabled = true\n[web]\nport = {port}\n")
        with stderr.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                "--log-format",
                "json",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=sink,
                env=environment(),
            )
            try:
                citizen = Person(sim, sim.add_user(731003, "Hải", language_code="vi"))
                await citizen.say("/start", expect="đồng ý", wait=30)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    ready = await http.get("/readyz")
                    found = samples((await http.get("/metrics")).text)
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
    assert ready.status_code == 200, ready.text
    sent = value(found, "liemchinh_bot_api_calls_total", method="sendMessage", outcome="ok")
    assert sent >= 1 and proxy.requests("sendMessage") == sim.count("sendMessage")
    assert value(found, "liemchinh_updates_handled_total", kind="message") >= 1
    text = stderr.read_text(encoding="utf-8")
    assert "Warning" not in text
    for secret in (PASSWORD, sim.token, "731003", "Hải"):
        assert secret not in text
