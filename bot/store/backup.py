"""Backups of the database: a consistent copy taken while the bot runs, checked, restored.

A backup is one self-contained SQLite file (no -wal beside it), readable by its owner only,
that passed `PRAGMA integrity_check`. A restore checks the file the same way, refuses one
written by a newer version, and replaces the database only while no bot holds its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.store.migrations import MIGRATIONS

# The tables whose row counts tell at a glance whether a copy holds what it should.
MAIN_TABLES = ("reports", "attachments", "audit", "units", "users", "outbox")
# How long the copy waits for the running bot's write lock; the bot's transactions are short.
BUSY_SECONDS = 30.0
# The keys kept beside a SQLite database (the daily limit's, bot.sealing; the receipts',
# bot.core.receipts). A backup is the database alone: it names them so they are kept too.
KEY_SUFFIXES = (".limit-key", ".receipt-key")


class BackupError(Exception):
    """A backup or a restore refused or failed; the message is one line for the operator."""


@dataclass(frozen=True)
class Contents:
    """What a checked copy of the database holds."""

    path: Path
    migrations: tuple[str, ...]
    counts: dict[str, int]
    # Set by a restore: the replaced database, where it was kept.
    kept: Path | None = None
    # Set by a restore: migrations the bot will apply to the copy at its next start.
    pending: tuple[str, ...] = field(default=())
    # Set by a backup: the key files beside the database, which the copy does not hold.
    keys_apart: tuple[Path, ...] = field(default=())

    def lines(self) -> list[str]:
        """Describe the copy for the operator, one fact a line."""
        mode = self.path.stat().st_mode & 0o777
        latest = self.migrations[-1] if self.migrations else "none"
        lines = [
            f"file: {self.path} (mode {mode:04o})",
            "integrity_check: ok",
            f"migrations: {len(self.migrations)}, the latest {latest}",
        ]
        lines += [f"{table}: {count} rows" for table, count in self.counts.items()]
        if self.pending:
            lines.append(f"to apply at the next start: {', '.join(self.pending)}")
        if self.kept is not None:
            lines.append(f"the replaced database was kept as {self.kept}")
        # A new key cannot vouch for old receipts: without this line they would be lost with
        # the machine, however many backups there are.
        lines += [f"not in the copy, back it up too: {key}" for key in self.keys_apart]
        return lines


def key_files(database: Path) -> tuple[Path, ...]:
    """Return the key files that exist beside `database`."""
    paths = (database.with_name(database.name + suffix) for suffix in KEY_SUFFIXES)
    return tuple(path for path in paths if path.exists())


def lock_path(database: Path) -> Path:
    """Return the lock file that a running bot holds beside its database."""
    return database.with_name(database.name + ".lock")


def backup(database: Path, target: Path, *, force: bool = False) -> Contents:
    """Copy the live `database` to `target` consistently, check the copy, and return it."""
    if not database.is_file():
        raise BackupError(f"{database}: there is no database to back up")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; add --force to replace it")
    if target.exists() and target.resolve() == database.resolve():
        raise BackupError(f"{target} is the database itself")
    with _scratch(target) as scratch:
        # The online backup API reads one consistent snapshot; in WAL mode the bot keeps
        # writing meanwhile. In one step, because a copy made in several steps starts over
        # each time the bot writes, and might never finish on a busy bot.
        try:
            with (
                contextlib.closing(sqlite3.connect(database, timeout=BUSY_SECONDS)) as source,
                contextlib.closing(sqlite3.connect(scratch)) as copy,
            ):
                source.backup(copy)
        except sqlite3.Error as exc:
            raise BackupError(f"{database} could not be copied ({exc})") from None
        contents = _check(scratch, f"the copy of {database}")
        _install(scratch, target)
    return Contents(target, contents.migrations, contents.counts, keys_apart=key_files(database))


def restore(
    source: Path, database: Path, *, keep: bool = True, now: datetime | None = None
) -> Contents:
    """Make the checked backup `source` the database, which no running bot may hold."""
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    database.parent.mkdir(parents=True, exist_ok=True)
    with _no_bot_running(database), _scratch(database) as scratch:
        try:
            shutil.copyfile(source, scratch)
        except OSError as exc:
            raise BackupError(f"{source} could not be read ({exc.strerror})") from None
        contents = _check(scratch, str(source))
        known = [name for name, _ in MIGRATIONS]
        newer = [name for name in contents.migrations if name not in known]
        if newer:
            raise BackupError(
                f"{source} was written by a newer version (migrations unknown here:"
                f" {', '.join(newer)}); upgrade liemchinh before restoring it"
            )
        kept = _set_aside(database, keep, now or datetime.now(UTC))
        _install(scratch, database)
    pending = tuple(name for name in known if name not in contents.migrations)
    return Contents(database, contents.migrations, contents.counts, kept, pending)


@contextlib.contextmanager
def _no_bot_running(database: Path) -> Iterator[None]:
    """Hold the bot's lock for the whole restore, or refuse if a running bot holds it."""
    path = lock_path(database)
    # Taking the lock, rather than only testing it, also keeps a bot from starting while the
    # files are being swapped. The kernel frees it when this process ends, however it ends.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"a running bot holds {path}: stop it before restoring {database}"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _scratch(target: Path) -> Iterator[Path]:
    """Yield an empty owner-only file beside `target`, removed with its journals on exit."""
    scratch = target.with_name(f".{target.name}.partial-{os.getpid()}")
    # Created 0600 before anything is written into it: the copy holds personal data, and
    # SQLite gives its journal the database file's mode.
    try:
        os.close(os.open(scratch, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BackupError(f"{target} cannot be written ({exc.strerror})") from None
    try:
        yield scratch
    finally:
        for leftover in _with_journals(scratch):
            leftover.unlink(missing_ok=True)


def _with_journals(path: Path) -> list[Path]:
    return [path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))]


