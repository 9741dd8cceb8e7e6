"""Encryption of reporters' contact details at rest, the database file's mode, and the key that
counts reports towards the daily limit without naming their senders.

With a Fernet key in `LIEMCHINH_DATA_KEY`, names and phones are stored encrypted. This module
sits below the configuration (which checks the key) and the storage (which seals and unseals).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

DATA_KEY_ENV = "LIEMCHINH_DATA_KEY"
# Stored values carrying this prefix are Fernet tokens; anything else is legacy plain text.
SEALED_PREFIX = "fernet:"


# -- encryption at rest ------------------------------------------------------------------------


def parse_data_key(value: str) -> MultiFernet:
    """Return the cipher for a key list ("NEW[,OLD...]"); ValueError if any key is invalid.

    The first key encrypts; every key decrypts, so a key can be replaced without losing access
    to what the old one encrypted.
    """
    keys = [part.strip() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("no key")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("not a valid Fernet key") from exc


@lru_cache(maxsize=4)
def _cipher_for(value: str) -> MultiFernet | None:
    try:
        return parse_data_key(value)
    except ValueError:
        # load_settings refuses such a key; this only happens when settings were built in code.
        log.warning(
            "%s is not a valid Fernet key: contacts are stored in plain text", DATA_KEY_ENV
        )
        return None


def _cipher() -> MultiFernet | None:
    # Read at every use rather than once at import, so the running process and the tests see
    # the same environment.
    value = os.environ.get(DATA_KEY_ENV, "").strip()
    return _cipher_for(value) if value else None


def seal(text: str | None) -> str | None:
    """Encrypt a contact detail for storage when a data key is set; plain text otherwise."""
    cipher = _cipher()
    if text is None or cipher is None:
        return text
    return SEALED_PREFIX + cipher.encrypt(text.encode("utf-8")).decode("ascii")


_warned_unreadable = False


def unseal(stored: str | None) -> str | None:
    """Decrypt a stored contact detail; plain (legacy) values come back unchanged.

    A value that cannot be decrypted (no key, or another key) reads as None rather than
    stopping every view of the report, with one warning in the log.
    """
    global _warned_unreadable
    if stored is None or not stored.startswith(SEALED_PREFIX):
        return stored
    cipher = _cipher()
    if cipher is not None:
        try:
            return cipher.decrypt(stored.removeprefix(SEALED_PREFIX).encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            pass
    if not _warned_unreadable:
        _warned_unreadable = True
        log.warning("encrypted contact details cannot be read: check %s", DATA_KEY_ENV)
    return None


# -- the database file -------------------------------------------------------------------------


def secure_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), and tighten an existing one.

    SQLite creates the -wal and -shm files with the database file's own mode, so they follow;
    leftovers of an earlier run are tightened too. A process-wide umask would also reach files
    other threads create meanwhile, so the file is made here instead.
    """
    if str(path) == ":memory:":
        return
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and candidate.stat().st_mode & 0o077:
            candidate.chmod(0o600)


# -- the key of the daily limit ----------------------------------------------------------------

LIMIT_KEY_SUFFIX = ".limit-key"
_LIMIT_KEY_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def limit_key_path(database: Path) -> Path:
    """Return where the key of the daily limit lives: `<database>.limit-key`, beside it."""
    return Path(f"{database}{LIMIT_KEY_SUFFIX}")


def limit_key(database: Path) -> bytes:
    """Return the deployment's key for counting reports without ids, made owner-only if new."""
    # A lost key costs nothing but the counts of the last 24 hours: a new one is made and the
    # limit starts afresh. A key that is there but unreadable is refused rather than replaced,
    # since the operator may be putting a backup's key back.
    if str(database) == ":memory:":
        return secrets.token_bytes(32)
    path = limit_key_path(database)
    if not path.exists():
        _create_key(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not _LIMIT_KEY_RE.match(text):
        raise ValueError(f"{path}: not a key the bot wrote; move it away to make a new one")
    return bytes.fromhex(text)


def _create_key(path: Path) -> None:
    create_secret_file(path, (secrets.token_hex(32) + "\n").encode("ascii"))


def create_secret_file(path: Path, data: bytes) -> None:
    """Write a new secret (a key) at `path`, mode 0600, unless another process got there first.

    Written whole under another name, then linked into place: a process starting at the same
    moment sees no file or the whole file, never half of one, and the first link wins, so every
    process of a deployment ends up with the same secret.
    """
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    # Created with its final mode: the secret is never readable by others, even for a moment.
    fd = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
