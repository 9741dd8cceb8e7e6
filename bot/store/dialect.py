"""SQL written once, for SQLite, and read by PostgreSQL too.

Stores and migrations are written in SQLite's SQL, within the subset described in
docs/architecture.md ("SQL for both databases"). This module turns such a statement into
PostgreSQL's: `?` and `:name` placeholders into `$n`, `INSERT OR IGNORE` and `INSERT OR REPLACE`
into `ON CONFLICT`, SQLite's column types and `AUTOINCREMENT` into PostgreSQL's, and an audit
table's refusing trigger into a PL/pgSQL function and its triggers. What SQLite has built in and
PostgreSQL lacks (`fold`, `json_extract`, two-argument `max`/`min`, `sum` of a condition) is
given to PostgreSQL as functions of the same name (`bot.store.postgres.COMPAT_FUNCTIONS`), so
queries need no translation for them. `Connection` is what every store writes against: an
aiosqlite connection, or `bot.store.postgres.PgConnection`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

# A row of either database: sqlite3.Row or asyncpg.Record, both read by name and by position.
Row = Any


class Cursor(Protocol):
    """What the stores use of a cursor: rows, the count of rows changed, the new row's id."""

    # SQLite's rows as plain tuples when set to None; PostgreSQL's records read either way.
    row_factory: Any

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    @property
    def description(self) -> Any: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> Iterable[Row]: ...

    async def fetchmany(self, size: int | None = ...) -> Iterable[Row]: ...

    async def close(self) -> None: ...


class Connection(Protocol):
    """What the stores use of a connection; aiosqlite's, or PostgreSQL's through the adapter."""

    @property
    def execute(self) -> Callable[..., Awaitable[Cursor]]: ...

    @property
    def execute_fetchall(self) -> Callable[..., Awaitable[Iterable[Row]]]: ...

    @property
    def executemany(self) -> Callable[..., Awaitable[Any]]: ...


async def fetch_one(conn: Connection, sql: str, parameters: Any = ()) -> Row | None:
    """Return a statement's first row, or None.

    One call into SQLite's thread, where `execute` and then `fetchone` are two; the statements
    read with it return one row, or a few at most.
    """
    rows = await conn.execute_fetchall(sql, parameters)
    return next(iter(rows), None)


class DialectError(ValueError):
    """A statement uses SQLite SQL outside the subset that PostgreSQL is given too."""


