"""A database refusing writes, Telegram failing at the wrong moment, and malformed updates:
the person is told, and nothing is lost or half-written."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_application, running
from bot.config import WebhookConfig
from bot.core.domain import Status
from bot.sim import BotApiSimulator
from tests.bad_input_helpers import (
    ASK_EVIDENCE,
    DESCRIPTION,
    NOT_SAVED,
    OFFICER_HL,
    SEND_EVIDENCE,
    UNAVAILABLE,
    WENT_WRONG,
    after,
    draft_of,
    quiet,
    report_of,
    reported,
    said_after,
    settled,
    table_counts,
    to_description,
    to_evidence,
    to_unit,
)
from tests.conftest import (
    ADMIN_ID,
    CONFIRM_DATA,
    HA_LONG_CHAT,
    FakeClock,
    Person,
    World,
    code_in,
    eventually,
    make_settings,
    member,
    press_data,
    quick_report,
)

# -- a database that is locked, read-only or full ----------------------------------------------
#
# Updates reach the handlers only once stored (bot/inbound.py). A database refusing every write
# therefore holds the update back at Telegram until it accepts writes again; a write refused
# later, inside a handler, reaches on_error, which asks the citizen to send it again.


@contextlib.asynccontextmanager
async def locked(world: World) -> AsyncIterator[None]:
    """Another process holds the write lock (longer than the bot's 5 s busy timeout)."""

    def lock() -> sqlite3.Connection:
        conn = sqlite3.connect(
            world.settings.database, timeout=10, isolation_level=None, check_same_thread=False
        )
        conn.execute("BEGIN EXCLUSIVE")
        return conn

    holder = await asyncio.to_thread(lock)
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


@contextlib.asynccontextmanager
async def read_only(world: World) -> AsyncIterator[None]:
    """SQLite itself answers "attempt to write a readonly database" to every write."""
    db = world.db
    async with db._lock:
        assert db._conn is not None
        await db._conn.execute("PRAGMA query_only=ON")
    try:
        yield
    finally:
        async with db._lock:
            assert db._conn is not None
            await db._conn.execute("PRAGMA query_only=OFF")


class FailingWrites:
    """The repository's connection when one kind of write fails as SQLite fails it."""

    def __init__(self, real: Any, error: str, statement: str, times: int | None) -> None:
        self._real = real
        self._error = error
        self._statement = statement
        self._times = times
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _check(self, sql: str) -> None:
        if self._times is not None and self.failures >= self._times:
            return
        if " ".join(sql.split()).upper().startswith(self._statement):
            self.failures += 1
            raise sqlite3.OperationalError(self._error)

    async def execute(self, sql: str, parameters: Any = None) -> Any:
        self._check(sql)
        return await self._real.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Any) -> Any:
        self._check(sql)
        return await self._real.executemany(sql, parameters)

    async def executescript(self, script: str) -> Any:
        # A write that may be lost goes in one script with its PRAGMAs (Database.write_one):
        # it fails where its statement would, after the first PRAGMA ran, as in SQLite.
        statements = script.split(";")
        for n, statement in enumerate(statements):
            try:
                self._check(statement)
            except sqlite3.OperationalError:
                if n:
                    await self._real.executescript(";".join(statements[:n]))
                raise
        return await self._real.executescript(script)


@contextlib.asynccontextmanager
async def failing(
    world: World, error: str, statement: str, times: int | None = None
) -> AsyncIterator[FailingWrites]:
    """Make the writes starting with `statement` fail with SQLite's `error` (`times` times)."""
    db = world.db
    real = db._conn
    fake = FailingWrites(real, error, statement, times)
    db._conn = fake  # type: ignore[assignment]
    try:
        yield fake
    finally:
        db._conn = real
    assert fake.failures >= 1


SQLITE_ERRORS = {
    "full": "database or disk is full",
    "read-only": "attempt to write a readonly database",
    "locked": "database is locked",
}


async def review_with_a_photo(lan: Person) -> dict[str, Any]:
    await to_evidence(lan)
    await lan.send_photo(b"\xff\xd8\xff\xe0 receipt \xff\xd9", expect="Đã nhận 1 tệp")
    await lan.press("Xong", expect="ẩn danh")
    return await lan.press("Ẩn danh", expect="kiểm tra")


async def outage_noticed(caplog: pytest.LogCaptureFixture) -> None:
    """Wait until the poller has met the refusing database at least once."""
    await eventually(
        lambda: any("getUpdates failed" in r.getMessage() for r in caplog.records), wait=10
    )


