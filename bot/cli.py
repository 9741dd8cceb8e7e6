"""The `liemchinh` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bot.config import (
    STATE_STEM,
    ConfigError,
    Settings,
    check_database_path,
    load_settings,
    proxy_secrets,
)
from bot.logs import configure as configure_logging

CONFIG_ENV = "LIEMCHINH_CONFIG"
UNITS_RULE = (
    "Imported units count as edited by an administrator: later starts no longer overwrite them"
    " from [[units]] in the config (the database wins for them). Officers are only added, never"
    " removed; units the file does not name are left alone."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liemchinh",
        description="Telegram bot for reporting officials' misconduct. With no command: run the"
        " bot if a token is configured, otherwise the offline demo.",
    )
    parser.add_argument("--config", type=Path, help="configuration file (default: config.toml)")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the bot against Telegram (long polling or webhook)")
    run.add_argument("--config", type=Path, dest="run_config", help="configuration file")
    run.add_argument("--log-file", type=Path, help="write the log here instead of stderr")
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object a line (for journald, Loki); default text",
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates on the [webhook] address instead of polling",
    )
    run.add_argument(
        "--standby",
        action="store_true",
        help="PostgreSQL only, polling: while another bot polls for the database, wait and take"
        " over when it stops or dies (webhook workers all run at once and need no standby)",
    )
    demo = sub.add_parser("demo", help="chat with the bot offline, against a simulated Telegram")
    demo.add_argument(
        "--script", action="store_true", help="play one complete report and print the transcript"
    )
    demo.add_argument(
        "--channel",
        choices=("telegram", "zalo"),
        default="telegram",
        help="the citizen's channel: Telegram (default) or Zalo, against its simulator",
    )
    bench = sub.add_parser(
        "bench",
        help="measure the bot against the simulated Telegram (see docs/performance.md)",
        description="Drive simulated citizens through complete reports against the real bot"
        " in a subprocess, and an echo bot as the floor; 0 skips a phase.",
    )
    bench.add_argument("--citizens", type=int, default=40, help="citizens at a time")
    bench.add_argument("--reports", type=int, default=200, help="complete reports to send")
    bench.add_argument("--think", type=float, default=3.0, help="seconds between two steps")
    bench.add_argument("--open", type=int, default=1000, help="reports left open (memory)")
    bench.add_argument("--backlog", type=int, default=10_000, help="updates queued at start-up")
    bench.add_argument("--seed", type=int, default=100_000, help="reports for /stats, /export")
    bench.add_argument("--seed-into", type=Path, metavar="DB", help="only seed this database")
    bench.add_argument("--chaos", type=int, default=0, metavar="N", help="SIGKILL the bot N times")
    bench.add_argument("--workdir", type=Path, help="keep the database and logs here")
    bench.add_argument(
        "--saturate",
        type=int,
        default=0,
        metavar="N",
        help="N reports with no think time and the limits lifted (bot and echo floor)",
    )
    bench.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run the bot of the load phase under cProfile, its statistics written to FILE",
    )
    bench.add_argument(
        "--bot-root",
        type=Path,
        metavar="DIR",
        help="measure the bot of another source tree (e.g. an earlier commit's worktree)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="every figure at small sizes (30 reports, 300 open, 20,000 seeded), in ~3 min",
    )
    bench.add_argument(
        "--lenient", action="store_true", help="count flood violations but answer no 429"
    )
    bench.add_argument(
        "--workers",
        type=_worker_counts,
        metavar="N,N,...",
        help="only compare webhook workers on PostgreSQL (e.g. 1,2,3) with one process on"
        " SQLite: --reports reports each, --citizens at a time, no think time, limits lifted",
    )
    bench.add_argument(
        "--echo-transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="the echo floor's HTTP client: python-telegram-bot's default (httpx) or the bot's",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    units = sub.add_parser(
        "units",
        help="export or import the unit tree as a CSV file",
        description="Export the unit tree to CSV, edit it (in Excel, say), import it back. "
        + UNITS_RULE,
    )
    units_sub = units.add_subparsers(dest="units_command", required=True)
    export = units_sub.add_parser(
        "export",
        help="write every unit, disabled ones too, as CSV (UTF-8 with BOM)",
        description="Write every unit in the database, disabled ones too, parents first, as"
        " CSV: code,name,parent,chat_id,officers,disabled. The config's units are seeded first,"
        " as at every start, so a fresh database is not empty.",
    )
    export.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE.csv", help="write here instead of stdout"
    )
    imp = units_sub.add_parser(
        "import",
        help="create or update units from a CSV file, all or nothing",
        description="Create or update the units a CSV file names (code,name,parent,chat_id,"
        "officers,disabled). The whole file is checked first: any problem is reported as"
        " FILE:LINE: column: message, and nothing is written. " + UNITS_RULE,
    )
    imp.add_argument("file", type=Path, help="the CSV file (UTF-8, with or without BOM)")
    imp.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="check the file and show the changes; write nothing"
    )
    verify = sub.add_parser(
        "verify",
        help="check a signed receipt offline: exit 0 if valid, 1 if not",
        description="Check a receipt file against the deployment's public key (/publickey).",
    )
    verify.add_argument("receipt", type=Path, help="the receipt file (JSON)")
    verify.add_argument("--key", help="public key in base64; default: this deployment's key")
    verify.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    _ops_parsers(sub)
    return parser


def _worker_counts(text: str) -> tuple[int, ...]:
    """Read `--workers 1,2,3`: the numbers of webhook workers to measure."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or any(not 1 <= count <= 16 for count in counts):
        raise argparse.ArgumentTypeError("a comma-separated list of numbers from 1 to 16")
    return counts


