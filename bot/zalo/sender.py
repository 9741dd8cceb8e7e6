"""The reporter-bound outbox kinds for Zalo reporters: their tracking code, status notices,
escalations and the units' questions, in the same words as on Telegram, as plain text.

The outbox worker calls `deliver` for an item whose reporter came through Zalo. Each message
sent is recorded as a part, so a retry sends only what is left. Anything Zalo will not take
now (a limit, an outage, a person it will not let the bot write to yet) raises `Deferred`: the
item waits and is never dropped, and is made due again the moment the person writes.
"""

from __future__ import annotations

import logging
from html import escape

from bot.core.domain import Channel, Report
from bot.core.outbox import (
    Deferred,
    EscalationNotice,
    OutboxItem,
    OutboxKind,
    QuestionPayload,
    StatusNotice,
)
from bot.core.parsing import format_code
from bot.i18n import Gettext
from bot.messages import citizen as notices
from bot.messages import questions as texts
from bot.messages import zalo as words
from bot.messages.relay import question_head
from bot.store.repository import Committed
from bot.zalo.client import ZaloError
from bot.zalo.media import MediaShelf
from bot.zalo.receipts import routed_line
from bot.zalo.render import choice_lines, messages_of
from bot.zalo.services import ZaloServices

log = logging.getLogger(__name__)

# A person Zalo will not let the bot write to now is tried again this rarely; their writing
# to the bot makes everything held for them due at once.
HOLD_SECONDS = 6 * 3600.0
# An outage or a limit without a stated wait: tried again after 1, 2, 4… seconds, up to this.
RETRY_MAX = 300.0


class ZaloSender:
    """Delivers reporter-bound outbox items to Zalo reporters."""

    def __init__(self, services: ZaloServices, shelf: MediaShelf) -> None:
        self.services = services
        self.shelf = shelf

    async def deliver(self, item: OutboxItem) -> None:
        """Send the item's messages from the first not yet sent; raise Deferred to wait."""
        db = self.services.db
        reads = self._reads
        assert item.report_id is not None
        found = await reads.reports.get_report(item.report_id)
        user_id = await reads.reports.reporter_chat(item.report_id)
        if found is None or user_id is None:
            # The reporter's link was erased: there is nobody to tell.
            return
        identity = await reads.identities.external_id(user_id)
        if identity is None or identity[0] is not Channel.ZALO:
            return
        locale = await reads.users.user_locale(user_id) or found.locale
        _ = self.services.translator.get(locale)
        messages = await self._messages(item, found, _, locale)
        photo = await self._photo(item)
        parts = len(messages) + (1 if photo is not None else 0)
        for index in range(item.parts_done, parts):
            try:
                if index < len(messages):
                    await self.services.client.send_message(identity[1], messages[index])
                else:
                    assert photo is not None
                    # A link of our own, fetched by Zalo: sendPhoto takes nothing else.
                    await self.services.client.send_photo(identity[1], self.shelf.put(photo))
            except ZaloError as exc:
                raise _deferred(exc, item.attempts) from None
            await db.outbox.part_sent(item.id, index + 1)

    @property
    def _reads(self) -> Committed:
        # Committed data on the read-only connection: drawing a message never holds up a
        # citizen's step (Database.snapshot).
        return self.services.db.committed

    async def _photo(self, item: OutboxItem) -> bytes | None:
        """Return the photo a unit's question carries, when Zalo can be given a link to it."""
        if item.kind is not OutboxKind.QUESTION or not self.shelf.enabled:
            return None
        relay_id = item.payload_of(QuestionPayload).relay_id
        relay = await self._reads.links.get_relay(relay_id)
        if relay is None or relay.kind != "photo":
            return None
        return await self._reads.files.relay_bytes(relay_id)

    async def _messages(
        self, item: OutboxItem, found: Report, _: Gettext, locale: str
    ) -> list[str]:
        """Return the plain messages of one item (empty for a step the reporter is not told)."""
        if item.kind is OutboxKind.RECEIPT:
            return await self._receipt(found, _)
        if item.kind is OutboxKind.STATUS_NOTICE:
            audit_id = item.payload_of(StatusNotice).audit_id
            entry = await self._reads.reports.get_audit(audit_id)
            if entry is None:
                return []
            text = notices.status_notice(
                entry.action,
                found,
                await self._unit_name(entry.to_unit or entry.from_unit),
                await self._unit_name(entry.from_unit),
                entry.note,
                _,
                locale,
            )
            if text is None:
                return []
            if entry.action == "resolved":
                choices = choice_lines(list(words.verdict_choices(_)))
                # The notice ends with the question; the numbered answers follow it.
                return messages_of(text, choices)
            return messages_of(text)
        if item.kind is OutboxKind.ESCALATION_NOTICE:
            target = item.payload_of(EscalationNotice).to
            unit = await self._unit_name(found.fields.unit_code)
            parent = await self._unit_name(target) if target else None
            return messages_of(notices.escalation_notice(found.code, unit, parent, _))
        if item.kind is OutboxKind.QUESTION:
            return await self._question(item, found, _)
        return []

    async def _receipt(self, found: Report, _: Gettext) -> list[str]:
        code = format_code(found.code)
        unit = await self._unit_name(found.fields.unit_code)
        concerned = found.concerned_unit
        if found.conflict and concerned and found.fields.unit_code == concerned:
            unit = _("the administrators")
        routed = await routed_line(self.services, found, _)
        return messages_of(texts.received(code, unit, _), routed, words.receipt_tail(code, _))

    async def _question(self, item: OutboxItem, found: Report, _: Gettext) -> list[str]:
        payload = item.payload_of(QuestionPayload)
        relay = await self._reads.links.get_relay(payload.relay_id)
        if relay is None:
            return []
        asking = await self._unit_name(payload.unit or found.fields.unit_code)
        blocks = [question_head(asking, found.code, _)]
        if relay.text:
            blocks.append(_escaped(relay.text))
        shown = relay.kind == "photo" and self.shelf.enabled
        if relay.kind != "text" and not (shown and await self._has_bytes(relay.id)):
            blocks.append(words.photo_from_unit(_))
        blocks.append(words.question_tail(_))
        return messages_of(*blocks)

    async def _has_bytes(self, relay_id: int) -> bool:
        return await self._reads.files.relay_bytes(relay_id) is not None

    async def _unit_name(self, code: str | None) -> str:
        unit = await self._reads.units.get_unit(code or "")
        return unit.name if unit else code or ""


def _escaped(text: str) -> str:
    """Return an officer's words as the HTML the plain-text conversion reads back unchanged."""
    return escape(text)


def _deferred(exc: ZaloError, attempts: int) -> Deferred:
    """Return how long to wait after Zalo refused or did not answer."""
    backoff = min(RETRY_MAX, 2.0**attempts)
    if exc.rate_limited:
        return Deferred(f"Zalo rate limit ({exc.code})", exc.retry_after or backoff)
    if exc.network or exc.code >= 500:
        return Deferred(f"Zalo unreachable ({exc.description})", backoff)
    # Refused for this person (not following, a reply window, blocked): held until they write.
    log.warning("Zalo refused a message to a reporter: %s", exc.code)
    return Deferred(f"held: Zalo refused ({exc.code})", HOLD_SECONDS)
