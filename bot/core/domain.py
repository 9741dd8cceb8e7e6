"""The nouns of the system: categories, units, drafts, reports, attachments, outbox items."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VN_TZ = timezone(timedelta(hours=7), "ICT")


def local_today(timestamp: float) -> date:
    """Return the calendar date in Vietnam at `timestamp`."""
    return datetime.fromtimestamp(timestamp, tz=VN_TZ).date()


class Category(StrEnum):
    """What kind of misconduct; values travel in callback_data and the database."""

    DELAY = "delay"
    HARASSMENT = "harass"
    BRIBE = "bribe"
    SHIRKING = "shirk"
    DISCIPLINE = "discipline"
    CONDUCT = "conduct"
    OTHER = "other"


class Channel(StrEnum):
    """How a person reaches the bot; values are stored with identities and reporters."""

    TELEGRAM = "telegram"
    WEB = "web"
    ZALO = "zalo"


# Telegram user ids fit in 52 bits; people of other channels get internal ids from here up.
FIRST_INTERNAL_ID = 2**53


class Action(StrEnum):
    """A button on an alert; values travel in callback_data ("st:ack:42")."""

    ACKNOWLEDGE = "ack"
    PROGRESS = "prog"
    ASK = "ask"
    TRANSFER = "tr"
    EXTEND = "ext"
    RESOLVE = "res"
    DECLINE = "dec"


class Status(StrEnum):
    """Where a report stands in its unit's handling."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DECLINED = "declined"
    TRANSFERRED = "transferred"


OPEN_STATUSES = frozenset({Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS})


class DeclineReason(StrEnum):
    """Why a unit will not handle a report; values travel in callback_data."""

    DUPLICATE = "dup"
    OUT_OF_SCOPE = "scope"
    NOT_ENOUGH = "info"
    NOT_MISCONDUCT = "notmis"


@dataclass(frozen=True)
class Unit:
    """A unit that receives reports, as stored."""

    code: str
    name: str
    parent: str | None
    chat_id: int | None
    chat_state: str
    disabled: bool


@dataclass
class ReportFields:
    """The citizen's answers, filled step by step; every field is optional until review."""

    category: str | None = None
    unit_code: str | None = None
    dossier_code: str | None = None
    submitted_on: str | None = None
    promised_on: str | None = None
    amount: int | None = None
    official: str | None = None
    # "yes", "no" or "unsure": whether the official heads the unit (conversation.HEAD).
    official_head: str | None = None
    occurred_on: str | None = None
    location: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    description: str | None = None
    anonymous: bool | None = None
    contact_name: str | None = None
    contact_phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportFields:
        """Build from a stored dict, ignoring keys an older or newer version wrote."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Draft:
    """A report being written; saved after every answer so a restart loses nothing."""

    user_id: int
    chat_id: int
    step: int
    fields: ReportFields = field(default_factory=ReportFields)
    # Set while the citizen edits one field from the review: the next answer returns there.
    reviewing: bool = False
    # The update whose answer brought the draft to this step: the same update handled again
    # (replayed after a crash) must not be taken as the answer to the next question.
    answered_by: int | None = None
    # The current question could not be shown (the channel kept failing): it is shown again at
    # the citizen's next message before anything they send is taken as its answer.
    unseen: bool = False


@dataclass(frozen=True)
class Attachment:
    """One piece of evidence: Telegram's file ids plus where the original message lives."""

    kind: str
    file_id: str
    file_unique_id: str | None
    file_size: int | None
    chat_id: int
    message_id: int
    mime_type: str | None = None
    file_name: str | None = None
    sha256: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Report:
    """A submitted report as stored."""

    id: int
    code: str
    status: str
    fields: ReportFields
    locale: str
    created_at: float
    # The unit's handling: the running deadline ("ack" or "resolve"), if any, and the outcome.
    deadline_kind: str | None = None
    deadline_at: float | None = None
    escalation_level: int = 0
    extended: bool = False
    acknowledged_at: float | None = None
    closed_at: float | None = None
    resolution_note: str | None = None
    decline_reason: str | None = None
    citizen_verdict: str | None = None
    rating: int | None = None
    # Set when the report was sent above the unit it is about (a conflict of interest): that
    # unit's code, and why ("head": the official heads it; "marked": an admin marked it).
    concerned_unit: str | None = None
    conflict: str | None = None

    @property
    def is_open(self) -> bool:
        """Tell whether the unit still has to act on the report."""
        return self.status in OPEN_STATUSES

    def overdue(self, now: float) -> bool:
        """Tell whether the running deadline has passed."""
        return self.deadline_at is not None and now >= self.deadline_at


@dataclass(frozen=True)
class Timers:
    """A report's running deadline and when its reminder and escalation fall due."""

    kind: str | None = None
    deadline_at: float | None = None
    remind_at: float | None = None
    escalate_at: float | None = None

    def columns(self) -> dict[str, Any]:
        """Return the report columns that store these timers (escalation starts over)."""
        return {
            "deadline_kind": self.kind,
            "deadline_at": self.deadline_at,
            "remind_at": self.remind_at,
            "escalate_at": self.escalate_at,
            "escalation_level": 0,
        }


@dataclass(frozen=True)
class Actor:
    """Who did something to a report, as the audit log records it."""

    kind: str  # "officer", "admin", "citizen" or "system"
    id: int | None = None
    name: str | None = None


SYSTEM = Actor("system")
CITIZEN = Actor("citizen")


@dataclass(frozen=True)
class AuditEntry:
    """One line of a report's append-only history."""

    id: int
    report_id: int
    at: float
    actor: Actor
    action: str
    from_status: str | None
    to_status: str | None
    from_unit: str | None
    to_unit: str | None
    note: str | None


@dataclass(frozen=True)
class Link:
    """A bot message tied to a report: an alert, a question, an answer, a prompt or a picker."""

    chat_id: int
    message_id: int
    report_id: int
    purpose: str
    unit_code: str | None = None
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Relay:
    """A message passed between a unit and a reporter without either learning the other."""

    id: int
    report_id: int
    direction: str  # "to_citizen" (a question) or "to_unit" (an answer)
    kind: str
    text: str | None
    source_chat_id: int
    source_message_id: int
    actor_id: int | None = None
    # A document's Telegram file id and stated type (answers only), to clean images.
    file_id: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True)
class Poison:
    """An update that could not be read, as it is set aside: what it was, never what it said."""

    update_id: int | None
    kind: str | None  # the update's type ("message", "callback_query"), when it shows one
    error: str  # the exception's type and where it was raised, never its message
    size: int  # bytes of its JSON text
    at: float = 0.0  # when it was set aside
