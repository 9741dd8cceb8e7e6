"""Sessions, CSRF tokens, receipt keys and the in-memory limits of the web pages.

Addresses are kept in memory only, for the limits, and never written to the database or the
log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# 16 random bytes: 128 bits for a session, shown to nobody.
SESSION_BYTES = 16
# The receipt key a citizen writes down: 16 characters of a 32-letter alphabet, 80 bits.
KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
KEY_LENGTH = 16
# scrypt's cost: slow enough that a stolen database does not give the keys away quickly.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


def new_session() -> str:
    """Return a fresh random session id."""
    return secrets.token_urlsafe(SESSION_BYTES)


def session_identity(session: str) -> str:
    """Return what the database keeps for a session: its hash, never the cookie itself."""
    return hashlib.sha256(session.encode()).hexdigest()


def csrf_token(session: str) -> str:
    """Return the session's form token (only the holder of the HttpOnly cookie can know it)."""
    return hmac.new(session.encode(), b"liemchinh-form", hashlib.sha256).hexdigest()


def csrf_ok(session: str | None, token: str | None) -> bool:
    """Tell, in constant time, whether a form's token belongs to the session."""
    if not session or not token:
        return False
    return hmac.compare_digest(csrf_token(session), token)


def new_receipt_key() -> str:
    """Return a new secret key, grouped in fours for writing down."""
    raw = "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, KEY_LENGTH, 4))


def normalize_key(text: str) -> str:
    """Return a typed key without separators, in capitals."""
    return "".join(c for c in text.upper() if c.isalnum())


def hash_key(key: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """Return (salt, hash) of a receipt key; a fresh salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(normalize_key(key).encode(), salt=salt, **_SCRYPT)
    return salt, digest


def key_matches(key: str, salt: bytes, expected: bytes) -> bool:
    """Tell, in constant time, whether a typed key is the report's."""
    return hmac.compare_digest(hash_key(key, salt)[1], expected)


@dataclass
class RateLimit:
    """At most `limit` events per `window` seconds per key (an address), in memory."""

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        """Record an event for `key`; False if it is over the limit."""
        now = self.clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > 10_000:
            self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        for k in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
            del self._events[k]


@dataclass
class Failures:
    """Failed look-ups per key (a code, an address): slowed after a few, locked after more."""

    slow_after: int = 3
    lock_after: int = 10
    lock_seconds: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def count(self, key: str) -> int:
        """Return the failures of `key` still remembered."""
        count, last = self._seen.get(key, (0, 0.0))
        if count and self.clock() - last > self.lock_seconds:
            del self._seen[key]
            return 0
        return count

    def locked(self, key: str) -> bool:
        """Tell whether `key` failed so often that it is refused for a while."""
        return self.count(key) >= self.lock_after

    def delay(self, key: str) -> float:
        """Return how long to wait before answering a look-up of `key`."""
        extra = self.count(key) - self.slow_after
        return 0.0 if extra < 0 else min(0.5 * 2**extra, 8.0)

    def fail(self, key: str) -> None:
        """Record a failure."""
        self._seen[key] = (self.count(key) + 1, self.clock())
        if len(self._seen) > 10_000:
            now = self.clock()
            for k in [k for k, (_c, t) in self._seen.items() if now - t > self.lock_seconds]:
                del self._seen[k]

    def clear(self, key: str) -> None:
        """Forget the failures of `key` after a success."""
        self._seen.pop(key, None)


class HideAddresses(logging.Filter):
    """Blank IP addresses among a log record's arguments.

    Tornado names the peer of a malformed or timed-out request ("Malformed HTTP message from
    %s"); the pages' own lines never name one. The record is kept, without the address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments; never drop it."""
        if isinstance(record.args, tuple):
            record.args = tuple("a visitor" if is_ip(arg) else arg for arg in record.args)
        return True


def hide_addresses() -> None:
    """Keep visitors' addresses out of tornado's own log lines (once per process)."""
    logger = logging.getLogger("tornado.general")
    if not any(isinstance(f, HideAddresses) for f in logger.filters):
        logger.addFilter(HideAddresses())


def is_ip(value: object) -> bool:
    """Tell whether a value (a string, tornado's connection context) is an IP address."""
    if isinstance(value, (int, float, bytes)):
        return False
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True
