"""The `liemchinh` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, check_database_path, load_settings

CONFIG_ENV = "LIEMCHINH_CONFIG"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liemchinh",
        description="Telegram bot for reporting officials' misconduct. With no command: run the"
        " bot if a token is configured, otherwise the offline demo.",
    )
    parser.add_argument("--config", type=Path, help="configuration file (default: config.toml)")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the bot against Telegram (long polling)")
    run.add_argument("--config", type=Path, dest="run_config", help="configuration file")
    run.add_argument("--log-file", type=Path, help="write the log here instead of stderr")
    demo = sub.add_parser("demo", help="chat with the bot offline, against a simulated Telegram")
    demo.add_argument(
        "--script", action="store_true", help="play one complete report and print the transcript"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(script=args.script)
        config = getattr(args, "run_config", None) or args.config or _default_config()
        if args.command == "run":
            settings = load_settings(config)
            check_database_path(settings)
            _logging(getattr(args, "log_file", None))
            return _run(settings)
        # No command: the bot when it can reach Telegram, the demo otherwise.
        if config.exists() or os.environ.get("LIEMCHINH_TOKEN"):
            settings = load_settings(config, require_token=False)
            if settings.token:
                check_database_path(settings)
                _logging(None)
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


def _logging(log_file: Path | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[handler],
    )
    # httpx logs every request URL at INFO, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _run(settings: Settings) -> int:
    from telegram import Update

    from bot.app import build_application

    app = build_application(settings)
    app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def _demo(*, script: bool) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(script=script))
