"""Privacy rights: a copy of one's data, erasure, retention, file mode, encryption, clean logs.

Every person, name and number here is invented.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.config import DATA_KEY_ENV, ConfigError, PrivacyConfig, Settings, load_settings
from bot.core.domain import Actor, Attachment, Draft, Report, ReportFields, Status
from bot.core.outbox import AlertPayload, AnswerPayload, Outgoing, StatusNotice
from bot.core.parsing import format_code
from bot.jobs import apply_retention, retention_job
from bot.sealing import unseal
from bot.sim import SimUser
from bot.store.repository import Repository
from tests.conftest import (
    ADMIN_ID,
    ALERT,
    HA_LONG_CHAT,
    UNITS,
    FakeClock,
    Person,
    World,
    code_in,
    current,
    eventually,
    press,
)

OFFICER_HL = 900102
OFFICER_NAME = "Cánbộ Thửnghiệm"
# The reporter of the end-to-end tests: obviously invented.
REPORTER_ID = 731555012
FIRST, LAST, USERNAME = "Testina", "Fakerova", "testina_fake_qx"
PHONE = "+84000555111"
DESCRIPTION = "The desk officer shouted at me and refused to explain which papers were missing."
PHOTO = b"\xff\xd8\xff\xe0" + b"invented receipt" * 20 + b"\xff\xd9"
ROOT = Path(__file__).resolve().parent.parent


# -- helpers --------------------------------------------------------------------------------------


def reporter(world: World) -> Person:
    return world.person(REPORTER_ID, FIRST, language="en", last_name=LAST, username=USERNAME)


def officer(world: World) -> SimUser:
    user = world.sim.add_user(OFFICER_HL, OFFICER_NAME, last_name="Giả")
    world.sim.chat(HA_LONG_CHAT).add_member(user)
    return user


async def reply_in_unit(
    world: World, user: SimUser, to: dict[str, Any], text: str, expect: str
) -> dict[str, Any]:
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await user.send(text, chat_id=HA_LONG_CHAT, reply_to=to)
    return await world.sim.wait_for_message(HA_LONG_CHAT, contains=expect, after=mark)


async def named_report(person: Person, *, photo: bool = True) -> str:
    """Walk a named report with a photo, in English, through to its tracking code."""
    await person.say("/start", expect="agree")
    await person.press("I agree", expect="kind of misconduct")
    await person.press("Improper attitude", expect="Which unit")
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="official")
    await person.press("Skip", expect="When")
    await person.press("Today", expect="Where")
    await person.press("Skip", expect="Describe")
    await person.say(DESCRIPTION, expect="evidence")
    if photo:
        await person.send_photo(PHOTO, expect="Files received")
        await person.press("Done", expect="anonymously")
    else:
        await person.press("Skip", expect="anonymously")
    await person.press("With my name", expect="share your name")
    mark = len(person.messages)
    await person.user.send_contact(PHONE, FIRST, last_name=LAST)
    await person.sim.wait_for_message(person.id, contains="check your report", after=mark)
    confirmation = await person.press("Send report", expect="Tracking code")
    return code_in(confirmation["text"])


async def report_of(world: World, code: str) -> Report:
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    return report


async def outbox_settled(world: World) -> bool:
    return (await world.db.outbox.stats()).get("pending", 0) == 0


def raw_row(path: Path, sql: str, *params: Any) -> tuple[Any, ...]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(sql, params).fetchone()
    finally:
        conn.close()
    assert row is not None
    return tuple(row)


# -- /mydata --------------------------------------------------------------------------------------


async def test_mydata_sends_everything_about_the_user_and_nothing_about_officers(
    world: World,
) -> None:
    person = reporter(world)
    code = await named_report(person)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    hung = officer(world)
    await press(world, hung, alert, "Tiếp nhận")
    await world.sim.wait_for_message(person.id, contains="acknowledged")
    await reply_in_unit(world, hung, alert, "Which day did you come?", "Đã gửi câu hỏi")
    question = await world.sim.wait_for_message(person.id, contains="Which day did you come?")
    await person.user.send("Monday morning, at the one-stop desk.", reply_to=question)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Monday morning")

    mark = len(person.messages)
    await person.user.send("/mydata")
    sent = await world.sim.wait_for_message(
        person.id, predicate=lambda m: "document" in m, after=mark
    )
    assert sent["document"]["file_name"] == "liemchinh-mydata.json"
    raw = world.sim.file_content(sent["document"]["file_id"])
    data = json.loads(raw.decode("utf-8"))
    # Readable as it is: Vietnamese letters are not escaped.
    assert "Hạ Long" in raw.decode("utf-8")

    assert data["user"]["telegram_id"] == REPORTER_ID
    assert data["user"]["language"] == "en"
    assert data["user"]["consented_at"].endswith("+07:00")
    assert data["draft"] is None
    [item] = data["reports"]
    assert item["code"] == code and item["status"] == Status.ACKNOWLEDGED
    assert item["description"] == DESCRIPTION
    assert (item["contact_name"], item["contact_phone"]) == (f"{FIRST} {LAST}", PHONE)
    assert item["anonymous"] is False
    assert item["unit"]["name"] == "UBND phường Hạ Long"
    events = [entry["event"] for entry in item["history"]]
    assert events[:2] == ["submitted", "acknowledged"] and "asked" in events
    assert all(entry["at"].endswith("+07:00") for entry in item["history"])
    messages = [(m["direction"], m["text"]) for m in item["messages"]]
    assert messages == [
        ("question_from_unit", "Which day did you come?"),
        ("your_answer", "Monday morning, at the one-stop desk."),
    ]
    [evidence] = item["evidence"]
    assert evidence["kind"] == "photo" and evidence["size"] == len(PHOTO)

    # Nothing about the people inside the unit, and no Telegram handles.
    text = raw.decode("utf-8")
    for trace in (OFFICER_NAME, "Giả", str(OFFICER_HL), "file_id", "message_id", "chat_id"):
        assert trace not in text, trace


async def test_mydata_includes_an_unfinished_report(world: World) -> None:
    person = reporter(world)
    await person.say("/start", expect="agree")
    await person.press("I agree", expect="kind of misconduct")
    await person.press("Improper attitude", expect="Which unit")
    mark = len(person.messages)
    await person.user.send("/mydata")
    sent = await world.sim.wait_for_message(
        person.id, predicate=lambda m: "document" in m, after=mark
    )
    data = json.loads(world.sim.file_content(sent["document"]["file_id"]))
    assert data["draft"]["answers"]["category"] == "conduct"
    assert data["reports"] == []
    # The command did not move the report on: the next answer is still the unit.
    await person.say("ha long", expect="Units matching")


# -- /forget --------------------------------------------------------------------------------------


@pytest.mark.both_backends
async def test_forget_erases_personal_data_and_keeps_the_report_for_the_unit(
    world: World,
) -> None:
    person = reporter(world)
    code = await named_report(person)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    hung = officer(world)
    await reply_in_unit(world, hung, alert, "Which day did you come?", "Đã gửi câu hỏi")
    question = await world.sim.wait_for_message(person.id, contains="Which day did you come?")
    await person.user.send("Monday morning.", reply_to=question)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Monday morning.")
    # A second report in progress, with a file.
    await person.say("/report", expect="kind of misconduct")
    await person.press("Delay", expect="Which unit")
    report = await report_of(world, code)
    await eventually(lambda: outbox_settled(world))

    asked = await person.say("/forget", expect="erase your personal data")
    for promise in ("Erased", "Kept", "no longer receive updates", "/status", "/mydata"):
        assert promise in asked["text"], promise
    await person.press("No, keep it", expect="Nothing was erased")
    assert await world.db.reports.is_reporter(report.id, person.id)

    await person.say("/forget", expect="erase your personal data")
    done = await person.press("Yes, erase my data", expect="has been erased")
    assert "Yes, erase" not in str(current(world, asked).get("buttons"))
    assert "stay with the units" in done["text"]

    db = world.db
    assert not await db.reports.is_reporter(report.id, person.id)
    assert await db.reports.reporter_chat(report.id) is None
    assert await db.drafts.get_draft(person.id) is None
    assert await db.drafts.draft_attachments(person.id) == []
    assert await db.users.user_locale(person.id) is None
    kept = await report_of(world, code)
    assert kept.fields.description == DESCRIPTION and kept.status == Status.NEW
    assert kept.fields.contact_name is None and kept.fields.contact_phone is None
    assert kept.fields.anonymous is False
    last = (await db.reports.audit_of(report.id))[-1]
    assert (last.action, last.actor.kind, last.actor.id, last.to_status) == (
        "forgotten",
        "citizen",
        None,
        None,
    )
    # No trace of the person's chat on the evidence or the answers.
    assert {(a.chat_id, a.message_id) for a in await db.reports.report_attachments(report.id)} == {
        (0, 0)
    }
    answers = [r for r in await db.links.relays_of(report.id) if r.direction == "to_unit"]
    assert [(r.source_chat_id, r.text) for r in answers] == [(0, "Monday morning.")]

    # A stranger now: no report found, and consent is asked again.
    answer = await person.say(f"/status {code}", expect="No report with the code")
    assert "Hạ Long" not in answer["text"]
    await person.say("/report", expect="Do you agree")

    # The unit still handles the report; nothing reaches the person any more.
    mark = len(person.messages)
    await press(world, hung, alert, "Tiếp nhận")
    assert (await report_of(world, code)).status == Status.ACKNOWLEDGED
    await eventually(lambda: "Đơn vị đã tiếp nhận" in current(world, alert)["text"])
    # The officer is told the reporter can no longer be reached, instead of a false "sent".
    await reply_in_unit(world, hung, alert, "Is the receipt still with you?", "Không còn liên lạc")
    await eventually(lambda: outbox_settled(world))
    assert person.messages[mark:] == []


async def test_evidence_of_a_forgotten_reporter_still_reaches_a_new_alert(world: World) -> None:
    person = reporter(world)
    code = await named_report(person)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    # One photo and a short text: the alert is the photo's caption.
    assert "photo" in alert
    await person.say("/forget", expect="erase your personal data")
    await person.press("Yes, erase my data", expect="has been erased")
    report = await report_of(world, code)
    # An alert sent again (as a transfer or an escalation would) copies the evidence anew.
    await world.db.outbox.add(Outgoing(AlertPayload(), "HL", report_id=report.id))
    world.app.bot_data["services"].delivery.wake()
    mark = len(world.sim.messages(HA_LONG_CHAT))
    photo = await world.sim.wait_for_message(
        HA_LONG_CHAT, predicate=lambda m: "photo" in m, after=mark
    )
    assert code in photo.get("caption", "")
    assert alert["message_id"] != photo["message_id"]
    await eventually(lambda: outbox_settled(world))
    assert (await world.db.outbox.stats()).get("failed", 0) == 0


# -- retention ------------------------------------------------------------------------------------


def settings_for(path: Path, **privacy: int) -> Settings:
    return Settings(
        path=path / "config.toml",
        token=None,
        database=path / "bot.db",
        privacy=PrivacyConfig(**privacy),
    )


async def stored_report(
    db: Repository, user_id: int, *, anonymous: bool = True, evidence: bool = True
) -> Report:
    """Store a report as if a citizen had sent it, with one piece of evidence."""
    fields = ReportFields(
        category="conduct",
        unit_code="HL",
        description="Invented account: the officer was rude and sent people away.",
        anonymous=anonymous,
        contact_name=None if anonymous else "Người Thử Nghiệm",
        contact_phone=None if anonymous else PHONE,
    )
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    if evidence:
        await db.drafts.add_draft_attachment(
            user_id, Attachment("photo", f"file-{user_id}", f"u-{user_id}", 10, user_id, 77)
        )
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return report


async def close(db: Repository, report: Report, to: Status, *, tell: bool = False) -> None:
    done = await db.reports.transition(
        report.id,
        actor=Actor("officer", OFFICER_HL, OFFICER_NAME),
        action=to.value,
        to=to,
        changes={"closed_at": db.clock()},
        outbox=[Outgoing(StatusNotice())] if tell else (),
    )
    assert done is not None


async def deliver_all(db: Repository, kind: str | None = None) -> None:
    for item in await db.outbox.due(limit=500):
        if kind is None or item.kind == kind:
            await db.outbox.done(item.id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def repo(
    tmp_path: Path, clock: FakeClock, database_url: str | None
) -> AsyncIterator[Repository]:
    async with Repository(tmp_path / "bot.db", clock=clock, url=database_url) as db:
        await db.units.seed_units(UNITS)
        yield db


@pytest.mark.both_backends
async def test_retention_unlinks_closed_anonymous_reports_after_the_period(
    repo: Repository, clock: FakeClock, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, reporter_link_days=30, draft_days=30)
    resolved = await stored_report(repo, 810001)
    named = await stored_report(repo, 810002, anonymous=False)
    still_open = await stored_report(repo, 810003)
    owed = await stored_report(repo, 810004)
    # The anonymous reporter answered a question; the answer waits for its unit's chat.
    await repo.links.add_relay(
        resolved.id,
        direction="to_unit",
        kind="photo",
        text="Invented answer",
        source_chat_id=810001,
        source_message_id=91,
        actor=Actor("citizen"),
        outgoing=Outgoing(AnswerPayload(), "HL"),
    )
    await deliver_all(repo, "alert")
    await close(repo, resolved, Status.RESOLVED)
    await close(repo, named, Status.RESOLVED)
    await close(repo, owed, Status.DECLINED, tell=True)  # its notice is not delivered yet
    await repo.drafts.save_draft(Draft(820001, 820001, 3, ReportFields(category="delay")))
    await repo.drafts.add_draft_attachment(820001, Attachment("photo", "f", "u", 5, 820001, 3))

    clock.advance(days=20)
    await repo.drafts.save_draft(Draft(820002, 820002, 2, ReportFields(category="bribe")))
    assert await apply_retention(repo, settings) == {
        "reporter_links": 0,
        "drafts": 0,
        "chat_references": 0,
        "identities": 0,
        # The daily limit's counts of the four reports, sent 20 days ago.
        "limit_counts": 4,
    }

    clock.advance(days=11)
    counts = await apply_retention(repo, settings)
    assert counts["reporter_links"] == 1 and counts["drafts"] == 1
    assert await repo.reports.reporter_chat(resolved.id) is None
    assert await repo.reports.reporter_chat(named.id) == 810002
    assert await repo.reports.reporter_chat(still_open.id) == 810003
    assert await repo.reports.reporter_chat(owed.id) == 810004
    assert await repo.drafts.get_draft(820001) is None
    assert await repo.drafts.draft_attachments(820001) == []
    assert await repo.drafts.get_draft(820002) is not None
    # The unlinked report keeps its evidence, without the reporter's chat.
    [evidence] = await repo.reports.report_attachments(resolved.id)
    assert (evidence.chat_id, evidence.file_id) == (0, "file-810001")
    [kept] = await repo.reports.report_attachments(named.id)
    assert kept.chat_id == 810002
    # The answer not yet copied to the unit keeps its source until it is delivered.
    [answer] = await repo.links.relays_of(resolved.id)
    assert answer.source_chat_id == 810001

    await deliver_all(repo)
    counts = await apply_retention(repo, settings)
    assert counts["reporter_links"] == 1  # the declined one, now that it was told
    assert await repo.reports.reporter_chat(owed.id) is None
    [answer] = await repo.links.relays_of(resolved.id)
    assert (answer.source_chat_id, answer.source_message_id, answer.text) == (
        0,
        0,
        "Invented answer",
    )
    # The reports themselves stay whole.
    assert await repo.reports.get_report(resolved.id) is not None
    kept_named = await repo.reports.get_report(named.id)
    assert kept_named is not None and kept_named.fields.contact_phone == PHONE


@pytest.mark.both_backends
async def test_retention_of_zero_days_unlinks_at_the_next_run(
    repo: Repository, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, reporter_link_days=0)
    report = await stored_report(repo, 810011, evidence=False)
    assert (await apply_retention(repo, settings))["reporter_links"] == 0  # still open
    await close(repo, report, Status.DECLINED)
    assert (await apply_retention(repo, settings))["reporter_links"] == 1
    assert not await repo.reports.is_reporter(report.id, 810011)


async def test_the_hourly_job_logs_counts_and_no_ids(
    repo: Repository, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = await stored_report(repo, 810021)
    await close(repo, report, Status.RESOLVED)
    context = SimpleNamespace(db=repo, settings=settings_for(tmp_path, reporter_link_days=0))
    with caplog.at_level(logging.INFO, logger="bot.jobs"):
        await retention_job(context)  # type: ignore[arg-type]
    assert "retention: 1 reporter links" in caplog.text
    assert "810021" not in caplog.text
    assert not await repo.reports.is_reporter(report.id, 810021)


# -- the database file ----------------------------------------------------------------------------


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_database_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "fresh.db"
    previous = os.umask(0o022)
    try:
        async with Repository(path) as db:
            await db.units.seed_units(UNITS)
            for name in (path, f"{path}-wal", f"{path}-shm"):
                assert mode(name) == 0o600, name
    finally:
        os.umask(previous)

    # A database made by an earlier version, readable by everyone, is tightened.
    legacy = tmp_path / "legacy.db"
    conn = sqlite3.connect(legacy)
    conn.execute("CREATE TABLE earlier (x)")
    conn.close()
    legacy.chmod(0o644)
    async with Repository(legacy) as db:
        await db.units.seed_units(UNITS)
        assert mode(legacy) == 0o600
        assert mode(f"{legacy}-wal") == 0o600


# -- encryption at rest ---------------------------------------------------------------------------


@pytest.mark.both_backends
async def test_contacts_are_encrypted_at_rest_with_a_key(
    repo: Repository, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    report = await stored_report(repo, 830001, anonymous=False, evidence=False)
    async with repo._read() as conn:
        stored = await (
            await conn.execute(
                "SELECT contact_name, contact_phone FROM reports WHERE id = ?", (report.id,)
            )
        ).fetchone()
    name, phone = stored
    assert name.startswith("fernet:") and phone.startswith("fernet:")
    assert PHONE not in phone and "Thử" not in name
    # Read back in full wherever the application reads reports.
    found = await repo.reports.get_report(report.id)
    assert found is not None and found.fields.contact_phone == PHONE
    assert found.fields.contact_name == "Người Thử Nghiệm"
    [row] = await repo.reports.report_rows(None, None, None, contacts=True)
    assert row["contact_phone"] == PHONE

    # Values stored before the key was set still read as they are.
    async with repo._write() as conn:
        await conn.execute(
            "UPDATE reports SET contact_phone = '+84000555222' WHERE id = ?", (report.id,)
        )
    found = await repo.reports.get_report(report.id)
    assert found is not None and found.fields.contact_phone == "+84000555222"
    # Another key cannot read them: nothing rather than ciphertext, and no crash.
    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    assert unseal(name) is None


async def test_without_a_key_contacts_are_plain(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_KEY_ENV, raising=False)
    report = await stored_report(repo, 830002, anonymous=False, evidence=False)
    _name, phone = raw_row(
        repo.path, "SELECT contact_name, contact_phone FROM reports WHERE id = ?", report.id
    )
    assert phone == PHONE


@pytest.mark.both_backends
async def test_admins_still_see_an_encrypted_contact(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    report = await stored_report(world.db, 830003, anonymous=False, evidence=False)
    admin = world.sim.user(ADMIN_ID)
    mark = len(world.sim.messages(ADMIN_ID))
    await admin.send(f"/report {format_code(report.code)}")
    shown = await world.sim.wait_for_message(ADMIN_ID, contains=PHONE, after=mark)
    assert "Người Thử Nghiệm" in shown["text"]


# -- configuration --------------------------------------------------------------------------------

BASE = '[telegram]\ntoken = "123:invented"\n[storage]\ndatabase = "x.db"\n'


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


def test_privacy_periods_are_read_with_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_KEY_ENV, raising=False)
    assert load_settings(config(tmp_path)).privacy == PrivacyConfig(30, 30)
    settings = load_settings(
        config(tmp_path, "[privacy]\nreporter_link_days = 0\ndraft_days = 7\n")
    )
    assert settings.privacy == PrivacyConfig(reporter_link_days=0, draft_days=7)


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("[privacy]\nreporter_link_day = 3\n", "privacy.reporter_link_day", "unknown key"),
        ("[privacy]\nreporter_link_days = -1\n", "privacy.reporter_link_days", "0 to 3650"),
        ("[privacy]\nreporter_link_days = true\n", "privacy.reporter_link_days", "whole"),
        ("[privacy]\ndraft_days = 0\n", "privacy.draft_days", "1 to 365"),
        ("[privacy]\ndraft_days = '30'\n", "privacy.draft_days", "whole number"),
        ("privacy = 3\n", "privacy", "must be a table"),
    ],
)
def test_bad_privacy_settings_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, key: str, words: str
) -> None:
    monkeypatch.delenv(DATA_KEY_ENV, raising=False)
    text = extra + BASE if extra.startswith("privacy =") else BASE + extra
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == key and words in caught.value.message
    assert "\n" not in str(caught.value)


def test_data_key_must_be_a_fernet_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path)
    monkeypatch.setenv(DATA_KEY_ENV, "not-a-key")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert (caught.value.key, caught.value.message) == (DATA_KEY_ENV, "is not a valid Fernet key")
    # A new key followed by the one it replaces is accepted.
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    monkeypatch.setenv(DATA_KEY_ENV, keys)
    assert load_settings(path).privacy == PrivacyConfig()


def test_example_config_documents_privacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_KEY_ENV, raising=False)
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "[privacy]" in text and DATA_KEY_ENV in text
    settings = load_settings(ROOT / "config.example.toml", require_token=False)
    assert settings.privacy == PrivacyConfig()


async def test_privacy_command_states_the_configured_periods(world: World) -> None:
    person = world.person(731555013, "Invented", language="en")
    answer = await person.say("/privacy", expect="How long")
    text = answer["text"]
    assert "30 days after the report is closed" in text
    assert "after 30 days without an answer" in text
    assert "/mydata" in text and "/forget" in text


# -- logs -----------------------------------------------------------------------------------------


class Capture(logging.Handler):
    """Keep every record as the log would show it, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stream = io.StringIO()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Log as `liemchinh run` does (bot/cli.py), with our own code at DEBUG besides.

    Not the libraries at DEBUG: python-telegram-bot then logs every API call with its
    parameters (chat ids, texts), which no production log level must ever enable.
    """
    root = logging.getLogger()
    levels = {
        name: logging.getLogger(name).level
        for name in ("", "httpx", "apscheduler", "bot", "handlers")
    }
    handler = Capture()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("bot").setLevel(logging.DEBUG)
    logging.getLogger("handlers").setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_no_personal_data_in_the_log(world: World, captured: Capture) -> None:
    person = reporter(world)
    code = await named_report(person)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    hung = officer(world)
    await press(world, hung, alert, "Tiếp nhận")
    await world.sim.wait_for_message(person.id, contains="acknowledged")
    await reply_in_unit(world, hung, alert, "Which day did you come?", "Đã gửi câu hỏi")
    question = await world.sim.wait_for_message(person.id, contains="Which day")
    await person.user.send("Monday morning.", reply_to=question)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Monday morning.")
    await eventually(lambda: "🏁 Đã giải quyết" in str(current(world, alert).get("buttons")))
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, hung, alert, "Đã giải quyết")
    prompt = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="vui lòng trả lời", after=mark
    )
    await reply_in_unit(world, hung, prompt, "The officer apologised in writing.", "Đã cập nhật")
    await world.sim.wait_for_message(person.id, contains="really resolved")
    await person.press("Yes, resolved", expect="How would you rate")
    await person.user.press_button(person.with_button("⭐⭐⭐⭐⭐"), "⭐⭐⭐⭐⭐")
    report = await report_of(world, code)

    async def rated() -> bool:
        found = await world.db.reports.get_report(report.id)
        return found is not None and found.rating == 5

    await eventually(rated)
    await person.say(f"/status {code}", expect=code)
    mark = len(person.messages)
    await person.user.send("/mydata")
    await world.sim.wait_for_message(person.id, predicate=lambda m: "document" in m, after=mark)
    await person.say("/forget", expect="erase your personal data")
    await person.press("Yes, erase my data", expect="has been erased")

    log = captured.stream.getvalue()
    assert "personal data was erased" in log  # the capture works, and erasure is logged
    for trace in (str(REPORTER_ID), FIRST, LAST, USERNAME, PHONE, PHONE.lstrip("+")):
        assert trace not in log, trace
