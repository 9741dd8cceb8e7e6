"""PostgreSQL through asyncpg, behind the same connection interface the stores use with SQLite.

`PgConnection` runs the stores' SQLite SQL after `bot.store.dialect` has translated it, with the
cursor features the stores rely on (`rowcount`, `lastrowid`, `description`), and reports a
refused constraint as `sqlite3.IntegrityError`, as SQLite does, so that no store branches on the
database it runs on. `connect` opens it and gives PostgreSQL the functions SQLite has built in.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement

from bot.store.coordination import INSTANCE_LOCK, KEEPALIVES
from bot.store.dialect import Row, placeholders, translate_query, translate_schema

# What SQLite has built in and stores may use, given to PostgreSQL under the same names. `fold`
# matches bot.core.parsing.fold for Vietnamese text (the stores fold in Python; only migration
# 003 calls it in SQL). Two-argument max/min ignore a NULL where SQLite's would return it.
COMPAT_FUNCTIONS = (
    # lower() again once the marks are gone: under the "C" collation it changes ASCII only.
    r"""CREATE OR REPLACE FUNCTION fold(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT btrim(regexp_replace(replace(replace(lower(regexp_replace(normalize(lower(
            regexp_replace($1, '[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]', '', 'g')
        ), NFKD), '[\u0300-\u036f]', '', 'g')), 'đ', 'd'), 'Đ', 'd'), '\s+', ' ', 'g')) $$""",
    """CREATE OR REPLACE FUNCTION json_extract(text, text) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
        SELECT ($1::jsonb) #>> string_to_array(substr($2, 3), '.') $$""",
    """CREATE OR REPLACE FUNCTION max(anycompatible, anycompatible) RETURNS anycompatible
        LANGUAGE sql IMMUTABLE AS 'SELECT greatest($1, $2)'""",
    """CREATE OR REPLACE FUNCTION min(anycompatible, anycompatible) RETURNS anycompatible
        LANGUAGE sql IMMUTABLE AS 'SELECT least($1, $2)'""",
    """CREATE OR REPLACE FUNCTION bool_sum_step(bigint, boolean) RETURNS bigint
        LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, 0) + CASE WHEN $2 THEN 1 ELSE 0 END'""",
    # SQLite sums a condition as 0 or 1; PostgreSQL needs an aggregate over booleans for it.
    """CREATE OR REPLACE AGGREGATE sum(boolean) (SFUNC = bool_sum_step, STYPE = bigint)""",
    """CREATE OR REPLACE FUNCTION ifnull(anycompatible, anycompatible) RETURNS anycompatible
        LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, $2)'""",
    """CREATE OR REPLACE FUNCTION iif(boolean, anycompatible, anycompatible)
        RETURNS anycompatible LANGUAGE sql IMMUTABLE
        AS 'SELECT CASE WHEN $1 THEN $2 ELSE $3 END'""",
    """CREATE OR REPLACE FUNCTION instr(text, text) RETURNS bigint
        LANGUAGE sql IMMUTABLE AS 'SELECT strpos($1, $2)'""",
    """CREATE OR REPLACE FUNCTION group_concat_step(text, text, text) RETURNS text
        LANGUAGE sql IMMUTABLE
        AS 'SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2
            ELSE $1 || $3 || $2 END'""",
    """CREATE OR REPLACE FUNCTION group_concat_step(text, text) RETURNS text
        LANGUAGE sql IMMUTABLE AS 'SELECT group_concat_step($1, $2, '','')'""",
    """CREATE OR REPLACE AGGREGATE group_concat(text) (SFUNC = group_concat_step, STYPE = text)""",
    """CREATE OR REPLACE AGGREGATE group_concat(text, text)
        (SFUNC = group_concat_step, STYPE = text)""",
)

