"""Moving a deployment: every row of a SQLite database into an empty PostgreSQL one.

`copy_database` brings the SQLite file up to date (the bot's migrations), refuses a target that
holds any row, copies every table in one PostgreSQL transaction (parents before the rows that
refer to them, ids kept, identity sequences moved past them), then reads both back and compares
each table's row count and checksum. Values are copied as stored: sealed contacts stay sealed
with the same data key, evidence keeps its SHA-256. The keys kept beside the SQLite file are
copied into the PostgreSQL deployment's state folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.backup import KEY_SUFFIXES
from bot.store.repository import Repository

CHUNK = 500
# Rows holding files (up to 20 MB each) are copied a few at a time, not 500 in memory at once.
FILE_CHUNK = 4


class CopyError(Exception):
    """The copy was refused or could not be made; the target is left as it was."""


@dataclass(frozen=True)
class TableCheck:
    """One table's rows and checksum in the source and in the target."""

    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        """Tell whether the target holds exactly the source's rows."""
        return (self.source_rows, self.source_sum) == (self.target_rows, self.target_sum)


async def copy_database(source: Path, url: str, state: Path) -> list[TableCheck]:
    """Copy every row of the SQLite file `source` into the empty database at `url`.

    `source` must exist (opening a missing file would make an empty database). `state` is the
    stem of the target deployment's key files (`Settings.database`). Return the
    comparison of every table; CopyError when the target is not empty or the copy failed.
    """
    # The bot's own opening brings an older file up to this version's schema first.
    _check_keys(source, state)
    async with Repository(source):
        pass
    # Before the target is opened, which would make keys of its own.
    _copy_keys(source, state)
    raw = await asyncpg.connect(url)
    try:
        # Checked before the bot's migrations touch it: any table holding rows refuses it.
        await _refuse_non_empty(raw)
        async with Repository(state, url=url):
            pass
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as lite:
            tables = _tables_in_order(lite)
            await _refuse_non_empty(raw)
            async with raw.transaction():
                for table in tables:
                    await _copy_table(lite, raw, table)
                await _move_identities(raw)
            checks = [
                TableCheck(
                    table,
                    *_pair(
                        _source_sum(lite, table),
                        await _target_sum(raw, table, _columns(lite, table), _chunk(lite, table)),
                    ),
                )
                for table in tables
            ]
    finally:
        await raw.close()
    return checks


def _pair(source: tuple[int, str], target: tuple[int, str]) -> tuple[int, int, str, str]:
    return source[0], target[0], source[1], target[1]


def _tables_in_order(lite: sqlite3.Connection) -> list[str]:
    """Return the data tables, each after the tables its foreign keys point to."""
    names = [
        r[0]
        for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name != 'migrations' ORDER BY name"
        )
    ]
    needs = {
        name: {r[2] for r in lite.execute(f'PRAGMA foreign_key_list("{name}")')} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)]
        if not ready:
            raise CopyError(f"foreign keys form a cycle among {sorted(set(names) - set(ordered))}")
        ordered.extend(ready)
    return ordered


async def _refuse_non_empty(raw: asyncpg.Connection) -> None:
    tables = await raw.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename != 'migrations' ORDER BY tablename"
    )
    for row in tables:
        table = row["tablename"]
        if await raw.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
            raise CopyError(f"the target is not empty: table {table} holds rows")