def _ops_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="check the configuration and that Telegram answers, then exit",
        description="Read the configuration as `run` does, call getMe on the configured Bot"
        " API, and print the bot's username and the database's path. Exit 2 on a configuration"
        " error, 1 when Telegram cannot be reached.",
    )
    check.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    backup = sub.add_parser(
        "backup",
        help="copy the database to FILE, safely while the bot runs, and check the copy",
        description="Copy the database with SQLite's online backup (consistent while the bot"
        " runs), check the copy (integrity_check, row counts) and write it owner-only (0600)."
        " The data key (LIEMCHINH_DATA_KEY) is not in it: keep that apart. Nor are the key files"
        " beside the database (.receipt-key, .limit-key), which it names: copy them once.",
    )
    backup.add_argument("file", type=Path, help="the backup file to write")
    backup.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    restore = sub.add_parser(
        "restore",
        help="replace the database with a backup (the bot must be stopped)",
        description="Check FILE (integrity_check, migrations this version knows) and make it"
        " the database, owner-only (0600). Refused while a bot runs on the database. The"
        " replaced database is kept beside it as DATABASE.before-restore-TIME.",
    )
    restore.add_argument("file", type=Path, help="a file written by `liemchinh backup`")
    restore.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )
    restore.add_argument(
        "--no-keep", action="store_true", help="delete the replaced database instead of keeping it"
    )
    db = sub.add_parser("db", help="move a deployment's database (SQLite to PostgreSQL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    copy = db_sub.add_parser(
        "copy",
        help="copy a SQLite database into an empty PostgreSQL one, and check the copy",
        description="Copy every row of the SQLite file (sealed contacts, evidence hashes, the"
        " audit logs) into an empty PostgreSQL database, in one transaction, then compare each"
        " table's row count and checksum. A target holding any row is refused. The keys beside"
        " the file (.limit-key, .receipt-key) go to the state folder as liemchinh.*. Stop the"
        " bot first.",
    )
    copy.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE")
    copy.add_argument("--to", dest="target", required=True, metavar="postgresql://...")
    copy.add_argument(
        "--state-dir",
        type=Path,
        help="where the PostgreSQL deployment keeps its keys ([storage] state_dir); default:"
        " the configuration file's folder",
    )
    copy.add_argument(
        "--config", type=Path, dest="sub_config", metavar="FILE", help="configuration file"
    )


