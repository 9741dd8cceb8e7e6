"""The operator's commands besides running the bot: backup, restore."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.config import Settings
from bot.store.backup import BackupError, backup, restore


def backup_command(settings: Settings, target: Path, *, force: bool) -> int:
    """Write a checked backup of the configured database to `target`."""
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
    try:
        contents = restore(source, settings.database, keep=keep)
    except BackupError as exc:
        print(f"liemchinh: restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored {source}")
    for line in contents.lines():
        print(line)
    return 0
