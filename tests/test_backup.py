"""Backups: a consistent copy while the bot runs and writes, restored into a stopped deployment;
every refusal leaves the database as it was."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.sim import BotApiSimulator
from bot.store.backup import BackupError, backup, lock_path, restore
from bot.store.migrations import MIGRATIONS
from bot.store.repository import Repository
from tests.conftest import Person, World, quick_report
from tests.test_operations import liemchinh
from tests.test_restart import shut_down, start_bot
from tests.test_restart import write_config as bot_config

NAMES = [name for name, _ in MIGRATIONS]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def write_config(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "ops.toml"
    path.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    return path


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def check_copy(copy: Path, reports_at_most: int) -> int:
    """Check one backup taken while the bot wrote; return how many reports it holds."""
    assert mode(copy) == 0o600
    # One file: no -wal beside it to be lost when it is copied elsewhere.
    assert files(copy.parent).count(f"{copy.name}-wal") == 0
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    (count,) = rows(copy, "SELECT count(*) FROM reports")[0]
    assert 1 <= count <= reports_at_most
    # A snapshot of whole transactions: every report has the audit line written with it.
    orphans = (
        "SELECT count(*) FROM reports r"
        " WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.report_id = r.id)"
    )
    assert rows(copy, orphans) == [(0,)]
    return int(count)


async def make_database(path: Path) -> None:
    """Create a database the way the bot does, with its migrations applied."""
    async with Repository(path):
        pass


@pytest.fixture
async def saved(tmp_path: Path) -> Path:
    """Return a checked backup of a fresh database."""
    database = tmp_path / "source" / "bot.db"
    await make_database(database)
    target = tmp_path / "saved.db"
    backup(database, target)
    return target


@contextlib.contextmanager
def bot_running(database: Path) -> Iterator[None]:
    """Hold the database's lock file as a running bot does."""
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


async def test_backup_while_the_bot_writes_then_restore_elsewhere(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await quick_report(world.person(610001, "Lan"))
    # Four citizens send reports while copies are taken, one after another, until they are done.
    writers = asyncio.ensure_future(
        asyncio.gather(*(quick_report(world.person(610010 + n, f"Người {n}")) for n in range(4)))
    )
    config = write_config(tmp_path, world.settings.database)
    (tmp_path / "backups").mkdir()
    copies: list[Path] = []
    while not writers.done() or len(copies) < 3:
        target = tmp_path / "backups" / f"copy-{len(copies)}.db"
        code = await asyncio.to_thread(main, ["backup", "--config", str(config), str(target)])
        assert code == 0
        copies.append(target)
        await asyncio.sleep(0.05)
    await writers
    out = capsys.readouterr().out
    assert "integrity_check: ok" in out and "reports: " in out and "(mode 0600)" in out

    total = await world.db.reports.count_reports()
    assert total == 5
    counts = [check_copy(copy, total) for copy in copies]
    # Taken while reports arrived: each copy holds at least what the one before held.
    assert counts == sorted(counts) and counts[0] >= 1

    # A stopped deployment elsewhere gets the last copy, and the bot's storage reads it.
    database = tmp_path / "restored" / "data" / "bot.db"
    restored = restore(copies[-1], database)
    assert restored.kept is None and mode(database) == 0o600
    async with Repository(database) as repo:
        report = await repo.reports.report_by_code(first.replace("-", ""))
        assert report is not None
        assert await repo.applied_migrations() == NAMES


async def test_restore_keeps_the_replaced_database(saved: Path, tmp_path: Path) -> None:
    database = tmp_path / "live" / "bot.db"
    await make_database(database)
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("INSERT INTO users (user_id, locale, created_at) VALUES (42, 'vi', 0)")
        conn.commit()
    moment = datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC)
    restored = restore(saved, database, now=moment)
    assert restored.kept == database.with_name("bot.db.before-restore-20261201T030405Z")
    assert rows(restored.kept, "SELECT user_id FROM users") == [(42,)]
    assert rows(database, "SELECT user_id FROM users") == []
    assert mode(database) == 0o600
    # Without keeping, the replaced database goes, and no -wal of it is left behind.
    again = restore(saved, database, keep=False, now=moment)
    assert again.kept is None
    # The daily limit's key stays beside the database: a restore does not touch it.
    assert files(database.parent) == sorted(
        ["bot.db", "bot.db.limit-key", "bot.db.lock", restored.kept.name]
    )


def test_restore_refuses_while_a_bot_runs(saved: Path, tmp_path: Path) -> None:
    database = tmp_path / "live" / "bot.db"
    database.parent.mkdir()
    database.write_bytes(b"the running bot's database")
    with bot_running(database):
        with pytest.raises(BackupError, match=r"running bot holds .*bot\.db\.lock"):
            restore(saved, database)
    assert database.read_bytes() == b"the running bot's database"
    # Once the bot has stopped, the lock file left behind blocks nothing.
    restore(saved, database, keep=False)
    assert rows(database, "PRAGMA integrity_check") == [("ok",)]


def test_restore_refuses_newer_migrations(saved: Path, tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(saved)) as conn:
        conn.execute("INSERT INTO migrations (name, applied_at) VALUES ('999_future', 0)")
        conn.commit()
    database = tmp_path / "live" / "bot.db"
    with pytest.raises(BackupError, match=r"newer version.*999_future"):
        restore(saved, database)
    assert not database.exists()