# The shared flood budget (bot.store.coordination): one message's place reserved in one call, on
# the server's clock. The whole bot's row ('all') is locked before a chat's row, by every
# caller, so two reservations never wait on each other in a circle. A message goes at `slot`,
# no sooner than the previous one plus `step` (evenly spaced overall), and no sooner than its
# chat allows (GCRA: its theoretical arrival time less `chat_burst`). `yielding` (the outbox)
# takes a place only when nobody is queued ahead, so that replies to people go first. PL/pgSQL
# because SQLite never needs it: one process keeps its budget in memory.
RESERVE_SEND = r"""CREATE OR REPLACE FUNCTION reserve_send(
        chat text, chat_step double precision, chat_burst double precision,
        step double precision, yielding boolean)
    RETURNS TABLE (reserved boolean, wait double precision) LANGUAGE plpgsql AS $$
    DECLARE
        now_ double precision := extract(epoch FROM clock_timestamp());
        overall double precision;
        own double precision;
        slot double precision;
    BEGIN
        SELECT b.tat INTO overall FROM send_budget b WHERE b.key = 'all' FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO send_budget (key, tat) VALUES ('all', 0) ON CONFLICT DO NOTHING;
            SELECT b.tat INTO overall FROM send_budget b WHERE b.key = 'all' FOR UPDATE;
        END IF;
        IF yielding AND overall > now_ THEN
            RETURN QUERY SELECT false, overall - now_;
            RETURN;
        END IF;
        slot := greatest(now_, overall);
        IF chat IS NOT NULL THEN
            SELECT b.tat INTO own FROM send_budget b WHERE b.key = chat FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO send_budget (key, tat) VALUES (chat, 0) ON CONFLICT DO NOTHING;
                SELECT b.tat INTO own FROM send_budget b WHERE b.key = chat FOR UPDATE;
            END IF;
            IF own - chat_burst > slot THEN
                RETURN QUERY SELECT false, own - chat_burst - now_;
                RETURN;
            END IF;
            UPDATE send_budget SET tat = greatest(own, slot) + chat_step WHERE key = chat;
        END IF;
        UPDATE send_budget SET tat = slot + step WHERE key = 'all';
        RETURN QUERY SELECT true, slot - now_;
    END $$"""

# The flood guard shared by the workers (bot.telegram.inbound): one person's message counted in
# one call, on the message's own date. A person may send `burst` seconds' worth ahead of their
# pace (one message every `step`); the first message beyond it is answered 'warn' and they are
# not read for `pause` seconds ('ignore'); an album's further messages count once ('read').
FLOOD_CHECK = r"""CREATE OR REPLACE FUNCTION flood_check(
        person bigint, moment double precision, group_id text,
        step double precision, burst double precision, pause double precision)
    RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
        pace_tat double precision;
        pace_quiet double precision;
        pace_album text;
    BEGIN
        SELECT f.tat, f.quiet_until, f.album INTO pace_tat, pace_quiet, pace_album
            FROM flood_pace f WHERE f.user_id = person FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO flood_pace (user_id, tat, quiet_until, album)
                VALUES (person, moment + step, 0, group_id) ON CONFLICT DO NOTHING;
            IF FOUND THEN
                RETURN 'read';
            END IF;
            SELECT f.tat, f.quiet_until, f.album INTO pace_tat, pace_quiet, pace_album
                FROM flood_pace f WHERE f.user_id = person FOR UPDATE;
        END IF;
        IF moment < pace_quiet THEN
            RETURN 'ignore';
        END IF;
        IF group_id IS NOT NULL AND pace_album = group_id THEN
            RETURN 'read';
        END IF;
        IF pace_tat - burst > moment THEN
            UPDATE flood_pace SET quiet_until = moment + pause, tat = moment + pause
                WHERE user_id = person;
            RETURN 'warn';
        END IF;
        UPDATE flood_pace SET tat = greatest(pace_tat, moment) + step, album = group_id
            WHERE user_id = person;
        RETURN 'read';
    END $$"""

_KEYS = """
SELECT c.relname AS tab, a.attname AS col
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisprimary AND n.nspname = current_schema()
ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)
"""
_IDENTITIES = """
SELECT table_name AS tab, column_name AS col FROM information_schema.columns
WHERE table_schema = current_schema() AND is_identity = 'YES'
"""
_PREPARED = 256
_TRANSLATED = 2048
log = logging.getLogger(__name__)