def _check(path: Path, label: str) -> Contents:
    """Check the copy at `path` and read what it holds; `label` names it in errors."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        try:
            # One self-contained file: the copy would otherwise stay in WAL mode and want a
            # -wal file beside it.
            conn.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise BackupError(f"{label} failed the integrity check: {problems[0]}{more}")
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "migrations" not in tables:
                raise BackupError(f"{label} is not a Liêm Chính database (no migrations table)")
            migrations = tuple(
                row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY id")
            )
            counts = {
                table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                for table in MAIN_TABLES
                if table in tables
            }
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{label} failed the integrity check ({exc})") from None
    return Contents(path, migrations, counts)


def _install(scratch: Path, target: Path) -> None:
    """Move the finished copy to `target` in one step, durably."""
    try:
        with open(scratch, "rb") as done:
            os.fsync(done.fileno())
        os.replace(scratch, target)
        # The rename itself is only durable once the folder is written.
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        raise BackupError(f"{target} cannot be written ({exc.strerror})") from None


def _set_aside(database: Path, keep: bool, now: datetime) -> Path | None:
    """Move the current database out of the way (or delete it); return where it was kept."""
    if database.exists():
        # A bot killed outright leaves committed transactions in the -wal file: fold them in,
        # so that the copy kept is whole and no -wal is left to be read against the restored
        # file. A database too damaged for that is set aside as it is, -wal and all.
        with contextlib.suppress(sqlite3.Error):
            with contextlib.closing(sqlite3.connect(database)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if not keep or not database.exists():
        for leftover in _with_journals(database):
            leftover.unlink(missing_ok=True)
        return None
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    serial = 1
    while kept.exists():
        serial += 1
        kept = database.with_name(f"{database.name}.before-restore-{stamp}-{serial}")
    for old, new in zip(_with_journals(database), _with_journals(kept), strict=True):
        if old.exists():
            old.rename(new)
    return kept
