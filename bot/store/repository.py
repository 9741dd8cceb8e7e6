"""The repository: one database (SQLite or PostgreSQL) behind one store per area of the bot.

Every piece of SQL in the project lives in `bot.store`. `Repository` opens and closes the shared
`Database` and exposes one store per area as an attribute (`repo.units`, `repo.reports`,
`repo.outbox`, ...); callers go through those attributes. All stores share one connection and
one lock, so a single writer and whole transactions hold across areas as before. `repo.committed`
holds the same stores again for the outbox's reads, on the read-only connection
(`Database.snapshot`), so that drawing an alert never holds up a citizen's step.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiosqlite

from bot.config import Settings
from bot.store.admin import AdminStore
from bot.store.board import BoardStore
from bot.store.channels import ChannelStore
from bot.store.chats import ChatStore
from bot.store.database import Clock, Database, InstanceBusy, StorageError
from bot.store.dialect import Connection
from bot.store.drafts import DraftStore
from bot.store.feed import FeedStore
from bot.store.files import FileStore
from bot.store.gate import Gate
from bot.store.health import HealthStore
from bot.store.identities import IdentityStore
from bot.store.inbound import InboundStore
from bot.store.integrity import IntegrityStore
from bot.store.jobs import JobStore
from bot.store.links import LinkStore
from bot.store.markers import MarkerStore
from bot.store.outbox import OutboxStore
from bot.store.privacy import PrivacyStore
from bot.store.reports import ReportStore
from bot.store.units import UnitStore
from bot.store.users import UserStore

__all__ = ["Clock", "Committed", "InstanceBusy", "Repository", "StorageError"]


class Committed:
    """The stores the outbox reads through, reading committed data only and writing nothing.

    Every read goes to `Database.snapshot()`: the outbox loop picks and draws what it sends
    without the one lock, which a citizen's step would otherwise wait for behind it (the p99
    of a step under load). What the outbox reads was committed before it was queued, and a
    step it might race with queues its own message again (a REFRESH), so the last commit is
    what it needs.
    """

    def __init__(self, database: Database) -> None:
        self.reports = ReportStore(database, committed=True)
        self.units = UnitStore(database, committed=True)
        self.links = LinkStore(database, committed=True)
        self.files = FileStore(database, committed=True)
        self.integrity = IntegrityStore(database, committed=True)
        self.admin = AdminStore(database, committed=True)
        self.users = UserStore(database, committed=True)
        self.identities = IdentityStore(database, committed=True)


class Repository:
    """The database and its stores: units, users, drafts, reports, links, admin, outbox, ..."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock = time.time,
        url: str | None = None,
        exclusive: bool = False,
    ) -> None:
        # With a PostgreSQL url, path only says where the keys kept beside a database live.
        self.database = Database(path, clock=clock, url=url, exclusive=exclusive)
        self.units = UnitStore(self.database)
        self.users = UserStore(self.database)
        self.drafts = DraftStore(self.database)
        self.reports = ReportStore(self.database)
        self.links = LinkStore(self.database)
        self.admin = AdminStore(self.database)
        self.outbox = OutboxStore(self.database)
        self.inbound = InboundStore(self.database)
        self.markers = MarkerStore(self.database)
        self.privacy = PrivacyStore(self.database)
        self.integrity = IntegrityStore(self.database)
        # Other channels' people, the files they upload, the public board.
        self.identities = IdentityStore(self.database)
        self.files = FileStore(self.database)
        self.board = BoardStore(self.database)
        # The Open311 feed's de-identified rows.
        self.feed = FeedStore(self.database)
        # Chats the bot was added to without a unit, and what it told them.
        self.chats = ChatStore(self.database)
        # The operator's readiness probe and figures.
        self.health = HealthStore(self.database)
        # Text-only channels (Zalo): their stored messages and what each person was shown.
        self.channels = ChannelStore(self.database)
        # Which worker runs the repeating jobs, and which of their periods ran.
        self.jobs = JobStore(self.database)
        # The outbox's reads, on the read-only connection (writes go through the stores above).
        self.committed = Committed(self.database)

    @classmethod
    def of(
        cls, settings: Settings, *, clock: Clock = time.time, exclusive: bool = False
    ) -> Repository:
        """Return the repository of the configured database, SQLite or PostgreSQL.

        `exclusive` is for the running bot: on PostgreSQL it refuses a second one.
        """
        return cls(settings.database, clock=clock, url=settings.database_url, exclusive=exclusive)

    @property
    def path(self) -> Path:
        """Return the database file's path."""
        return self.database.path

    @property
    def clock(self) -> Clock:
        """Return the clock every store reads the time from."""
        return self.database.clock

    async def open(self) -> None:
        """Open the database, set durability pragmas and run pending migrations (idempotent)."""
        await self.database.open()

    async def close(self) -> None:
        """Close the connection; an open aiosqlite thread would keep the process alive."""
        await self.database.close()

    async def __aenter__(self) -> Repository:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open."""
        return self.database.is_open

    async def applied_migrations(self) -> list[str]:
        """List the names of the migrations this database has run."""
        return await self.database.applied_migrations()

    # Tests reach the connection and the lock to make SQLite fail the way it does in production
    # (read-only, full, locked); these keep that working without a store to go through.

    def _read(self) -> AbstractAsyncContextManager[Connection]:
        return self.database.read()

    def _write(self) -> AbstractAsyncContextManager[Connection]:
        return self.database.write()

    @property
    def _lock(self) -> Gate:
        return self.database._lock

    @property
    def _conn(self) -> aiosqlite.Connection | None:
        return self.database._conn

    @_conn.setter
    def _conn(self, conn: aiosqlite.Connection | None) -> None:
        self.database._conn = conn
