"""What the bot owes someone: one kind per message, one payload type per kind.

An outbox row is written in the same transaction as the step that made the message owed, and
delivered later by a channel. The kinds and their payloads are defined here once; the storage
keeps them as a kind name and a JSON object, and delivery dispatches on the kind once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self, TypeVar


class OutboxKind(StrEnum):
    """Every kind of message the outbox carries; values are stored in the outbox table."""

    ALERT = "alert"  # a report's alert to a unit's chat (or to an admin, at the top)
    REFRESH = "refresh"  # edit every alert of a report to show its current state
    STATUS_NOTICE = "citizen_status"  # the reporter told of a step in the unit's handling
    ESCALATION_NOTICE = "citizen_escalated"  # the reporter told the report went up a level
    QUESTION = "citizen_question"  # a unit's question relayed to the reporter
    RECEIPT = "citizen_receipt"  # the tracking code of a report just stored
    REMINDER = "unit_reminder"  # a unit reminded of a deadline
    ANSWER = "unit_answer"  # the reporter's answer relayed to the unit that asked
    DIGEST = "digest"  # last week's figures
    HELD_ALERTS = "notice_held"  # an admin told that a unit's chat cannot take alerts
    NOTICE = "notice"  # a plain text to one chat
    CONFLICT_NOTICE = "unit_conflict_notice"  # a unit told a report about it is handled above
    PATTERN_CHECK = "pattern_check"  # look for a pattern around a new report (sends nothing)

    @property
    def to_reporter(self) -> bool:
        """Tell whether the message goes to a report's reporter (found through the report)."""
        return self in _TO_REPORTER

    @property
    def to_unit(self) -> bool:
        """Tell whether the message goes to a unit's chat, which an admin must fix if broken."""
        return self in _TO_UNIT


_TO_REPORTER = frozenset(
    {
        OutboxKind.STATUS_NOTICE,
        OutboxKind.ESCALATION_NOTICE,
        OutboxKind.QUESTION,
        OutboxKind.RECEIPT,
    }
)
_TO_UNIT = frozenset(
    {
        OutboxKind.ALERT,
        OutboxKind.REMINDER,
        OutboxKind.ANSWER,
        OutboxKind.DIGEST,
        OutboxKind.CONFLICT_NOTICE,
    }
)


@dataclass(frozen=True)
class Payload:
    """The data one kind of message needs; stored as a JSON object."""

    kind: ClassVar[OutboxKind]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build from a stored object, ignoring keys an older or newer version wrote."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class AlertPayload(Payload):
    """A report's alert; the flags say why it is sent again."""

    kind: ClassVar[OutboxKind] = OutboxKind.ALERT
    transferred: bool = False
    reopened: bool = False
    # How many levels the report climbed past a missed deadline (0: not overdue).
    overdue: int = 0
    deadline_kind: str | None = None
    # Sent above the unit the report is about: why ("head" or "marked", core.integrity).
    conflict: str = ""
    # Sent above because this many reports about the same official form a pattern.
    pattern: int = 0


@dataclass(frozen=True)
class RefreshPayload(Payload):
    """Nothing but the report: its alerts are redrawn from its stored state."""

    kind: ClassVar[OutboxKind] = OutboxKind.REFRESH


@dataclass(frozen=True)
class StatusNotice(Payload):
    """The reporter's notice of one step; the audit line says which (set when it is queued)."""

    kind: ClassVar[OutboxKind] = OutboxKind.STATUS_NOTICE
    audit_id: int = 0


@dataclass(frozen=True)
class EscalationNotice(Payload):
    """The reporter's notice that the report went up; `to` is the unit, None for the admins."""

    kind: ClassVar[OutboxKind] = OutboxKind.ESCALATION_NOTICE
    to: str | None = None


@dataclass(frozen=True)
class QuestionPayload(Payload):
    """A unit's question to the reporter (the relay is set when it is queued)."""

    kind: ClassVar[OutboxKind] = OutboxKind.QUESTION
    unit: str | None = None
    relay_id: int = 0


@dataclass(frozen=True)
class ReceiptPayload(Payload):
    """The reporter's tracking code: queued with the report, so a crash cannot lose it."""

    kind: ClassVar[OutboxKind] = OutboxKind.RECEIPT