def _verify(receipt: Path, key: str | None, config: Path) -> int:
    """Check a receipt and print one line; 0 valid, 1 invalid."""
    from bot.core.receipts import key_path, load_or_create_key, parse_public, public_bytes, verify

    if key is not None:
        public = parse_public(key)
    else:
        path = key_path(load_settings(config, require_token=False).database)
        if not path.exists():
            print(f"no signing key at {path}: pass --key", file=sys.stderr)
            return 1
        public = public_bytes(load_or_create_key(path))
    verdict = verify(receipt.read_bytes(), public)
    print(verdict.reason)
    return 0 if verdict.valid else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(script=args.script, channel=args.channel)
        if args.command == "bench":
            from bot.sim.bench import run_from_args

            return run_from_args(args)
        config = (
            getattr(args, "run_config", None)
            or getattr(args, "sub_config", None)
            or args.config
            or _default_config()
        )
        if args.command in ("check", "backup", "restore"):
            return _ops(args, config)
        if args.command == "db":
            from bot.ops import copy_command

            return _db_copy(args, config, copy_command)
        if args.command == "verify":
            return _verify(args.receipt, args.key, config)
        if args.command == "units":
            # Editing units needs the database, not Telegram: no token required.
            settings = load_settings(config, require_token=False)
            if args.units_command == "export":
                return _units_export(settings, args.output)
            return _units_import(settings, args.file, dry_run=args.dry_run)
        if args.command == "run":
            settings = load_settings(config)
            check_database_path(settings)
            _logging(args.log_file, settings, args.log_format)
            return _run(settings, webhook=args.webhook, standby=args.standby)
        # No command: the bot when it can reach Telegram, the demo otherwise.
        if config.exists() or os.environ.get("LIEMCHINH_TOKEN"):
            settings = load_settings(config, require_token=False)
            if settings.token:
                check_database_path(settings)
                _logging(None, settings)
                return _run(settings)
        print(
            "No Telegram token configured: starting the offline demo."
            " (See README.md to run against Telegram.)\n",
            flush=True,
        )
        return _demo(script=False)
    except ConfigError as exc:
        print(f"liemchinh: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _default_config() -> Path:
    return Path(os.environ.get(CONFIG_ENV, "config.toml"))


def log_file_handler(path: Path) -> logging.FileHandler:
    """Open the log file for appending, readable by its owner only (0600), like the database."""
    # The log names units and report codes: created owner-only, and an existing file tightened.
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return logging.FileHandler(path, encoding="utf-8")


def _logging(log_file: Path | None, settings: Settings, log_format: str = "text") -> None:
    handler: logging.Handler = log_file_handler(log_file) if log_file else logging.StreamHandler()
    # Both formats take the tokens, the webhooks' secrets and the proxy's credentials out of
    # every line (bot.logs).
    secrets = [settings.token, settings.webhook.secret_token, *proxy_secrets(settings.proxy)]
    if settings.zalo is not None:
        secrets += [settings.zalo.token, settings.zalo.secret_token]
    configure_logging(handler, log_format, secrets)


class AlreadyRunning(Exception):
    """Another process runs the bot on the same database."""


@contextlib.contextmanager
def single_instance(database: Path) -> Iterator[None]:
    """Hold the lock file beside the database for as long as the bot runs, or refuse."""
    # Two processes on one database would both poll the token (Telegram answers each with 409)
    # and both handle what is stored. The kernel drops the lock when its process dies, however
    # it dies, so a file left by a dead process blocks nothing.
    # The same file `liemchinh restore` takes, so that it refuses while this bot runs.
    from bot.store.backup import lock_path

    path = lock_path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            raise AlreadyRunning(
                f"liemchinh: another liemchinh (pid {holder}) is already running on"
                f" {database}; stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        # Closing the file releases the lock; the file stays, holding a pid nobody checks.
        os.close(fd)


def _run(settings: Settings, *, webhook: bool = False, standby: bool = False) -> int:
    from bot.app import build_application, serve
    from bot.store.repository import InstanceBusy

    if webhook and not (settings.webhook.url and settings.webhook.secret_token):
        raise ConfigError(
            settings.path, "webhook", "--webhook needs [webhook] url and secret_token"
        )
    url = settings.database_url
    if standby and url is None:
        raise ConfigError(settings.path, "storage.database", "--standby needs PostgreSQL")
    if standby and webhook:
        # Every webhook worker on one PostgreSQL database handles updates; one that dies
        # leaves its chats and jobs to the others. There is nothing to stand by for.
        logging.getLogger(__name__).info("--standby: webhook workers all run; starting now")
        standby = False
    # On PostgreSQL the database's advisory lock keeps one polling bot per database, across
    # machines, and webhook workers share it; the lock file beside a SQLite database keeps one
    # bot on one machine.
    lock = single_instance(settings.database) if url is None else contextlib.nullcontext()
    try:
        with lock:
            while True:
                if standby and url is not None:
                    # Imported here: a bot on SQLite never loads the PostgreSQL driver.
                    from bot.store.postgres import wait_for_instance

                    asyncio.run(wait_for_instance(url))
                try:
                    asyncio.run(serve(build_application(settings), webhook=webhook))
                    return 0
                except InstanceBusy:
                    # Another standby took over first: wait for it in turn.
                    if not standby:
                        raise
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 2
    except InstanceBusy as exc:
        print(f"liemchinh: {settings.database_label}: {exc}; stop it first", file=sys.stderr)
        return 2


def _ops(args: argparse.Namespace, config: Path) -> int:
    from bot.ops import backup_command, check_command, restore_command

    if args.command == "check":
        return check_command(config)
    # Copying the database needs no token.
    settings = load_settings(config, require_token=False)
    if args.command == "backup":
        return backup_command(settings, args.file, force=args.force)
    return restore_command(settings, args.file, keep=not args.no_keep)


def _db_copy(args: argparse.Namespace, config: Path, command: Callable[..., int]) -> int:
    state = (args.state_dir or config.absolute().parent) / STATE_STEM
    try:
        # The bot must not write to the file while it is copied.
        with single_instance(args.source):
            return command(args.source, args.target, state)
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 2


def _demo(*, script: bool, channel: str = "telegram") -> int:
    if channel == "zalo":
        from bot.sim.zalo_demo import run_zalo_demo

        return asyncio.run(run_zalo_demo(script=script))
    from bot.sim.demo import run_demo

    return asyncio.run(run_demo(script=script))


def _units_export(settings: Settings, output: Path | None) -> int:
    from bot.figures.units_csv import export_csv
    from bot.store.repository import StorageError

    try:
        data = asyncio.run(export_csv(settings))
    except (sqlite3.Error, StorageError) as exc:
        print(f"liemchinh: database {settings.database_label}: {exc}", file=sys.stderr)
        return 1
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        output.write_bytes(data)
    except OSError as exc:
        print(f"liemchinh: {output}: cannot be written ({exc.strerror})", file=sys.stderr)
        return 2
    return 0


def _units_import(settings: Settings, file: Path, *, dry_run: bool) -> int:
    from bot.figures.units_csv import format_problems, import_csv
    from bot.store.repository import StorageError

    try:
        data = file.read_bytes()
    except OSError as exc:
        print(f"liemchinh: {file}: cannot be read ({exc.strerror})", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(import_csv(settings, data, dry_run=dry_run))
    except (sqlite3.Error, StorageError) as exc:
        print(f"liemchinh: database {settings.database_label}: {exc}", file=sys.stderr)
        return 1
    if result.problems:
        for line in format_problems(str(file), result.problems):
            print(line, file=sys.stderr)
        return 2
    assert result.plan is not None
    for line in result.plan.lines(dry_run=dry_run):
        print(line)
    return 0
