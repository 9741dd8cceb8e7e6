"""The operator's commands besides running the bot: check, backup, restore, db copy."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from telegram import Bot, User
from telegram.error import InvalidToken, TelegramError

from bot.config import (
    Settings,
    ZaloConfig,
    check_database_path,
    is_database_url,
    load_settings,
    proxy_address,
    proxy_secrets,
    redact_url,
)
from bot.logs import Redactor
from bot.store.backup import BackupError, backup, restore
from bot.store.database import StorageError
from bot.telegram.transport import AiohttpRequest
from bot.zalo.client import ZaloClient, ZaloError


def check_command(config: Path) -> int:
    """Check the configuration as `run` would and that Telegram answers; print what was found."""
    # A configuration error propagates as ConfigError: one line and exit 2, as for `run`.
    settings = load_settings(config)
    check_database_path(settings)
    try:
        me = asyncio.run(_get_me(settings))
    except InvalidToken:
        print(f"liemchinh: the Bot API at {settings.base_url} refused the token", file=sys.stderr)
        return 1
    except TelegramError as exc:
        # The error's text may quote the request URL, which carries the token, or the proxy's
        # address with its credentials.
        reason = Redactor([settings.token, *proxy_secrets(settings.proxy)])(str(exc))
        through = f" through the proxy {proxy_address(settings.proxy)}" if settings.proxy else ""
        print(
            f"liemchinh: cannot reach the Bot API at {settings.base_url}{through} ({reason})",
            file=sys.stderr,
        )
        return 1
    print(f"configuration: {settings.path}")
    print(f"telegram: @{me.username} (id {me.id}) at {settings.base_url}")
    if settings.proxy:
        print(f"proxy: {proxy_address(settings.proxy)}")
    if settings.zalo is not None:
        try:
            account = asyncio.run(_zalo_me(settings.zalo))
        except ZaloError as exc:
            # Only the code: the description never holds the token, but nothing risks it.
            verb = "refused the token" if exc.code in (401, 403) else f"failed ({exc.code})"
            where = settings.zalo.base_url
            print(f"liemchinh: the Zalo Bot API at {where} {verb}", file=sys.stderr)
            return 1
        print(f"zalo: {account.get('account_name', '?')} at {settings.zalo.base_url}")
    print(f"database: {settings.database_label}")
    return 0


async def _zalo_me(config: ZaloConfig) -> dict[str, object]:
    client = ZaloClient(config)
    try:
        return await client.get_me()
    finally:
        await client.close()


async def _get_me(settings: Settings) -> User:
    assert settings.token is not None
    # The same transport as `run`: aiohttp, through the proxy when one is set.
    bot = Bot(
        settings.token,
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        request=AiohttpRequest(proxy=settings.proxy),
        get_updates_request=AiohttpRequest(proxy=settings.proxy),
    )
    # initialize() is itself the getMe call; shutdown() closes the HTTP client.
    async with bot:
        return bot.bot


NOT_SQLITE = (
    "liemchinh: {0}: the database is PostgreSQL; use its own tools (pg_dump, pg_restore, or"
    " the operators' replication and backups), see the README"
)


def backup_command(settings: Settings, target: Path, *, force: bool) -> int:
    """Write a checked backup of the configured database to `target`."""
    if settings.database_url is not None:
        print(NOT_SQLITE.format("backup"), file=sys.stderr)
        return 2
    try:
        contents = backup(settings.database, target, force=force)
    except BackupError as exc:
        print(f"liemchinh: backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {settings.database}")
    for line in contents.lines():
        print(line)
    return 0


def restore_command(settings: Settings, source: Path, *, keep: bool) -> int:
    """Replace the configured database with the backup `source`."""
    if settings.database_url is not None:
        print(NOT_SQLITE.format("restore"), file=sys.stderr)
        return 2
    try:
        contents = restore(source, settings.database, keep=keep)
    except BackupError as exc:
        print(f"liemchinh: restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored {source}")
    for line in contents.lines():
        print(line)
    return 0


def copy_command(source: Path, url: str, state: Path) -> int:
    """Copy the SQLite file into the empty PostgreSQL database; print each table's check."""
    from bot.store.copy import CopyError, copy_database

    if not is_database_url(url):
        print(f"liemchinh: db copy: --to must be a postgresql:// URL, not {url}", file=sys.stderr)
        return 2
    if not source.is_file():
        print(f"liemchinh: db copy: {source}: no such database file", file=sys.stderr)
        return 2
    try:
        checks = asyncio.run(copy_database(source, url, state))
    except (CopyError, StorageError) as exc:
        print(f"liemchinh: db copy: {exc}", file=sys.stderr)
        return 1
    for check in checks:
        verdict = "ok" if check.ok else "DIFFERS"
        print(
            f"{check.table}: {check.source_rows} rows -> {check.target_rows} rows,"
            f" checksum {check.target_sum[:16]} {verdict}"
        )
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"liemchinh: db copy: {', '.join(bad)} differ", file=sys.stderr)
        return 1
    print(f"copied {source} to {redact_url(url)}: every table matches")
    return 0
