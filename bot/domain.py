"""The nouns of the system: categories, units, drafts, reports, attachments, outbox items."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from bot.i18n import N_

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

    @property
    def label(self) -> str:
        """Return the untranslated label (an msgid)."""
        return CATEGORY_LABELS[self]


CATEGORY_LABELS: dict[Category, str] = {
    Category.DELAY: N_("Delay or overdue handling of a dossier"),
    Category.HARASSMENT: N_("Causing trouble or harassment"),
    Category.BRIBE: N_("Asking for or taking bribes, profiteering"),
    Category.SHIRKING: N_("Shirking or passing on responsibility"),
    Category.DISCIPLINE: N_(
        "Breach of discipline or office culture (hours, alcohol at work, no badge)"
    ),
    Category.CONDUCT: N_("Improper attitude or behaviour"),
    Category.OTHER: N_("Other"),
}


class Status(StrEnum):
    """Where a report stands in its unit's handling."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DECLINED = "declined"
    TRANSFERRED = "transferred"

    @property
    def label(self) -> str:
        """Return the untranslated label (an msgid)."""
        return STATUS_LABELS[self]


STATUS_LABELS: dict[Status, str] = {
    Status.NEW: N_("Received, waiting for the unit"),
    Status.ACKNOWLEDGED: N_("Acknowledged by the unit"),
    Status.IN_PROGRESS: N_("Being handled"),
    Status.RESOLVED: N_("Resolved"),
    Status.DECLINED: N_("Declined"),
    Status.TRANSFERRED: N_("Transferred to another unit"),
}


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


@dataclass(frozen=True)
class OutboxItem:
    """A message the bot owes someone; removed from the queue only once Telegram accepted it."""

    id: int
    kind: str
    report_id: int | None
    unit_code: str | None
    chat_id: int | None
    payload: dict[str, Any]
    parts_done: int
    attempts: int
    message_id: int | None