@pytest.mark.parametrize(
    ("outage", "action"),
    [
        pytest.param(locked, "answer", id="locked-answer"),
        pytest.param(read_only, "confirm", id="read-only-confirm"),
    ],
)
async def test_a_database_refusing_every_write_delays_the_citizen_but_loses_nothing(
    world: World,
    caplog: pytest.LogCaptureFixture,
    outage: Callable[[World], contextlib.AbstractAsyncContextManager[None]],
    action: str,
) -> None:
    lan = world.person(732001, "Lan")
    if action == "answer":
        await to_description(lan)
    else:
        await review_with_a_photo(lan)
    await settled(world)
    before = await draft_of(world, lan.id)
    counts = table_counts(world)
    mark = len(lan.messages)
    async with outage(world):
        if action == "answer":
            await lan.user.send(DESCRIPTION)
        else:
            await lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        await outage_noticed(caplog)
        assert await draft_of(world, lan.id) == before
    assert table_counts(world) == counts

    # Once writes are accepted again, the held-back update is handled, exactly once.
    if action == "answer":
        await world.sim.wait_for_message(lan.id, contains="bằng chứng", after=mark, timeout=10)
        draft = await draft_of(world, lan.id)
        assert draft.step == 11 and draft.fields.description == DESCRIPTION
        assert draft.fields.unit_code == "HL" and draft.fields.category == before.fields.category
    else:
        told = await world.sim.wait_for_message(lan.id, contains="/status", after=mark, timeout=10)
        report = await report_of(world, code_in(told["text"]))
        assert report.fields == before.fields
        assert len(await world.db.reports.report_attachments(report.id)) == 1
        assert table_counts(world)["reports"] == 1
    await quiet(world, lan.id)
    # The notice sent during the outage aside, the held-back update got its normal answer.
    said = [m["text"] for m in lan.messages[mark:] if UNAVAILABLE not in m["text"]]
    if action == "answer":
        assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    else:
        assert len([text for text in said if "/status" in text]) == 1, said
    assert not any(WENT_WRONG in text for text in said), said


