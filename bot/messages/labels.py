"""The names people read for the system's fixed values: report categories, statuses, reasons for
declining and officers' actions. `bot.core` keeps only the values, which travel in callback data
and the database; the msgids live here, marked with N_ and translated where they are shown, so
that every channel names a value the same way. Each `*_label` function takes a stored value (a
plain string is enough) and says what it does with one it does not know. `unit_label` names a
unit wherever one is offered or shown, telling namesakes apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.domain import Action, Category, DeclineReason, Status, Unit
from bot.i18n import N_, Gettext

# Keyed by the enum members, which compare and hash as their string values, so a value read
# from the database or a callback finds its label without being converted first.
CATEGORY_LABELS: dict[str, str] = {
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

STATUS_LABELS: dict[str, str] = {
    Status.NEW: N_("Received, waiting for the unit"),
    Status.ACKNOWLEDGED: N_("Acknowledged by the unit"),
    Status.IN_PROGRESS: N_("Being handled"),
    Status.RESOLVED: N_("Resolved"),
    Status.DECLINED: N_("Declined"),
    Status.TRANSFERRED: N_("Transferred to another unit"),
}

DECLINE_LABELS: dict[str, str] = {
    DeclineReason.DUPLICATE: N_("Duplicate of another report"),
    DeclineReason.OUT_OF_SCOPE: N_("Outside this unit's remit"),
    DeclineReason.NOT_ENOUGH: N_("Not enough information"),
    DeclineReason.NOT_MISCONDUCT: N_("Not misconduct"),
}

ACTION_LABELS: dict[str, str] = {
    Action.ACKNOWLEDGE: N_("✅ Acknowledge"),
    Action.PROGRESS: N_("🔧 In progress"),
    Action.ASK: N_("❓ Ask the reporter"),
    Action.TRANSFER: N_("↪️ Transfer to a unit"),
    Action.EXTEND: N_("⏳ Extend"),
    Action.RESOLVE: N_("🏁 Resolved"),
    Action.DECLINE: N_("🚫 Decline"),
}


def category_label(value: str | None, _: Gettext) -> str:
    """Return the translated label of a category value; an unknown one reads as "Other"."""
    return _(CATEGORY_LABELS.get(value or "", CATEGORY_LABELS[Category.OTHER]))


def status_label(value: str, _: Gettext) -> str:
    """Return the translated label of a status value; an unknown one is shown as it is."""
    msgid = STATUS_LABELS.get(value)
    return _(msgid) if msgid else value


def decline_label(value: str | None, _: Gettext) -> str:
    """Return the translated label of a reason for declining; an unknown one gives ""."""
    msgid = DECLINE_LABELS.get(value or "")
    return _(msgid) if msgid else ""


def action_label(value: str, _: Gettext) -> str:
    """Return the translated button label of an officer's action; an unknown one as it is."""
    msgid = ACTION_LABELS.get(value)
    return _(msgid) if msgid else value


def known_label(labels: Mapping[str, str], value: object, _: Gettext) -> str | None:
    """Return the translated label of `value` in `labels`, or None when it has none."""
    msgid = labels.get(value) if isinstance(value, str) else None
    return _(msgid) if msgid else None


def unit_label(unit: Unit, qualifiers: Sequence[str] = ()) -> str:
    """Return a unit's name, then what tells it apart from namesakes ("A — B"), as plain text."""
    # `qualifiers` come from the store (UnitStore.qualifiers): the names of the units above it
    # that a unit of the same name does not share, e.g. "UBND xã Vĩnh Lợi — UBND tỉnh Cà Mau";
    # a unit whose name is unique has none and reads as its name.
    return " — ".join((unit.name, *qualifiers))
