"""Fixtures: the simulated Bot API, the real application against it, and people to chat."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_application, running
from bot.config import Settings, UnitConfig
from bot.core.conversation import CONFIRM, Step
from bot.core.domain import VN_TZ
from bot.core.outbox import AlertPayload, Outgoing
from bot.sim import BotApiSimulator, SimUser
from bot.sim.zalo import ZaloSimulator
from bot.store.inbound import InboundStore
from bot.store.repository import Repository
from bot.telegram.callbacks import ReportAnswer
from tests.pgserver import PostgresServer, binaries

ADMIN_ID = 900001
PROVINCE_CHAT = -1001000000001
HA_LONG_CHAT = -1001000000002
DONG_TRIEU_CHAT = -1001000000003
VAN_DON_CHANNEL = -1001000000005

UNITS = (
    UnitConfig("QN", "UBND tỉnh Quảng Ninh", None, PROVINCE_CHAT, (900101,)),
    UnitConfig("HL", "UBND phường Hạ Long", "QN", HA_LONG_CHAT, (900102,)),
    UnitConfig("DT", "UBND phường Đông Triều", "QN", DONG_TRIEU_CHAT, (900103,)),
    UnitConfig("VD", "UBND đặc khu Vân Đồn", "QN", None),
    UnitConfig("VD-MC", "Bộ phận Một cửa Vân Đồn", "VD", VAN_DON_CHANNEL, (900105,)),
)

# Monday 30 November 2026, 09:00 in Vietnam: deadlines below are counted from here.
START = datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ).timestamp()


class FakeClock:
    """The bot's clock in tests: it starts at START, runs, and jumps when a test says so.

    It keeps running because retry delays (a 429's retry_after) are waited out in real time.
    """

    def __init__(self, now: float = START) -> None:
        self.offset = now - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, *, days: float = 0, hours: float = 0) -> None:
        self.offset += days * 86400 + hours * 3600

    def set(self, moment: float) -> None:
        self.offset = moment - time.time()


# What the workflow queues with a new report: its alert to the report's unit. Tests that store
# reports straight through the repository pass it the same way.
ALERT = (Outgoing(AlertPayload()),)

# The review's Send button, for tests that press it twice or at a chosen moment.
CONFIRM_DATA = ReportAnswer.of(Step.REVIEW, CONFIRM).pack()


def answer_data(step: Step, value: str) -> str:
    """Return the callback data of one of the report's buttons."""
    return ReportAnswer.of(step, value).pack()


CODE_RE = re.compile(r"\b([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")


def make_settings(
    sim: BotApiSimulator, tmp_path: Path, database_url: str | None = None
) -> Settings:
    """Return settings for the test units, pointed at the simulator (and at PostgreSQL)."""
    return Settings(
        path=tmp_path / "config.toml",
        token=sim.token,
        database=tmp_path / "bot.db",
        database_url=database_url,
        base_url=sim.base_url,
        base_file_url=sim.base_file_url,
        admins=frozenset({ADMIN_ID}),
        default_locale="vi",
        units=UNITS,
        # The simulated Telegram of the tests does not limit the overall rate (the benchmark's
        # does): the tests run at the pace of bots allowed paid broadcasts.
        messages_per_second=1000,
        pace_private_chats=False,
    )


def add_unit_chats(sim: BotApiSimulator) -> None:
    """Create each unit's channel or group on the simulated Telegram."""
    for unit in UNITS:
        if unit.chat_id is not None:
            # Hạ Long's is a basic group, the kind Telegram may upgrade to a supergroup;
            # Vân Đồn's one-stop shop uses a channel.
            kind = {HA_LONG_CHAT: "group", VAN_DON_CHANNEL: "channel"}.get(
                unit.chat_id, "supergroup"
            )
            sim.add_chat(unit.chat_id, unit.name, type=kind)


# ------------------------------------------------------------------------- both databases

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run the test on SQLite and on a throwaway PostgreSQL server"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests marked both_backends that take `database_url` run once on each database;
    # LIEMCHINH_TEST_BACKENDS=all runs every test that takes it on both.
    if "database_url" not in metafunc.fixturenames:
        return
    everywhere = os.environ.get("LIEMCHINH_TEST_BACKENDS") == "all"
    if everywhere or metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start one throwaway PostgreSQL server for the session; stopped and removed at the end."""
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's binaries are missing: .ci/run should have installed them")
        pytest.skip("PostgreSQL's binaries are not installed (.ci/run installs them)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def database_url(request: pytest.FixtureRequest) -> str | None:
    """Return a fresh PostgreSQL database's URL, or None for SQLite (the default)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.new_database()


@pytest.fixture
async def sim() -> AsyncIterator[BotApiSimulator]:
    async with BotApiSimulator() as simulator:
        add_unit_chats(simulator)
        simulator.add_user(ADMIN_ID, "Quản trị", language_code="vi")
        yield simulator


@dataclass
class World:
    """A running bot and its simulated Telegram."""

    sim: BotApiSimulator
    app: App
    settings: Settings
    clock: FakeClock

    @property
    def db(self) -> Repository:
        return self.app.bot_data["services"].db

    def person(self, user_id: int, name: str, language: str = "vi", **kw: Any) -> Person:
        return Person(self.sim, self.sim.add_user(user_id, name, language_code=language, **kw))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def world(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock, database_url: str | None
) -> AsyncIterator[World]:
    settings = make_settings(sim, tmp_path, database_url)
    app = build_application(settings, clock=clock)
    async with running(app):
        yield World(sim, app, settings, clock)


class Person:
    """A citizen in a private chat with the bot, as a test drives it."""

    def __init__(self, sim: BotApiSimulator, user: SimUser) -> None:
        self.sim = sim
        self.user = user
        self.id = user.id

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.sim.messages(self.id)

    async def _after(
        self, action: Callable[[], Any], expect: str | None, wait: float
    ) -> dict[str, Any]:
        mark = len(self.messages)
        await action()
        return await self.sim.wait_for_message(self.id, contains=expect, after=mark, timeout=wait)

    async def say(self, text: str, expect: str | None = None, wait: float = 5.0) -> dict[str, Any]:
        """Send text and return the first bot message after it (containing `expect`)."""
        return await self._after(lambda: self.user.send(text), expect, wait)

    async def press(
        self, fragment: str, expect: str | None = None, wait: float = 5.0
    ) -> dict[str, Any]:
        """Press the newest button whose label contains `fragment`; return the bot's answer:
        a new message, or the pressed one edited into the next question (containing `expect`).
        """
        message = dict(self.with_button(fragment))
        mark = len(self.messages)
        await self.user.press_button(message, fragment)
        return await self.sim.wait_for_reply(
            self.id, message, contains=expect, after=mark, timeout=wait
        )

    async def send_photo(self, content: bytes, expect: str | None = None) -> dict[str, Any]:
        return await self._after(lambda: self.user.send_photo(content=content), expect, 5.0)

    async def send_document(
        self, name: str, content: bytes, expect: str | None = None
    ) -> dict[str, Any]:
        return await self._after(
            lambda: self.user.send_document(name, content=content), expect, 5.0
        )

    async def browse(self, fragment: str, until_button: str) -> None:
        """Press a button that edits its own message, until `until_button` shows up."""
        message = self.with_button(fragment)
        await self.user.press_button(message, fragment)
        await eventually(lambda: self.has_button(until_button))

    def has_button(self, fragment: str) -> bool:
        try:
            self.with_button(fragment)
        except AssertionError:
            return False
        return True

    def with_button(self, fragment: str) -> dict[str, Any]:
        """Return the newest message carrying a button whose label contains `fragment`."""
        for message in reversed(self.messages):
            for label, _data in message.get("buttons") or []:
                if fragment.lower() in label.lower():
                    return message
        texts = [b for m in self.messages[-5:] for b in m.get("buttons") or []]
        raise AssertionError(f"no button {fragment!r}; recent buttons: {texts}")

    def texts(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.messages)


async def walk_to_review(
    person: Person,
    description: str,
    *,
    category: str = "Thái độ",
    unit_query: str = "ha long",
    unit_button: str = "UBND phường Hạ Long",
) -> dict[str, Any]:
    """Consent and answer a short anonymous report up to its review; return the review."""
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")
    await person.press(category, expect="đơn vị")
    await person.say(unit_query, expect=unit_query)
    await person.press(unit_button, expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")
    await person.say(description, expect="bằng chứng")
    await person.press("Bỏ qua", expect="ẩn danh")
    return await person.press("Ẩn danh", expect="kiểm tra")


async def quick_report(person: Person, description: str | None = None) -> str:
    """Walk one short anonymous report to Hạ Long through to its tracking code."""
    await walk_to_review(person, description or "Cán bộ quát tháo người dân khi được hỏi hồ sơ.")
    confirmation = await person.press("Gửi phản ánh", expect="/status")
    return code_in(confirmation["text"])


def code_in(text: str) -> str:
    """Return the tracking code shown in a message."""
    found = CODE_RE.search(text)
    assert found, f"no tracking code in {text!r}"
    return found.group(1)


async def eventually(check: Callable[[], Any], wait: float = 5.0) -> Any:
    """Poll an async or plain check until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def all_deleted(inbound: InboundStore) -> None:
    """Wait until every stored update was handled and its row deleted."""

    async def none_left() -> bool:
        return await inbound.unhandled_updates() == []

    await eventually(none_left)


# -- unit chats and buttons, shared by the officer, admin, privacy and bad-input tests --------


def member(world: World, user_id: int, name: str, chat_id: int = HA_LONG_CHAT) -> SimUser:
    """Add a person to a unit's group, creating them on the simulated Telegram if needed."""
    try:
        user = world.sim.user(user_id)
    except KeyError:
        user = world.sim.add_user(user_id, name, last_name="Văn Cán")
    world.sim.chat(chat_id).add_member(user)
    return user


def current(world: World, message: dict[str, Any]) -> dict[str, Any]:
    """Return the message as it stands now, edits applied."""
    for stored in world.sim.messages(message["chat"]["id"]):
        if stored["message_id"] == message["message_id"]:
            return stored
    raise AssertionError("message gone")


def labels(message: dict[str, Any]) -> list[str]:
    """Return the labels of a message's inline buttons."""
    return [text for text, _data in message.get("buttons") or []]


async def press(world: World, user: SimUser, message: dict[str, Any], label: str) -> str:
    """Press a button and return the bot's answer to the press."""
    query = await user.press_button(current(world, message), label)
    answer = await world.sim.wait_for_callback_answer(query["id"])
    return str(answer.get("text") or "")


async def press_data(world: World, user: SimUser, message: dict[str, Any], data: str) -> str:
    """Press with any callback data at all, as a modified client could."""
    query = await user.press(current(world, message), data, check_button=False)
    answer = await world.sim.wait_for_callback_answer(query["id"])
    return str(answer.get("text") or "")


@pytest.fixture
async def zsim() -> AsyncIterator[ZaloSimulator]:
    """The Zalo Bot API simulator, on 127.0.0.1."""
    async with ZaloSimulator() as simulator:
        yield simulator