async def test_while_the_database_refuses_every_write_the_citizen_is_told(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    lan = world.person(732101, "Lan")
    await to_description(lan)
    await settled(world)
    async with read_only(world):
        mark = len(lan.messages)
        await lan.user.send(DESCRIPTION)
        await outage_noticed(caplog)
        await asyncio.sleep(0.5)
        said = [m["text"] for m in lan.messages[mark:]]
    # Told something, at least: that the message could not be taken now (see on_error).
    assert said, "silence while the database refuses writes"


@pytest.mark.parametrize("error", SQLITE_ERRORS.values(), ids=SQLITE_ERRORS.keys())
async def test_a_refused_answer_asks_to_send_again_and_keeps_the_draft(
    world: World, error: str
) -> None:
    lan = world.person(732201, "Lan")
    await to_description(lan)
    before = await draft_of(world, lan.id)
    counts = table_counts(world)
    async with failing(world, error, "INSERT INTO DRAFTS"):
        said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and NOT_SAVED in said[0], said
    assert await draft_of(world, lan.id) == before
    assert table_counts(world) == counts
    # Sent again, the answer is taken once, and the refused one is not replayed on top of it.
    said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == DESCRIPTION


@pytest.mark.parametrize("error", SQLITE_ERRORS.values(), ids=SQLITE_ERRORS.keys())
async def test_a_refused_confirm_leaves_nothing_half_written(world: World, error: str) -> None:
    lan = world.person(732301, "Lan")
    await review_with_a_photo(lan)
    before = await draft_of(world, lan.id)
    files = await world.db.drafts.draft_attachments(lan.id)
    counts = table_counts(world)
    # The outbox row is the last insert of the sending transaction: the report, its reporter,
    # its evidence and its history are written by then, and must all be rolled back.
    async with failing(world, error, "INSERT INTO OUTBOX"):
        confirm = lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        said = await said_after(world, lan.user, confirm)
    # The apology, then the review again with its Send button.
    assert len(said) == 2 and NOT_SAVED in said[0] and "kiểm tra" in said[1], said
    assert table_counts(world) == counts
    assert counts["reports"] == 0 and counts["draft_files"] == 1
    assert await draft_of(world, lan.id) == before
    assert await world.db.drafts.draft_attachments(lan.id) == files

    # Trying again once the database is back: exactly one complete report.
    await lan.say("/report", expect="kiểm tra")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    report = await report_of(world, code)
    assert report.fields == before.fields
    assert [a.file_id for a in await world.db.reports.report_attachments(report.id)] == [
        f.file_id for f in files
    ]
    after_all = table_counts(world)
    assert (after_all["reports"], after_all["reporters"], after_all["drafts"]) == (1, 1, 0)
    assert (after_all["report_files"], after_all["draft_files"]) == (1, 0)
    assert [e.action for e in await world.db.reports.audit_of(report.id)] == ["submitted"]


async def test_after_a_refused_confirm_the_send_button_is_still_there(world: World) -> None:
    lan = world.person(732401, "Lan")
    await review_with_a_photo(lan)
    async with failing(world, SQLITE_ERRORS["full"], "INSERT INTO OUTBOX"):
        mark = len(lan.messages)
        await lan.user.press(lan.with_button("Gửi phản ánh"), CONFIRM_DATA)
        await world.sim.wait_for_message(lan.id, contains=NOT_SAVED, after=mark)
        await quiet(world, lan.id)
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    assert (await report_of(world, code)).status == Status.NEW


async def to_when(person: Person) -> None:
    await to_unit(person)
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")


Walk = Callable[[Person], Awaitable[Any]]
REPLAYED: dict[str, tuple[Walk, Walk, Walk]] = {
    # The walk there, the answer whose update is not forgotten, the citizen's next answer.
    "text-answer": (
        to_description,
        lambda lan: lan.say(DESCRIPTION, expect="bằng chứng"),
        lambda lan: lan.press("Bỏ qua", expect="ẩn danh"),
    ),
    "button": (
        to_when,
        lambda lan: lan.press("Hôm nay", expect="ở đâu"),
        lambda lan: lan.press("Bỏ qua", expect="Mô tả"),
    ),
}


@pytest.mark.parametrize("case", REPLAYED.keys())
async def test_a_lock_on_forgetting_a_handled_update_is_invisible_to_the_citizen(
    world: World, case: str
) -> None:
    walk, act, then = REPLAYED[case]
    lan = world.person(732501, "Lan")
    await walk(lan)
    await settled(world)
    mark = len(world.sim.calls)
    # The handler's own writes go through; another process takes the lock just before the
    # handled update is deleted from the inbound table.
    async with failing(world, SQLITE_ERRORS["locked"], "DELETE FROM INBOUND", times=1) as fake:
        await act(lan)
        await eventually(lambda: fake.failures == 1)
    await then(lan)
    await settled(world)
    await quiet(world, lan.id)
    # One message (sent, or the pressed question edited) per answer: nothing shown twice.
    said = world.sim.message_calls(lan.id, after=mark)
    assert len(said) == 2, said


# -- what a person is owed when Telegram fails at the wrong moment -----------------------------


async def test_a_502_on_every_step_of_a_report_loses_no_question_and_no_code(
    world: World,
) -> None:
    # Defect class: replies a person waits for were sent once, and a failure left them
    # waiting for good. Every step here meets one 502 before its reply gets through.
    lan = world.person(733101, "Lan")
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: lan.say("/start", expect="đồng ý", wait=10),
        lambda: lan.press("Tôi đồng ý", expect="Chọn loại", wait=10),
        lambda: lan.press("Thái độ", expect="đơn vị", wait=10),
        lambda: lan.say("ha long", expect="ha long", wait=10),
        lambda: lan.press("UBND phường Hạ Long", expect="cán bộ", wait=10),
        lambda: lan.press("Bỏ qua", expect="khi nào", wait=10),
        lambda: lan.press("Hôm nay", expect="ở đâu", wait=10),
        lambda: lan.press("Bỏ qua", expect="Mô tả", wait=10),
        lambda: lan.say(DESCRIPTION, expect="bằng chứng", wait=10),
        lambda: lan.press("Bỏ qua", expect="ẩn danh", wait=10),
        lambda: lan.press("Ẩn danh", expect="kiểm tra", wait=10),
        lambda: lan.press("Gửi phản ánh", expect="/status", wait=20),
    ]
    for step in steps:
        world.sim.inject("sendMessage", status=502, chat_id=lan.id, times=1)
        world.sim.inject("editMessageText", status=502, chat_id=lan.id, times=1)
        await step()
        world.sim.clear_injections()
    assert await world.db.reports.count_reports() == 1
    assert not any(WENT_WRONG in m["text"] for m in lan.messages)


