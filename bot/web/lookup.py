"""Opening a report with its tracking code and secret key, for /status and the data pages.

A wrong code, a wrong key and a missing report get the same answer after the same work.
Failures are counted per code and per address, in memory: slowed after a few, locked for a
while after more.
"""

from __future__ import annotations

import asyncio
from html import escape

from bot.core.parsing import normalize_code
from bot.i18n import Gettext
from bot.messages import web as words
from bot.web.page import Page, WebServices
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


def code_and_key_fields(_: Gettext) -> str:
    """Return the labelled code and key inputs, the same on every page that opens a report."""
    label = words.labels(_)
    return (
        f'<label for="code">{escape(label["code"])}</label>'
        '<input id="code" name="code" autocomplete="off" autocapitalize="characters">'
        f'<label for="key">{escape(label["key"])}</label>'
        '<input id="key" name="key" autocomplete="off" autocapitalize="characters">'
    )


async def open_posted(page: Page) -> tuple[int | None, str, int]:
    """Check the posted code and key: the report's id, or None with the refusal and status."""
    report_id, outcome = await check_key(
        page.services,
        page.address,
        page.get_body_argument("code", ""),
        page.get_body_argument("key", ""),
    )
    refusal = words.locked(page._) if outcome == LOCKED else words.not_found(page._)
    return report_id, refusal, outcome