@dataclass(frozen=True)
class ReminderPayload(Payload):
    """A deadline reminder, owed only while that deadline stands."""

    kind: ClassVar[OutboxKind] = OutboxKind.REMINDER
    deadline_kind: str | None = None
    deadline_at: float | None = None


@dataclass(frozen=True)
class AnswerPayload(Payload):
    """The reporter's answer to the unit (the relay is set when it is queued)."""

    kind: ClassVar[OutboxKind] = OutboxKind.ANSWER
    relay_id: int = 0


@dataclass(frozen=True)
class DigestPayload(Payload):
    """Last week's figures: the days from `first` up to, not including, `last`."""

    kind: ClassVar[OutboxKind] = OutboxKind.DIGEST
    first: str = ""
    last: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build from a stored object; rows written before the typed outbox say from/to."""
        return cls(
            first=str(data.get("first", data.get("from", ""))),
            last=str(data.get("last", data.get("to", ""))),
        )


@dataclass(frozen=True)
class HeldAlertsNotice(Payload):
    """An admin told that a unit's alerts are held: no chat, or the chat refuses the bot."""

    kind: ClassVar[OutboxKind] = OutboxKind.HELD_ALERTS
    unit: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TextNotice(Payload):
    """A text, already in its reader's words, for one chat."""

    kind: ClassVar[OutboxKind] = OutboxKind.NOTICE
    text: str = ""


@dataclass(frozen=True)
class ConflictNotice(Payload):
    """The unit a report is about, told only that the unit above handles it: no content."""

    kind: ClassVar[OutboxKind] = OutboxKind.CONFLICT_NOTICE
    # The unit that handles it; None for the admins.
    handler: str | None = None


@dataclass(frozen=True)
class PatternCheck(Payload):
    """Look for other reports about the same official once a report is stored.

    Queued with the report rather than run inside its transaction: a failing search can then
    neither lose nor hold up the report, and the outbox retries it until it has run.
    """

    kind: ClassVar[OutboxKind] = OutboxKind.PATTERN_CHECK


PAYLOADS: dict[OutboxKind, type[Payload]] = {
    cls.kind: cls
    for cls in (
        AlertPayload,
        RefreshPayload,
        StatusNotice,
        EscalationNotice,
        QuestionPayload,
        ReceiptPayload,
        ReminderPayload,
        AnswerPayload,
        DigestPayload,
        HeldAlertsNotice,
        TextNotice,
        ConflictNotice,
        PatternCheck,
    )
}


def read_payload(kind: str, data: Mapping[str, Any]) -> Payload:
    """Return the typed payload of a stored row; ValueError for a kind this version lacks."""
    return PAYLOADS[OutboxKind(kind)].from_json(data)


@dataclass(frozen=True)
class Outgoing:
    """A message to queue with a step: its payload, and where it goes.

    `report_id` defaults to the step's report; `unit_code` sends to that unit's chat, `chat_id`
    to one chat; a notice to the reporter needs neither (the report's reporter is looked up
    when it is delivered, so a reporter who erased their data is not written to).
    """

    payload: Payload
    unit_code: str | None = None
    chat_id: int | None = None
    report_id: int | None = None

    @property
    def kind(self) -> OutboxKind:
        """Return the kind of message."""
        return self.payload.kind


@dataclass(frozen=True)
class OutboxItem:
    """A queued message; removed from the queue only once the channel accepted all of it."""

    id: int
    kind: OutboxKind
    report_id: int | None
    unit_code: str | None
    chat_id: int | None
    payload: Payload
    parts_done: int
    attempts: int
    message_id: int | None
    # The part (1-based) that was being sent when the last attempt ended, if it may have
    # reached the chat: 0 when none.
    in_flight: int = 0

    def payload_of(self, kind: type[P]) -> P:
        """Return the payload as the type its sender expects; TypeError for another."""
        if not isinstance(self.payload, kind):
            raise TypeError(f"outbox item {self.id} carries {type(self.payload).__name__}")
        return self.payload


class Deferred(Exception):
    """A channel could not deliver an item now; it is tried again after `delay` seconds.

    Never a reason to drop it: a message a channel will not take yet (its person must write
    first) waits, and is made due again when they do.
    """

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class ReporterChannel(Protocol):
    """Delivers the reporter-bound kinds to reporters of one channel other than Telegram."""

    async def deliver(self, item: OutboxItem) -> None:
        """Send the item whole (recording its parts), or raise Deferred."""
