"""Opening a report with its tracking code and secret key, for /status and the data pages.

A wrong code, a wrong key and a missing report get the same answer after the same work.
Failures are counted per code and per address, in memory: slowed after a few, locked for a
while after more.
"""

from __future__ import annotations

import asyncio

from bot.core.parsing import normalize_code
from bot.web.page import WebServices
from bot.web.security import key_matches

_DUMMY_SALT = bytes(16)

FOUND, NOT_FOUND, LOCKED = 200, 404, 429


async def check_key(
    services: WebServices, address: str, code_text: str, key: str
) -> tuple[int | None, int]:
    """Return the id of the report the code and key open and FOUND, or None and why not."""
    code = normalize_code(code_text) or ""
    by_code, by_address = "code:" + code, "addr:" + address
    failures = services.failures
    if failures.locked(by_code) or failures.locked(by_address):
        return None, LOCKED
    await asyncio.sleep(max(failures.delay(by_code), failures.delay(by_address)))
    found = await services.db.identities.receipt_key(code) if code else None
    # A missing report costs the same hashing as a wrong key: the time tells nothing.
    _id, salt, expected = found if found is not None else (0, _DUMMY_SALT, b"")
    ok = await asyncio.to_thread(key_matches, key, salt, expected)
    if not ok or found is None:
        failures.fail(by_code)
        failures.fail(by_address)
        return None, NOT_FOUND
    failures.clear(by_address)
    return found[0], FOUND
