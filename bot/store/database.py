"""The one connection every store shares: durability, the single writer and migrations.

`Database` opens the SQLite file (owner-only, WAL, `synchronous=FULL`, foreign keys, secure
delete), or with a `postgresql://` URL a PostgreSQL database (`bot.store.postgres`), runs the
pending entries of `bot.store.migrations.MIGRATIONS`, and hands out the connection through
`read()` and `write()`, which both take the one lock so that a single writer and no interleaved
transactions ever touch it. On SQLite a second, read-only connection with a lock of its own
(`snapshot()`) serves the reads that want committed data only and may take long: the outbox's
and the figures', which would otherwise hold the one lock while a citizen's step waits for it.
`Store` is the base of the per-area stores built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.core.parsing import fold
from bot.sealing import limit_key, secure_database_file
from bot.store.coordination import INSTANCE_LOCK, MIGRATION_LOCK, Coordinator, worker_name
from bot.store.dialect import Connection
from bot.store.gate import Gate
from bot.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    from bot.store import postgres

Clock = Callable[[], float]


class StorageError(Exception):
    """The database refused a write (locked, read-only, full); nothing was half-written."""


class InstanceBusy(StorageError):
    """Another process runs the bot on this PostgreSQL database."""


class Database:
    """One database, SQLite or PostgreSQL, one connection, one writer at a time.

    `path` is the SQLite file; with a PostgreSQL `url` it only names where the files that sit
    beside a SQLite database (the keys) are kept. `exclusive` (the running bot) holds a
    PostgreSQL advisory lock for as long as it is open, as the lock file beside a SQLite
    database does: a second bot on the same database is refused. A webhook worker (`sharing`)
    holds that lock shared instead: any number of workers run together, and none beside a bot
    that polls. `coordination` is a worker's own PostgreSQL session for the locks and the
    budget the workers share (`bot.store.coordination`); None on SQLite.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock = time.time,
        url: str | None = None,
        exclusive: bool = False,
    ) -> None:
        self.path = Path(path)
        self.url = url
        self.exclusive = exclusive
        self.sharing = False
        self.clock = clock
        # Names this process in what several workers record (outbox claims, job runs).
        self.worker = worker_name()
        self.coordination: Coordinator | None = Coordinator(url) if url is not None else None
        self._conn: aiosqlite.Connection | None = None
        self._pg: postgres.PgConnection | None = None
        # aiosqlite serialises calls but not transactions: two coroutines interleaving
        # BEGIN..COMMIT on one connection would fail, so a transaction, or a read of several
        # statements, holds the connection alone; single statements share it (`write_one`).
        self._lock = Gate()
        # The read-only connection of `snapshot()` (SQLite only) and its own lock: WAL lets it
        # read the last commit while the connection above is in a transaction.
        self._reader: aiosqlite.Connection | None = None
        self._reader_lock = asyncio.Lock()
        self._limit_key: bytes | None = None

    async def open(self) -> None:
        """Open the database, set durability pragmas and run pending migrations (idempotent)."""
        if self._conn is not None or self._pg is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.url is not None:
            await self._open_postgres(self.url)
            return
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
            # After the migrations: the reader never sees a schema older than the code's.
            reader = await _open_reader(self.path)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._reader = reader

    async def _open_postgres(self, url: str) -> None:
        # Only a bot on PostgreSQL loads its driver: asyncpg is 2.5 MB in every other one.
        import asyncpg

        from bot.store import postgres

        try:
            self._limit_key = limit_key(self.path)
        except ValueError as exc:
            raise StorageError(str(exc)) from exc
        try:
            conn = await postgres.connect(url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            await _migrate_postgres(conn, self.clock)
            await self._hold_instance(conn)
            await postgres.hold_worker_key(conn, self.worker)
        except BaseException:
            await conn.close()
            raise
        self._pg = conn

    async def _hold_instance(self, conn: postgres.PgConnection) -> None:
        # Session-level: released when the connection closes, however the process ends.
        if not self.exclusive:
            return
        take = "pg_try_advisory_lock_shared" if self.sharing else "pg_try_advisory_lock"
        if not await conn.raw.fetchval(f"SELECT {take}($1)", INSTANCE_LOCK):
            raise InstanceBusy(
                "a liemchinh that polls is already running on this database"
                if self.sharing
                else "another liemchinh is already running on this database"
            )

    async def _pg_ready(self) -> postgres.PgConnection:
        """Return the PostgreSQL connection, connecting again if the server dropped it."""
        assert self._pg is not None and self.url is not None
        if not self._pg.raw.is_closed():
            return self._pg
        # Past the check every statement makes: loaded once the connection was first opened.
        import asyncpg

        from bot.store import postgres

        try:
            conn = await postgres.connect(self.url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            await conn.learn_schema()
            await self._hold_instance(conn)
            await postgres.hold_worker_key(conn, self.worker)
        except BaseException:
            await conn.close()
            raise
        self._pg = conn
        return conn

    async def close(self) -> None:
        """Close the connections; an open aiosqlite thread would keep the process alive."""
        # The reader first: the writer, closing last, checkpoints the WAL into the file.
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
        if self._pg is not None:
            pg, self._pg = self._pg, None
            await pg.close()
        if self.coordination is not None:
            await self.coordination.close()

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open."""
        return self._conn is not None or self._pg is not None

    @property
    def is_postgres(self) -> bool:
        """Tell whether this is a PostgreSQL database."""
        return self.url is not None

    @property
    def shared(self) -> bool:
        """Tell whether other processes may work on this database at the same time."""
        return self.url is not None

    @asynccontextmanager
    async def read(self, *, together: bool = False) -> AsyncIterator[Connection]:
        """Lend the connection for reading what is committed, outside any transaction.

        A read of one statement shares the connection with other single statements (`Gate`);
        `together`: the block's statements read one state of the database, with the
        connection held alone (on PostgreSQL, where the one connection is always held alone,
        in a read-only transaction of repeatable reads).
        """
        if self._pg is not None:
            async with self._lock, _pg_errors(self):
                pg = await self._pg_ready()
                if not together:
                    yield pg
                    return
                # Other workers write meanwhile: one snapshot for all the block's statements.
                async with pg.raw.transaction(isolation="repeatable_read", readonly=True):
                    yield pg
            return
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock.exclusive() if together else self._lock.shared():
            yield self._conn

    @asynccontextmanager
    async def snapshot(self, *, together: bool = False) -> AsyncIterator[Connection]:
        """Lend the read-only connection, under its own lock: the last committed data.

        For reads that need nothing of a transaction still open on the writer, outside any
        `write()`: the outbox picking and drawing what it sends, the figures of /stats and
        /export. On `read()` they would hold the one lock while a citizen's step waits for it,
        which is most of the p99 of a step under load; here they wait for no transaction and
        none waits for them. A write through it fails (`PRAGMA query_only`). `together`: the
        statements of the block read one state of the database, as they do under `read()`
        (one read transaction; a single statement always does). On PostgreSQL, and whenever
        the second connection is not open, it is `read()` exactly.
        """
        reader = self._reader
        if self._pg is not None or reader is None:
            async with self.read(together=together) as conn:
                yield conn
            return
        async with self._reader_lock:
            if reader.in_transaction:
                # Left open by a lease cancelled twice over: it would pin an old state.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await reader.execute("ROLLBACK")
            if not together:
                yield reader
                return
            await reader.execute("BEGIN")
            try:
                yield reader
            finally:
                if reader.in_transaction:
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await reader.execute("ROLLBACK")

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[Connection]:
        """Lend the connection inside one transaction: committed whole or rolled back whole.

        `durable=False` commits without waiting for the disk (on SQLite, synchronous=NORMAL
        for this one transaction): the commit is as atomic, and becomes durable with the next
        durable commit's fsync of the same WAL file. Only for what may be lost on a power cut
        and done again, never for anything a person is told is stored. PostgreSQL commits as
        its server is configured either way.
        """
        if self._pg is not None:
            async with self._lock, _pg_errors(self):
                pg = await self._pg_ready()
                async with pg.raw.transaction():
                    yield pg
            return
        if self._conn is None:
            raise RuntimeError("repository is not open")
        async with self._lock:
            conn = self._conn
            try:
                if durable:
                    await conn.execute("BEGIN IMMEDIATE")
                else:
                    # Both in one call into SQLite's thread (a script takes no parameters, and
                    # these have none); it commits nothing first, as no transaction is open.
                    await conn.executescript("PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not durable:
                    await conn.execute("PRAGMA synchronous=FULL")
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
            finally:
                if not durable:
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await conn.execute("PRAGMA synchronous=FULL")

    async def write_one(
        self, sql: str, parameters: Sequence[Any] = (), *, durable: bool = True
    ) -> int:
        """Run one data statement as a transaction of its own; return the rows it changed.

        One statement is atomic by itself: run without BEGIN and COMMIT around it, SQLite
        commits it before the call returns, on disk with synchronous=FULL as `write()` does,
        in one call into its thread instead of three. `durable=False` is `write()`'s: there the
        statement's parameters must be integers, as it goes in one script with the two PRAGMAs
        around it (a script takes no parameters), and the count is not known (-1).
        """
        if self._pg is not None:
            async with self._lock, _pg_errors(self):
                pg = await self._pg_ready()
                return (await pg.execute(sql, parameters)).rowcount
        if self._conn is None:
            raise RuntimeError("repository is not open")
        script = None if durable else _script(sql, parameters)
        # Beside other single statements: each commits on its own, in aiosqlite's queue.
        async with self._lock.shared():
            conn = self._conn
            try:
                if script is None:
                    return (await conn.execute(sql, parameters)).rowcount
                try:
                    await conn.executescript(
                        f"PRAGMA synchronous=NORMAL; {script}; PRAGMA synchronous=FULL"
                    )
                except BaseException:
                    # Stopped after the first PRAGMA: every later commit is FULL again.
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await conn.execute("PRAGMA synchronous=FULL")
                    raise
                return -1
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                raise StorageError(str(exc)) from exc

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
    """The base of one area's store: the shared database, its transactions and its clock.

    `committed`: every read goes to `Database.snapshot()` and nothing is written; the store of
    a reader that must not hold up citizens' steps (the outbox, `Repository.committed`).
    """

    def __init__(self, database: Database, *, committed: bool = False) -> None:
        self._database = database
        self._committed = committed

    def _read(self, *, together: bool = False) -> AbstractAsyncContextManager[Connection]:
        # `together`: several statements that must read one state of the database.
        if self._committed:
            return self._database.snapshot(together=together)
        return self._database.read(together=together)

    def _snapshot(self, *, together: bool = False) -> AbstractAsyncContextManager[Connection]:
        # Committed data on the read-only connection (Database.snapshot), for everyone.
        return self._database.snapshot(together=together)

    def _write(self, *, durable: bool = True) -> AbstractAsyncContextManager[Connection]:
        self._writable()
        return self._database.write(durable=durable)

    async def _write_one(
        self, sql: str, parameters: Sequence[Any] = (), *, durable: bool = True
    ) -> int:
        self._writable()
        return await self._database.write_one(sql, parameters, durable=durable)

    def _writable(self) -> None:
        # A write through a reading view would be a write its caller did not mean to make.
        if self._committed:
            raise RuntimeError("a store reading committed data writes nothing")

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


async def _open_reader(path: Path) -> aiosqlite.Connection:
    """Open the read-only connection of `Database.snapshot()` on a migrated WAL database."""
    # The file is owner-only already and WAL is the database's own setting: nothing is created.
    reader = await aiosqlite.connect(path, isolation_level=None)
    try:
        reader.row_factory = sqlite3.Row
        await reader.create_function("fold", 1, fold_sql, deterministic=True)
        # Whatever a caller passes it, this connection changes nothing in the file.
        await reader.execute("PRAGMA query_only=ON")
        await reader.execute("PRAGMA busy_timeout=5000")
        # Its reads are long scans (figures, exports), served as well from the system's file
        # cache: a quarter of SQLite's default 2 MB of pages (which also bounds its sorter's
        # memory) keeps /stats at 100,000 reports 2.6 MB smaller, and no slower (0.25 s).
        await reader.execute("PRAGMA cache_size=-512")
    except BaseException:
        await reader.close()
        raise
    return reader


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


async def _migrate_postgres(conn: postgres.PgConnection, clock: Clock) -> None:
    from bot.store import postgres

    # Workers starting together wait here for the first one's migrations, then find them done.
    await conn.raw.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await postgres.add_compat_functions(conn)
        await conn.run_schema(
            "CREATE TABLE IF NOT EXISTS migrations ("
            " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at REAL NOT NULL)"
        )
        done = {r["name"] for r in await conn.raw.fetch("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            async with conn.raw.transaction():
                for statement in _split_sql(sql):
                    await conn.run_schema(statement)
                await conn.raw.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES ($1, $2)", name, clock()
                )
        await postgres.add_worker_functions(conn)
    finally:
        await conn.raw.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    await conn.learn_schema()


@asynccontextmanager
async def _pg_errors(database: Database) -> AsyncIterator[None]:
    """Report PostgreSQL refusing or going away as SQLite's failures are reported."""
    import asyncpg  # loaded with the connection (`_open_postgres`)

    try:
        yield
    except (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    ) as exc:
        # The session is lost or in an unknown state: drop it, the next use connects again.
        if database._pg is not None:
            database._pg.raw.terminate()
        raise StorageError(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            raise sqlite3.IntegrityError(str(exc)) from exc
        raise StorageError(str(exc)) from exc


def _script(sql: str, parameters: Sequence[Any]) -> str:
    """Write integer parameters into one statement, for a script (which takes none)."""
    if any(q in sql for q in "'\";") or sql.count("?") != len(parameters):
        raise ValueError(f"not a statement for a script: {sql!r}")
    if not all(type(p) is int for p in parameters):
        raise TypeError("only integers are written into a script")
    pieces = sql.split("?")
    return pieces[0] + "".join(
        str(p) + rest for p, rest in zip(parameters, pieces[1:], strict=True)
    )


def _split_sql(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    # A statement ends with ";" at the end of a line; a trigger's inner ";" sits mid-line.
    return [s.strip() for s in _STATEMENT_END.split("\n".join(lines)) if s.strip()]


_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