async def test_an_alert_whose_answer_is_lost_twice_arrives_marked_as_resent(
    world: World,
) -> None:
    # Defect class: a part Telegram accepted but the bot never heard back about.
    world.sim.inject("sendMessage", status=200, chat_id=HA_LONG_CHAT, lose_answer=True, times=2)
    code = await quick_report(world.person(733201, "Hải"))
    await eventually(
        lambda: len([m for m in world.sim.messages(HA_LONG_CHAT) if code in m["text"]]) == 3,
        wait=20,
    )
    copies = [m["text"] for m in world.sim.messages(HA_LONG_CHAT) if code in m["text"]]
    assert "gửi lại" not in copies[0]
    assert all(text.startswith("🔁 (gửi lại)") for text in copies[1:])


async def test_a_banned_reporter_cannot_be_asked_through_the_ask_button(world: World) -> None:
    # Defect class: a question sent to someone whose answers the bot would drop.
    citizen, code, alert = await reported(world, 733301)
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await world.db.admin.ban(citizen.id, "spam", by=ADMIN_ID)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press_data(world, officer, alert, next(d for t, d in alert["buttons"] if "Hỏi" in t))
    prompt = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="vui lòng trả lời", after=mark
    )
    citizen_mark = len(citizen.messages)
    said = await after(
        world,
        HA_LONG_CHAT,
        officer.send("Anh/chị còn giữ biên lai không?", chat_id=HA_LONG_CHAT, reply_to=prompt),
        "liên lạc",
    )
    assert code in said["text"]
    await quiet(world, citizen.id)
    assert citizen.messages[citizen_mark:] == []


# -- what arrives from Telegram itself ---------------------------------------------------------


async def test_an_unreadable_update_mid_report_is_set_aside_and_the_next_answer_taken(
    world: World,
) -> None:
    lan = world.person(732601, "Lan")
    await to_description(lan)
    mark = len(lan.messages)
    # An update python-telegram-bot cannot read, from the same citizen, then their answer.
    world.sim.queue_raw_update(
        {
            "message": {
                "message_id": 77,
                "date": 1_800_000_000,
                "chat": {"id": lan.id, "type": "private", "first_name": "Lan"},
                "from": {"id": lan.id, "is_bot": False, "first_name": "Lan"},
                "text": DESCRIPTION,
                "reply_markup": {"inline_keyboard": "?"},
            }
        }
    )
    said = await said_after(world, lan.user, lan.user.send(DESCRIPTION))
    assert len(said) == 1 and ASK_EVIDENCE in said[0], said
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == DESCRIPTION
    assert [p.kind for p in await world.db.inbound.quarantined()] == ["message"]
    assert len(lan.messages) == mark + 2


async def test_thirty_messages_pasted_at_once_mid_report_are_read_up_to_the_limit(
    world: World,
) -> None:
    lan = world.person(732701, "Lan")
    await to_description(lan)
    mark = len(lan.messages)
    for n in range(30):
        await lan.user.send(f"{DESCRIPTION} ({n})")
    await eventually(lambda: world.sim.pending_updates == [])
    await settled(world)
    await quiet(world, lan.id)
    said = [m["text"] for m in lan.messages[mark:]]
    # One notice (it goes out on its own, so anywhere among the answers); the first message
    # read is the description, those after it get the evidence hint.
    assert sum("quá nhanh" in text for text in said) == 1, said
    answers = [text for text in said if "quá nhanh" not in text]
    assert ASK_EVIDENCE in answers[0], answers
    # The limit counts the walk's own messages of the last seconds too (/start, the unit).
    read = 1 + sum(SEND_EVIDENCE in text for text in answers)
    assert 15 <= read <= 20, answers
    draft = await draft_of(world, lan.id)
    assert draft.step == 11 and draft.fields.description == f"{DESCRIPTION} (0)"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"update_id": 1000000000000000000000000000000}', 400, id="huge-id"),
        pytest.param(b'{"update_id": false, "message": {}}', 400, id="boolean-id"),
        pytest.param(b'{"update_id": 3, "message": ' + b"[" * 50_000 + b"}", 400, id="nested"),
    ],
)
async def test_a_malformed_webhook_body_is_refused_and_changes_nothing(
    sim: BotApiSimulator, tmp_path: Path, body: bytes, status: int
) -> None:
    secret = "bad-input-secret"
    settings = dataclasses.replace(
        make_settings(sim, tmp_path),
        webhook=WebhookConfig(url="https://bot.invalid/hook", secret_token=secret),
    )
    app = build_application(settings, clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/hook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, content=body, headers=headers)).status_code == status
        assert await services.db.inbound.highest_update_id() is None
