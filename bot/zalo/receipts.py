"""What a Zalo reporter is told about a report's integrity: the line saying where a conflict of
interest sent it, and its signed receipt, sent as text since Zalo's bots send no files.

The receipt is the one every channel gives (`Workflow.signed_receipt`), in its text form: one
line of ASCII JSON the citizen keeps, and pastes into `/status/receipt` or saves for
`liemchinh verify`. A receipt longer than a message is cut into pieces, never next to a space
(which a chat may trim); the line breaks between pasted pieces are not part of the text form,
so the pieces pasted one after another check as the whole.
"""

from __future__ import annotations

import asyncio

from bot.core.domain import Report
from bot.core.parsing import format_code, normalize_code
from bot.core.receipts import key_path, load_or_create_key, public_text, receipt_text
from bot.i18n import Gettext
from bot.messages import integrity as integrity_texts
from bot.messages import zalo as words
from bot.zalo.services import Talk, ZaloServices
from bot.zalo.text import MESSAGE_LIMIT, length


async def unit_name(services: ZaloServices, code: str | None) -> str:
    """Return a unit's name, or its code when it is not known."""
    unit = await services.db.units.get_unit(code or "")
    return unit.name if unit else code or ""


async def routed_line(services: ZaloServices, found: Report, _: Gettext) -> str:
    """Return the line saying where a conflict of interest sent the report and why (HTML), the
    one the web page and the other chats show; "" for a report that went to its own unit."""
    if not found.conflict or not found.concerned_unit:
        return ""
    concerned = await unit_name(services, found.concerned_unit)
    # Handled where it is about: nobody above it, so the administrators have it.
    above = found.fields.unit_code != found.concerned_unit
    handler = await unit_name(services, found.fields.unit_code) if above else None
    return integrity_texts.routed_line(found, concerned, handler, _)


def receipt_parts(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a receipt's text form into messages of at most `limit`, never beside a space."""
    parts: list[str] = []
    rest = text
    while length(rest) > limit:
        cut = limit
        # The text form is ASCII: a character is one unit, and no cut splits one.
        while cut > 1 and (rest[cut - 1].isspace() or rest[cut].isspace()):
            cut -= 1
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return parts


async def send_receipt(talk: Talk, arg: str) -> None:
    """Answer /bienlai CODE: the signed receipt of one of the sender's own reports."""
    _ = talk._
    services = talk.services
    code = normalize_code(arg) if arg else None
    if code is None:
        await talk.say(words.receipt_usage(_))
        return
    found = await services.db.reports.report_for_reporter(code, talk.user_id)
    if found is None:
        # The answer to a code of someone else's report, or of none: nothing tells them apart.
        await talk.say(words.not_yours(_))
        return
    shown = format_code(found.code)
    data = await services.workflow.signed_receipt(found)
    if data is None:
        await talk.say(words.receipt_waiting(shown, _))
        return
    parts = receipt_parts(receipt_text(data))
    key = await asyncio.to_thread(load_or_create_key, key_path(services.settings.database))
    web = services.settings.web
    page = f"{web.public_url}/status/receipt" if web.enabled and web.public_url else None
    await talk.say(words.receipt_intro(shown, len(parts), public_text(key), page, _))
    # Each piece alone in its message, exactly as made: copied whole, nothing added.
    await talk.say_as_is(*parts)