_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_COLUMNS = re.compile(r"^\s*INSERT\s+INTO\s+\w+\s*\(([^)]*)\)", re.IGNORECASE)
# "GROUP BY +x", "ORDER BY +x": SQLite's way to keep an index out of the plan; not PostgreSQL's.
_BY_PLUS = re.compile(r"((?:GROUP|ORDER)\s+BY\s+)\+", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
# CAST(... AS INTEGER) reads as SQLite's 64-bit integer, not PostgreSQL's 32-bit one.
# An empty list, "IN ()", is SQLite's alone: an empty subquery means the same (NOT IN it holds).
_CASTS = (
    (re.compile(r"\bAS\s+INTEGER\b", re.IGNORECASE), "AS BIGINT"),
    (re.compile(r"\bAS\s+REAL\b", re.IGNORECASE), "AS DOUBLE PRECISION"),
    (re.compile(r"\bIN\s*\(\s*\)", re.IGNORECASE), "IN (SELECT NULL WHERE FALSE)"),
)


def split_literals(sql: str) -> list[tuple[bool, str]]:
    """Cut a statement into (is_literal, text) pieces, so that rewriting skips quoted text."""
    pieces: list[tuple[bool, str]] = []
    last = 0
    for match in _LITERAL.finditer(sql):
        pieces.append((False, sql[last : match.start()]))
        pieces.append((True, match.group(0)))
        last = match.end()
    pieces.append((False, sql[last:]))
    return pieces


def placeholders(sql: str) -> tuple[str, list[str] | int]:
    """Number a statement's `?` or `:name` placeholders as `$1, $2, ...`.

    Return the statement and how to order the arguments: the count of `?`, or the names in the
    order of their numbers.
    """
    names: list[str] = []
    out: list[str] = []
    counter = 0

    def number(match: re.Match[str]) -> str:
        # A name used twice is one argument, as in SQLite.
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    for literal, text in split_literals(sql):
        if literal:
            out.append(text)
            continue
        text = _NAMED.sub(number, text)
        parts = text.split("?")
        pieces = [parts[0]]
        for part in parts[1:]:
            counter += 1
            pieces.append(f"${counter}{part}")
        out.append("".join(pieces))
    if names and counter:
        raise DialectError(f"both ? and :name placeholders: {sql!r}")
    return "".join(out), (names if names else counter)


def translate_query(
    sql: str, keys: Mapping[str, tuple[str, ...]], identities: Mapping[str, str]
) -> tuple[str, bool]:
    """Return a data statement in PostgreSQL's SQL, and whether it returns the new row's id.

    `keys` gives each table's primary key columns: `INSERT OR REPLACE` updates the row with the
    same key. `identities` gives the tables whose key numbers new rows (SQLite's rowid alias):
    an insert into one returns that key, SQLite's `lastrowid`. Placeholders are left for
    `placeholders`.
    """
    returning = False
    match = _INSERT_OR.match(sql)
    insert = _INSERT.match(sql)
    table = match.group(2) if match else insert.group(1) if insert else None
    if match:
        verb = match.group(1).upper()
        sql = f"INSERT INTO {match.group(2)}{sql[match.end() :]}"
        clause = (
            " ON CONFLICT DO NOTHING"
            if verb == "IGNORE"
            else _upsert(sql, keys.get(table or "", ()))
        )
        sql = _before_returning(sql.rstrip().rstrip(";"), clause)
    sql = _BY_PLUS.sub(r"\1", sql)
    sql = "".join(text if literal else _casts(text) for literal, text in split_literals(sql))
    if table is not None and table in identities and not _RETURNING.search(sql):
        returning = True
        sql = sql.rstrip().rstrip(";") + f" RETURNING {identities[table]}"
    return sql, returning


def _before_returning(sql: str, clause: str) -> str:
    """Add an ON CONFLICT clause where PostgreSQL wants it: before any RETURNING."""
    found = _RETURNING.search(sql)
    if found is None:
        return sql + clause
    return sql[: found.start()].rstrip() + clause + " " + sql[found.start() :]


def _casts(text: str) -> str:
    for pattern, replacement in _CASTS:
        text = pattern.sub(replacement, text)
    return text


def _upsert(sql: str, key: tuple[str, ...]) -> str:
    columns = _COLUMNS.match(sql)
    if not key or not columns:
        raise DialectError(f"INSERT OR REPLACE needs a column list and a keyed table: {sql!r}")
    names = [c.strip() for c in columns.group(1).split(",")]
    rest = [c for c in names if c not in key]
    if not rest:
        return f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
    sets = ", ".join(f"{c} = excluded.{c}" for c in rest)
    return f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"


# ---------------------------------------------------------------------------------- schema

_AUTO_KEY = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.IGNORECASE)
# BOOLEAN is SQLite's integer 0/1, so it stays an integer; WITHOUT ROWID and STRICT are
# SQLite's storage choices, which PostgreSQL has no need of.
_TYPES = (
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bBOOLEAN\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
    (
        re.compile(
            r"\)\s*(WITHOUT\s+ROWID|STRICT)(\s*,\s*(WITHOUT\s+ROWID|STRICT))*\s*$", re.IGNORECASE
        ),
        ")",
    ),
)
_TRIGGER = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(\w+)\s+BEFORE\s+(UPDATE|DELETE)\s+ON\s+(\w+)\s+"
    r"BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT\s*,\s*('(?:[^']|'')*')\s*\)\s*;\s*END\s*$",
    re.IGNORECASE | re.DOTALL,
)
_OTHER_TRIGGER = re.compile(r"^\s*CREATE\s+TRIGGER\b", re.IGNORECASE)
_DDL = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)\b", re.IGNORECASE)


def translate_schema(statement: str) -> list[str]:
    """Return one migration statement as the PostgreSQL statements that do the same."""
    trigger = _TRIGGER.match(statement)
    if trigger:
        name, event, table, message = trigger.groups()
        function = f"{name}_refuse"
        # Row triggers do not see TRUNCATE: a statement trigger refuses it as well.
        return [
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" RAISE EXCEPTION {message} USING ERRCODE = 'integrity_constraint_violation';"
            " END $$",
            f"CREATE TRIGGER {name} BEFORE {event.upper()} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    if _OTHER_TRIGGER.match(statement):
        raise DialectError(
            "a trigger other than 'BEGIN SELECT RAISE(ABORT, ...); END' needs a PostgreSQL "
            f"variant: {statement!r}"
        )
    if not _DDL.match(statement):
        return [statement]
    out: list[str] = []
    for literal, text in split_literals(statement):
        if not literal:
            # A rowid alias numbers new rows by itself: an identity column does in PostgreSQL.
            text = _AUTO_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", text)
            for pattern, replacement in _TYPES:
                text = pattern.sub(replacement, text)
        out.append(text)
    return ["".join(out)]