def test_restore_refuses_a_corrupt_file(saved: Path, tmp_path: Path) -> None:
    database = tmp_path / "live" / "bot.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="integrity check"):
        restore(garbage, database)
    # A real backup with a damaged page: the header still reads, the tables do not.
    page = int(rows(saved, "PRAGMA page_size")[0][0])
    data = bytearray(saved.read_bytes())
    assert len(data) > 3 * page
    for offset in range(page, len(data), page):
        data[offset : offset + 64] = b"\xff" * 64
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="integrity check"):
        restore(damaged, database)
    assert not database.exists()
    # Nothing half-done is left beside the database.
    assert files(database.parent) == ["bot.db.lock"]


async def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    await make_database(database)
    target = tmp_path / "backup.db"
    target.write_text("an older backup")
    target.chmod(0o644)
    with pytest.raises(BackupError, match="exists; add --force"):
        backup(database, target)
    assert target.read_text() == "an older backup"
    backup(database, target, force=True)
    assert mode(target) == 0o600
    assert rows(target, "SELECT count(*) FROM migrations") == [(len(NAMES),)]


async def test_backup_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    await make_database(database)
    old = os.umask(0)
    try:
        backup(database, tmp_path / "backup.db")
    finally:
        os.umask(old)
    assert mode(tmp_path / "backup.db") == 0o600
    assert files(tmp_path) == ["backup.db", "bot.db", "bot.db.limit-key"]


def test_cli_refusals_are_one_line(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "live" / "bot.db"
    config = write_config(tmp_path, database)
    database.parent.mkdir()
    database.write_bytes(b"live")
    with bot_running(database):
        assert main(["restore", "--config", str(config), str(saved)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(lock_path(database)) in err
    assert main(["backup", "--config", str(config), str(saved)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["backup", "--config", str(tmp_path / "missing.toml"), str(saved)]) == 2
    assert main(["restore", "--config", str(config), str(saved)]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "kept as" in out and "(mode 0600)" in out


async def test_backup_into_a_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    await make_database(database)
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(BackupError, match="cannot be written"):
        backup(database, tmp_path / "a-folder", force=True)
    with pytest.raises(BackupError, match="cannot be written"):
        backup(database, tmp_path / "missing" / "backup.db")
    assert files(tmp_path) == ["a-folder", "bot.db", "bot.db.limit-key"]


async def test_restore_keeps_what_a_killed_bot_left_in_its_wal(
    saved: Path, tmp_path: Path
) -> None:
    database = tmp_path / "live" / "bot.db"
    await make_database(database)
    # A process that commits and dies without closing leaves the commit in the -wal file only.
    crash = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute(\"INSERT INTO users (user_id, locale, created_at) VALUES (7, 'vi', 0)\")\n"
        "conn.commit()\n"
        "os._exit(0)\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", crash, str(database))
    assert await proc.wait() == 0
    assert f"{database.name}-wal" in files(database.parent)
    restored = restore(saved, database)
    assert restored.kept is not None
    assert rows(restored.kept, "SELECT user_id FROM users") == [(7,)]
    # No -wal of the old database is left to be read against the restored one.
    # The daily limit's key stays beside the database: a restore does not touch it.
    assert files(database.parent) == sorted(
        ["bot.db", "bot.db.limit-key", "bot.db.lock", restored.kept.name]
    )
    assert rows(database, "SELECT count(*) FROM users") == [(0,)]


async def test_backup_and_restore_beside_a_real_running_bot(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    # The operator's commands against `liemchinh run` itself, not a stand-in for its lock.
    config = bot_config(sim, tmp_path)
    database = tmp_path / "data" / "bot.db"
    saved = tmp_path / "saved.db"
    bot = await start_bot(config, tmp_path / "bot.log")
    try:
        citizen = Person(sim, sim.add_user(610101, "Lan", language_code="vi"))
        await citizen.say("/start", expect="đồng ý", wait=30)
        # /publickey makes the receipt key, beside the database like the daily limit's.
        await citizen.say("/publickey", expect="Ed25519", wait=30)
        code, out, err = await liemchinh("backup", "--config", str(config), str(saved))
        assert code == 0, err
        assert "integrity_check: ok" in out and "(mode 0600)" in out and "users: 1 rows" in out
        # The keys are not in the copy: the operator is told which files to keep as well.
        for suffix in (".limit-key", ".receipt-key"):
            assert f"not in the copy, back it up too: {database}{suffix}\n" in out
        assert mode(saved) == 0o600 and rows(saved, "SELECT user_id FROM users") == [(610101,)]
        # The running bot's database is not replaced under it: one line, naming the lock.
        before = database.read_bytes()
        code, out, err = await liemchinh("restore", "--config", str(config), str(saved))
        assert code == 1 and out == ""
        assert err.strip().splitlines() == [
            f"liemchinh: restore: a running bot holds {lock_path(database)}:"
            f" stop it before restoring {database}"
        ]
        assert database.read_bytes() == before
    finally:
        await shut_down(bot)
    assert bot.returncode == 0
    code, out, err = await liemchinh("restore", "--config", str(config), str(saved))
    assert code == 0, err
    assert "users: 1 rows" in out and "kept as" in out
    assert rows(database, "SELECT user_id FROM users") == [(610101,)]


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_on_postgresql_the_commands_point_to_its_own_tools(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pg.toml"
    config.write_text(
        '[storage]\ndatabase = "postgresql://liemchinh@127.0.0.1:1/liemchinh"\n', encoding="utf-8"
    )
    target = tmp_path / "backup.db"
    target.write_bytes(b"left alone")
    assert (
        main(
            [
                command,
                "--config",
                str(config),
                "--force" if command == "backup" else "--no-keep",
                str(target),
            ]
        )
        == 2
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "pg_dump" in captured.err and "README" in captured.err
    assert target.read_bytes() == b"left alone"