def _columns(lite: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')]


def _order(lite: sqlite3.Connection, table: str) -> str:
    """Select a table's rows so that a row comes after the row of its own table it refers to."""
    refs = [r for r in lite.execute(f'PRAGMA foreign_key_list("{table}")') if r[2] == table]
    if not refs:
        return f'SELECT * FROM "{table}"'
    # The unit tree: a unit after its parent, so parents of parents first.
    column, key = refs[0][3], refs[0][4]
    return (
        f'WITH RECURSIVE depth(k, d) AS (SELECT "{key}", 0 FROM "{table}"'
        f' WHERE "{column}" IS NULL UNION ALL SELECT t."{key}", depth.d + 1'
        f' FROM "{table}" t JOIN depth ON t."{column}" = depth.k)'
        f' SELECT "{table}".* FROM "{table}" JOIN depth ON depth.k = "{table}"."{key}"'
        " ORDER BY depth.d"
    )


async def _copy_table(lite: sqlite3.Connection, raw: asyncpg.Connection, table: str) -> None:
    columns = _columns(lite, table)
    types: dict[str, str] = {
        r["column_name"]: r["data_type"]
        for r in await raw.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    missing = [c for c in columns if c not in types]
    if missing:
        raise CopyError(f"table {table}: columns {missing} are missing in the target")
    cursor = lite.execute(_order(lite, table))
    while rows := cursor.fetchmany(_chunk(lite, table)):
        records = [
            tuple(_as(types[c], v) for c, v in zip(columns, row, strict=True)) for row in rows
        ]
        await raw.copy_records_to_table(table, records=records, columns=columns)


def _as(kind: str, value: Any) -> Any:
    """Return a value SQLite stored, in the type of the PostgreSQL column it goes to."""
    if value is None:
        return None
    if kind == "bigint" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "double precision" and isinstance(value, int):
        return float(value)
    if kind == "text" and not isinstance(value, str):
        return value.decode() if isinstance(value, bytes) else str(value)
    return value


async def _move_identities(raw: asyncpg.Connection) -> None:
    """Set every identity sequence past the ids copied, so new rows get new ids."""
    for row in await raw.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ):
        table, column = row["table_name"], row["column_name"]
        await raw.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'),"
            f' coalesce((SELECT max({column}) FROM "{table}"), 0) + 1, false)'
        )


def _canonical(value: Any) -> bytes:
    """Write a value the same way whichever database returned it."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"i" + str(int(value)).encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            return b"i" + str(int(value)).encode()
        return b"f" + repr(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + hashlib.sha256(bytes(value)).hexdigest().encode()
    return b"t" + str(value).encode()


def _row_digest(row: Iterable[Any]) -> bytes:
    digest = hashlib.sha256()
    for value in row:
        part = _canonical(value)
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


def _checksum(digests: list[bytes]) -> str:
    # Rows have no order of their own: the sorted row digests make the table's.
    return hashlib.sha256(b"".join(sorted(digests))).hexdigest()


def _chunk(lite: sqlite3.Connection, table: str) -> int:
    blobs = any(r[2].upper() == "BLOB" for r in lite.execute(f'PRAGMA table_info("{table}")'))
    return FILE_CHUNK if blobs else CHUNK


def _source_sum(lite: sqlite3.Connection, table: str) -> tuple[int, str]:
    columns = ", ".join(f'"{c}"' for c in _columns(lite, table))
    cursor = lite.execute(f'SELECT {columns} FROM "{table}"')
    digests: list[bytes] = []
    while rows := cursor.fetchmany(_chunk(lite, table)):
        digests.extend(_row_digest(r) for r in rows)
    return len(digests), _checksum(digests)


async def _target_sum(
    raw: asyncpg.Connection, table: str, columns: list[str], chunk: int
) -> tuple[int, str]:
    names = ", ".join(f'"{c}"' for c in columns)
    digests: list[bytes] = []
    async for row in _rows(raw, f'SELECT {names} FROM "{table}"', chunk):
        digests.append(_row_digest(row))
    return len(digests), _checksum(digests)


async def _rows(raw: asyncpg.Connection, sql: str, chunk: int) -> AsyncIterator[asyncpg.Record]:
    async with raw.transaction():
        async for row in raw.cursor(sql, prefetch=chunk):
            yield row


def _keys(source: Path, state: Path) -> list[tuple[Path, Path]]:
    return [
        (source.with_name(source.name + suffix), state.with_name(state.name + suffix))
        for suffix in KEY_SUFFIXES
    ]


def _check_keys(source: Path, state: Path) -> None:
    """Refuse, before anything is copied, to replace another key in the state folder."""
    for key, target in _keys(source, state):
        if key.exists() and target.exists() and target.read_bytes() != key.read_bytes():
            raise CopyError(f"{target} exists and holds another key: move it away first")


def _copy_keys(source: Path, state: Path) -> None:
    """Copy the keys beside the SQLite file to the PostgreSQL deployment's state folder."""
    state.parent.mkdir(parents=True, exist_ok=True)
    for key, target in _keys(source, state):
        if key.exists() and not target.exists():
            shutil.copyfile(key, target)
            target.chmod(0o600)
