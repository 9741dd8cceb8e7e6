"""SIGTERM under load: the bot finishes what is in hand and exits 0 within 10 s, and after a
restart no report, alert or reply is lost or sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from bot.sim import BotApiSimulator
from tests.conftest import CODE_RE, HA_LONG_CHAT, Person, code_in
from tests.test_restart import shut_down, start_bot, stop, write_config

CITIZENS = 8
REPORTS_EACH = 2
# Every step waits this long for its answer: long enough to span the restart.
STEP_WAIT = 60.0


async def report(person: Person, number: int) -> str:
    """Walk one anonymous report to Hạ Long, step by step; return its tracking code."""
    if number == 0:
        await person.say("/start", expect="đồng ý", wait=STEP_WAIT)
        await person.press("Tôi đồng ý", expect="Chọn loại", wait=STEP_WAIT)
    else:
        await person.say("/report", expect="Chọn loại", wait=STEP_WAIT)
    await person.press("Thái độ", expect="đơn vị", wait=STEP_WAIT)
    await person.say("ha long", expect="ha long", wait=STEP_WAIT)
    await person.press("UBND phường Hạ Long", expect="cán bộ", wait=STEP_WAIT)
    await person.press("Bỏ qua", expect="khi nào", wait=STEP_WAIT)
    await person.press("Hôm nay", expect="ở đâu", wait=STEP_WAIT)
    await person.press("Bỏ qua", expect="Mô tả", wait=STEP_WAIT)
    await person.say(
        f"Cán bộ số {person.id % 100} quát tháo người dân lần {number + 1}.",
        expect="bằng chứng",
        wait=STEP_WAIT,
    )
    await person.press("Bỏ qua", expect="ẩn danh", wait=STEP_WAIT)
    await person.press("Ẩn danh", expect="kiểm tra", wait=STEP_WAIT)
    confirmation = await person.press("Gửi phản ánh", expect="/status", wait=STEP_WAIT)
    return code_in(confirmation["text"])


async def citizen_reports(person: Person) -> list[str]:
    return [await report(person, number) for number in range(REPORTS_EACH)]


def database_rows(database: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Return the reports' codes and the outbox's (kind, status) rows, read from outside."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        codes = [row[0] for row in conn.execute("SELECT code FROM reports")]
        outbox = [(row[0], row[1]) for row in conn.execute("SELECT kind, status FROM outbox")]
    return codes, outbox


async def test_sigterm_under_load_loses_nothing_and_repeats_nothing(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    database = tmp_path / "data" / "bot.db"
    people = [
        Person(sim, sim.add_user(750001 + n, f"Dân {n}", language_code="vi"))
        for n in range(CITIZENS)
    ]
    reference = Person(sim, sim.add_user(759999, "Dân mẫu", language_code="vi"))
    bot = await start_bot(config, log)
    walks: list[asyncio.Task[list[str]]] = []
    try:
        walks = [asyncio.create_task(citizen_reports(person)) for person in people]
        # SIGTERM lands mid-stream: some reports sent and alerted, others half-way.
        deadline = time.monotonic() + 120
        while sum(m.get("text", "").count("🔔") for m in sim.messages(HA_LONG_CHAT)) < 3:
            assert time.monotonic() < deadline, "no alerts before the SIGTERM"
            assert not any(walk.done() and walk.exception() for walk in walks)
            await asyncio.sleep(0.05)
        steps_before = len(sim.calls)
        bot.terminate()
        # The bound for a clean stop: gone within 10 s, whatever was in hand.
        await asyncio.wait_for(bot.wait(), 10)
    finally:
        await stop(bot)
    assert bot.returncode == 0
    assert not all(walk.done() for walk in walks), "the load ended before the SIGTERM"
    assert len(sim.calls) >= steps_before

    again = await start_bot(config, log)
    try:
        # A citizen who starts once the bot is back: the undisturbed flow, for comparison.
        walks.append(asyncio.create_task(citizen_reports(reference)))
        results = await asyncio.wait_for(asyncio.gather(*walks), 240)
        codes = [code for codes in results for code in codes]
        # Whatever the outbox still owed goes out.
        deadline = time.monotonic() + 30
        while any(status == "pending" for _kind, status in database_rows(database)[1]):
            assert time.monotonic() < deadline, "the outbox never emptied"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    finally:
        await shut_down(again)
    assert again.returncode == 0

    stored, outbox = database_rows(database)
    # Nothing lost, nothing doubled: every report once, each with one code.
    assert len(codes) == len(set(codes)) == (CITIZENS + 1) * REPORTS_EACH
    assert sorted(stored) == sorted(code.replace("-", "") for code in codes)
    assert all(status == "sent" for _kind, status in outbox), outbox
    alerts = [m["text"] for m in sim.messages(HA_LONG_CHAT) if "🔔" in (m.get("text") or "")]
    assert sorted(code_in(text) for text in alerts) == sorted(codes)
    assert not any("🔁" in text for text in alerts)
    for person in people:
        texts = [m.get("text") or "" for m in person.messages]
        # One confirmation per report, one review per report, one welcome: no reply twice.
        confirmations = [CODE_RE.search(t) for t in texts if "/status" in t]
        mine = sorted(found.group(1) for found in confirmations if found)
        assert len(mine) == REPORTS_EACH and set(mine) <= set(codes), texts
        assert not any("🔁" in t for t in texts)
    # The flow is the same for everyone: a reply sent twice would show as one more message
    # or edit in someone's chat than in the chat of the citizen who reported after restart.
    sends = {
        person.id: (sim.count("sendMessage", person.id), sim.count("editMessageText", person.id))
        for person in [*people, reference]
    }
    assert set(sends.values()) == {sends[reference.id]}, {
        person.id: calls_to(sim, person.id) for person in [*people, reference]
    }


def calls_to(sim: BotApiSimulator, chat_id: int) -> list[str]:
    """Return the calls a chat received, method and text's start, for a failure's message."""
    return [
        f"{name}: {str(params.get('text') or params.get('caption') or '')[:50]}"
        for name, params in sim.calls
        if params.get("chat_id") == chat_id
    ]