def _number(text: str) -> int | float:
    # sum() and avg() of integers are NUMERIC in PostgreSQL: read as SQLite returns them.
    return float(text) if any(c in text for c in ".eEN") else int(text)


class PgCursor:
    """The rows of one statement, read all at once, with SQLite's cursor attributes."""

    def __init__(
        self, rows: list[Any], names: Sequence[str], rowcount: int, lastrowid: int | None
    ) -> None:
        self._rows = rows
        self._next = 0
        self._names = names
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        # Set by callers that want tuples from SQLite; asyncpg's records are read by position.
        self.row_factory: Any = None

    @property
    def description(self) -> tuple[tuple[str, None, None, None, None, None, None], ...]:
        """Return the columns' names as the DB-API does."""
        return tuple((name, None, None, None, None, None, None) for name in self._names)

    async def fetchone(self) -> Row | None:
        """Return the next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        """Return up to size further rows."""
        size = size or 1
        rows = self._rows[self._next : self._next + size]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> list[Row]:
        """Return the rows not read yet."""
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    async def close(self) -> None:
        """Drop the rows."""
        self._rows = []


class PgConnection:
    """One asyncpg connection that runs the stores' SQL as a SQLite connection would."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.raw = conn
        self._keys: dict[str, tuple[str, ...]] = {}
        self._identities: dict[str, str] = {}
        self._translated: dict[str, tuple[str, bool, list[str] | int]] = {}
        self._prepared: OrderedDict[str, PreparedStatement] = OrderedDict()

    @property
    def in_transaction(self) -> bool:
        """Tell whether a transaction is open."""
        return bool(self.raw.is_in_transaction())

    async def learn_schema(self) -> None:
        """Read the tables' keys and identity columns, which the translation needs."""
        keys: dict[str, list[str]] = {}
        for row in await self.raw.fetch(_KEYS):
            keys.setdefault(row["tab"], []).append(row["col"])
        self._keys = {tab: tuple(cols) for tab, cols in keys.items()}
        self._identities = {r["tab"]: r["col"] for r in await self.raw.fetch(_IDENTITIES)}
        self._translated.clear()
        self._prepared.clear()

    def translate(self, sql: str) -> tuple[str, bool, list[str] | int]:
        """Return a statement in PostgreSQL's SQL, whether it returns an id, its arguments."""
        done = self._translated.get(sql)
        if done is None:
            if len(self._translated) >= _TRANSLATED:
                # Statements built with a varying number of "?" must not grow this forever.
                self._translated.clear()
            text, returning = translate_query(sql, self._keys, self._identities)
            query, order = placeholders(text)
            done = self._translated[sql] = (query, returning, order)
        return done

    async def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> PgCursor:
        """Run one statement; its rows, row count and new id are on the cursor."""
        query, returning, order = self.translate(sql)
        args = _arguments(order, parameters, sql)
        try:
            statement = await self._prepare(query)
            try:
                rows = await statement.fetch(*args)
            except asyncpg.InvalidCachedStatementError:
                # The schema changed under a prepared statement (a migration): prepare anew.
                self._prepared.pop(query, None)
                statement = await self._prepare(query)
                rows = await statement.fetch(*args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        status = statement.get_statusmsg() or ""
        verb, _, count = status.rpartition(" ")
        rowcount = int(count) if verb and count.isdigit() and verb != "SELECT" else -1
        # As SQLite's: the id of the last row inserted.
        lastrowid = int(rows[-1][0]) if returning and rows else None
        names = [a.name for a in statement.get_attributes()]
        return PgCursor([] if returning else list(rows), names, rowcount, lastrowid)

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run one statement and return all its rows."""
        return await (await self.execute(sql, parameters)).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        """Run one statement once for each set of arguments."""
        query, _returning, order = self.translate(sql)
        batch = [_arguments(order, p, sql) for p in parameters]
        try:
            await self.raw.executemany(query, batch)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc

    async def run_schema(self, statement: str) -> None:
        """Run one migration statement, translated."""
        for sql in translate_schema(statement):
            await self.raw.execute(sql)

    async def _prepare(self, query: str) -> PreparedStatement:
        statement = self._prepared.get(query)
        if statement is None:
            statement = await self.raw.prepare(query)
            self._prepared[query] = statement
            if len(self._prepared) > _PREPARED:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(query)
        return statement

    async def close(self) -> None:
        """Close the connection."""
        await self.raw.close()


def _arguments(
    order: list[str] | int, parameters: Sequence[Any] | Mapping[str, Any] | None, sql: str
) -> list[Any]:
    if isinstance(order, list):
        if not isinstance(parameters, Mapping):
            raise TypeError(f"named placeholders need a mapping: {sql!r}")
        return [parameters[name] for name in order]
    args = list(parameters or ())
    if len(args) != order:
        raise TypeError(f"{order} placeholders, {len(args)} arguments: {sql!r}")
    return args


STANDBY_RETRY = 2.0


async def connect(url: str) -> PgConnection:
    """Open a connection and read numbers as SQLite returns them."""
    raw = await asyncpg.connect(url, server_settings=KEEPALIVES)
    try:
        await raw.set_type_codec(
            "numeric", schema="pg_catalog", encoder=str, decoder=_number, format="text"
        )
    except BaseException:
        await raw.close()
        raise
    return PgConnection(raw)


async def add_compat_functions(conn: PgConnection) -> None:
    """Create the functions SQLite has built in (idempotent; run under the migration lock)."""
    for sql in COMPAT_FUNCTIONS:
        await conn.raw.execute(sql)


# A worker's outbox claims hold while its stores' session lives: that session holds the lock
# `worker_key(name)` (bot.store.database), and once the server released it (the worker was
# killed, its machine lost) another worker takes the claims over at once instead of waiting for
# them to expire. The key lies in [2**61, 2**62): apart from the chats' keys (negative) and the
# fixed ones (MIGRATION_LOCK and its neighbours, above 2**62). An advisory lock on a bigint
# shows in pg_locks as its high half (classid) and low half (objid), with objsubid 1.
WORKER_ALIVE = """
CREATE OR REPLACE FUNCTION worker_key(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashtextextended(name, 0) & 2305843009213693951) | 2305843009213693952
$$;
CREATE OR REPLACE FUNCTION worker_alive(name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = worker_key(name)
    )
$$;
"""


async def add_worker_functions(conn: PgConnection) -> None:
    """Create what workers sharing the database call (after the migrations: it reads tables)."""
    await conn.raw.execute(RESERVE_SEND)
    await conn.raw.execute(FLOOD_CHECK)
    await conn.raw.execute(WORKER_ALIVE)


async def hold_worker_key(conn: PgConnection, worker: str) -> None:
    """Hold this worker's key on its stores' session: its outbox claims live while it does."""
    # Not waiting: the key is this process's alone, unless a session of it the server has not
    # yet seen end still holds it (its claims then expire as before).
    await conn.raw.fetchval("SELECT pg_try_advisory_lock(worker_key($1))", worker)


async def wait_for_instance(url: str) -> None:
    """Wait until no bot runs on the database (a standby worker, before it starts)."""
    log.info("standby: waiting until no other worker runs on the database")
    while True:
        try:
            raw = await asyncpg.connect(url, server_settings=KEEPALIVES)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("standby: cannot reach PostgreSQL (%s)", type(exc).__name__)
            await asyncio.sleep(STANDBY_RETRY)
            continue
        try:
            # Blocks until the running bot's session ends, however it ends.
            await raw.execute("SELECT pg_advisory_lock($1)", INSTANCE_LOCK)
            await raw.execute("SELECT pg_advisory_unlock($1)", INSTANCE_LOCK)
            log.info("standby: the database is free; starting")
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("standby: lost PostgreSQL while waiting (%s)", type(exc).__name__)
            await asyncio.sleep(STANDBY_RETRY)
        finally:
            await raw.close()
