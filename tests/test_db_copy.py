"""`liemchinh db copy`: a SQLite deployment moved into PostgreSQL, with nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import build_application, running
from bot.cli import main
from bot.core.domain import Actor, Attachment, Channel, Draft, ReportFields
from bot.core.outbox import Outgoing, StatusNotice
from bot.sealing import DATA_KEY_ENV
from bot.sim import BotApiSimulator
from bot.store.repository import Repository
from tests.conftest import ALERT, FakeClock, World, make_settings, quick_report
from tests.pgserver import PostgresServer

PHONE = "+84000555111"
PDF = b"%PDF-1.4 " + bytes(range(256)) * 40


async def _named_report(db: Repository, user_id: int) -> int:
    fields = ReportFields(
        category="conduct",
        unit_code="HL",
        description="Invented account: the officer asked for money to accept the dossier.",
        anonymous=False,
        contact_name="Người Thử Nghiệm",
        contact_phone=PHONE,
    )
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    await db.drafts.add_draft_attachment(
        user_id,
        Attachment("photo", "file-1", "u-1", 10, user_id, 77, sha256="ab" * 32),
    )
    # A file uploaded on the web pages: its bytes live in the database.
    await db.files.add_draft_file(
        user_id, Attachment("document", "", None, 5, 0, 0, sha256="cd" * 32), PDF
    )
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    done = await db.reports.transition(
        report.id,
        actor=Actor("officer", 900102, "Hùng"),
        action="acknowledged",
        expect=("new",),
        to="acknowledged",
        changes={"acknowledged_at": db.clock()},
        outbox=[Outgoing(StatusNotice())],
    )
    assert done is not None
    return report.id


async def test_a_deployment_moves_to_postgresql_whole_and_checked(
    sim: BotApiSimulator,
    clock: FakeClock,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    # A deployment that has lived: a report sent in chat, a named one acknowledged, admins.
    settings = make_settings(sim, tmp_path)
    async with running(build_application(settings, clock=clock)) as app:
        world = World(sim, app, settings, clock)
        await quick_report(world.person(720001, "Lan"))
        named = await _named_report(world.db, 720002)
        await world.db.admin.log_admin(900001, "ban", "5", "spam")
        web_user = await world.db.identities.user_id(Channel.WEB, "session-hash")
        before = await world.db.reports.get_report(named)
    source = settings.database
    receipt_key = source.with_name(source.name + ".receipt-key")
    receipt_key.write_bytes(b"k" * 32)
    sealed = _sqlite_row(source, "SELECT contact_phone FROM reports WHERE id = ?", named)
    assert sealed[0].startswith("fernet:")

    url = await postgres_server.new_database()
    state = tmp_path / "state"
    argv = ["db", "copy", "--from", str(source), "--to", url, "--state-dir", str(state)]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "every table matches" in out
    for table in ("reports", "audit", "attachments", "files", "outbox", "units", "identities"):
        assert f"\n{table}: " in "\n" + out
    assert "DIFFERS" not in out

    # The keys came along: the same files, owner-only.
    assert (state / "liemchinh.receipt-key").read_bytes() == b"k" * 32
    assert (state / "liemchinh.limit-key").read_bytes() == (
        source.with_name(source.name + ".limit-key").read_bytes()
    )
    assert (state / "liemchinh.receipt-key").stat().st_mode & 0o777 == 0o600

    async with Repository(state / "liemchinh", url=url) as pg:
        after = await pg.reports.get_report(named)
        assert after == before
        assert after is not None and after.fields.contact_phone == PHONE
        async with pg._read() as conn:
            row = await (
                await conn.execute("SELECT contact_phone FROM reports WHERE id = ?", (named,))
            ).fetchone()
        assert row is not None and row["contact_phone"] == sealed[0]
        photo, upload = await pg.reports.report_attachments(named)
        assert (photo.sha256, upload.sha256) == ("ab" * 32, "cd" * 32)
        assert upload.id is not None and await pg.files.attachment_bytes(upload.id) == PDF
        assert [a.action for a in await pg.reports.audit_of(named)][-1] == "acknowledged"
        assert await pg.identities.user_id(Channel.WEB, "session-hash") == web_user
        # New rows get new ids: the identity sequences were moved past the copied ones.
        newer = await _named_report(pg, 720003)
        assert newer > named
        assert web_user < await pg.identities.user_id(Channel.WEB, "another")

    # A target holding rows is refused, and left as it was.
    assert await asyncio.to_thread(main, argv) == 1
    assert "not empty" in capsys.readouterr().err


def test_a_missing_file_or_a_sqlite_target_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert main(["db", "copy", "--from", str(missing), "--to", "postgresql://u@127.0.0.1/d"]) == 2
    assert "no such database file" in capsys.readouterr().err
    assert not missing.exists()
    sqlite3.connect(tmp_path / "bot.db").close()
    assert main(["db", "copy", "--from", str(tmp_path / "bot.db"), "--to", "other.db"]) == 2
    assert "postgresql://" in capsys.readouterr().err


def _sqlite_row(path: Path, sql: str, *params: object) -> tuple[str, ...]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(sql, params).fetchone()
    finally:
        conn.close()
    assert row is not None
    return tuple(row)
