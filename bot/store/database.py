"""The one SQLite connection every store shares: durability, the single writer and migrations.

`Database` opens the file (owner-only, WAL, `synchronous=FULL`, foreign keys, secure delete),
runs the pending entries of `bot.store.migrations.MIGRATIONS`, and hands out the connection
through `read()` and `write()`, which both take the one lock so that a single writer and no
interleaved transactions ever touch it. `Store` is the base of the per-area stores built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.core.parsing import fold
from bot.sealing import limit_key, secure_database_file
from bot.store.migrations import MIGRATIONS

Clock = Callable[[], float]


class StorageError(Exception):
    """The database refused a write (locked, read-only, full); nothing was half-written."""


class Database:
    """One SQLite database, one connection, one writer at a time."""

    def __init__(self, path: Path | str, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._conn: aiosqlite.Connection | None = None
        # aiosqlite serialises calls but not transactions: two coroutines interleaving
        # BEGIN..COMMIT on one connection would fail, so every use of it takes this lock.
        self._lock = asyncio.Lock()
        self._limit_key: bytes | None = None

    async def open(self) -> None:
        """Open the database, set durability pragmas and run pending migrations (idempotent)."""
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # It holds citizens' personal data: owner-only (0600), set before SQLite opens it.
        secure_database_file(self.path)
        try:
            self._limit_key = limit_key(self.path)
        except ValueError as exc:
            raise StorageError(str(exc)) from exc
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            # Searching reports ignores case and diacritics; the folded text is computed by the
            # same function in Python and in SQL.
            await conn.create_function("fold", 1, fold_sql, deterministic=True)
            await conn.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss, and a
            # report confirmed to a citizen must survive that.
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            # Deleted personal data is overwritten, not left in the file's free pages.
            await conn.execute("PRAGMA secure_delete=ON")
            await _migrate(conn, self.clock)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Close the connection; an open aiosqlite thread would keep the process alive."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open."""
        return self._conn is not None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Lend the connection for reading, holding the lock."""
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock:
            yield self._conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Lend the connection inside one transaction: committed whole or rolled back whole."""
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock:
            conn = self._conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(str(exc)) from exc
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    # A COMMIT whose waiter was cancelled (the worker stopping) may still finish
                    # in SQLite's thread before this ROLLBACK runs there: nothing is left to undo.
                    with contextlib.suppress(sqlite3.OperationalError):
                        await conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                    exc, sqlite3.IntegrityError
                ):
                    raise StorageError(str(exc)) from exc
                raise

    def pseudonym(self, user_id: int) -> str:
        """Return the keyed hash (HMAC-SHA256) that stands for an account in the limit's counts."""
        return self.keyed_hash(str(user_id))

    def keyed_hash(self, text: str) -> str:
        """Return the HMAC-SHA256 of `text` under the limit's key: it names nobody without it."""
        if self._limit_key is None:
            raise RuntimeError("repository is not open")
        return hmac.new(self._limit_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    async def applied_migrations(self) -> list[str]:
        """List the names of the migrations this database has run."""
        async with self.read() as conn:
            rows = await conn.execute_fetchall("SELECT name FROM migrations ORDER BY id")
        return [r["name"] for r in rows]


class Store:
    """The base of one area's store: the shared database, its transactions and its clock."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _read(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._database.read()

    def _write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._database.write()

    def _pseudonym(self, user_id: int) -> str:
        # Who sent a report, for the daily limit only: without the key it names nobody.
        return self._database.pseudonym(user_id)

    def _forgotten_id(self, channel: str, external_id: str) -> str:
        # What an erased person's account id on another channel becomes: a keyed hash, which
        # keeps their ban and daily limit with them if they come back, and names nobody.
        return "forgotten:" + self._database.keyed_hash(f"{channel}:{external_id}")

    def _now(self) -> float:
        # One clock for the whole database, so that every store stamps rows on the same time.
        return self._database.clock()


def fold_sql(text: object) -> str | None:
    return fold(str(text)) if text is not None else None


async def _migrate(conn: aiosqlite.Connection, clock: Clock) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations ("
        " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at REAL NOT NULL)"
    )
    rows = await conn.execute_fetchall("SELECT name FROM migrations")
    done = {r[0] for r in rows}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        # executescript would COMMIT on its own; statements run one by one inside our BEGIN so a
        # failed migration leaves the database exactly as it was.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, clock())
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    # A statement ends with ";" at the end of a line; a trigger's inner ";" sits mid-line.
    return [s.strip() for s in _STATEMENT_END.split("\n".join(lines)) if s.strip()]


_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
