"""The citizen's copy of their data (/mydata), as a JSON-ready document.

Vietnam's Personal Data Protection Law (2025) and Decree 13/2023 give a citizen the right to
see what is stored about them. The SQL behind this lives in `bot.store.privacy`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.domain import VN_TZ, ReportFields
from bot.core.parsing import format_code
from bot.i18n import N_, Gettext
from bot.messages.labels import CATEGORY_LABELS, DECLINE_LABELS, STATUS_LABELS, known_label
from bot.sealing import unseal

if TYPE_CHECKING:
    from bot.store.repository import Repository

EXPORT_FILENAME = "liemchinh-mydata.json"

# The line a report's history shows for the audit entry written by /forget.
FORGOTTEN_HISTORY = N_("the reporter's personal data was erased at their request")

# Steps of a report's history that the citizen was told about or took part in; the units'
# internal steps (reminders, deadlines set by the system) are left out of their copy.
CITIZEN_EVENTS = frozenset(
    {
        "submitted",
        "acknowledged",
        "in_progress",
        "transferred",
        "extended",
        "resolved",
        "declined",
        "escalated",
        "reopened",
        "confirmed",
        "rated",
        "asked",
        "answered",
    }
)


# -- the citizen's copy ------------------------------------------------------------------------


def iso(timestamp: float | None) -> str | None:
    """Return a moment as ISO 8601 in Vietnam's time (+07:00)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=VN_TZ).isoformat(timespec="seconds")


def _evidence(row: dict[str, Any]) -> dict[str, Any]:
    # Telegram's file ids and the message ids are left out: they are handles, not content.
    return {
        "kind": row["kind"],
        "file_name": row["file_name"],
        "mime_type": row["mime_type"],
        "size": row["file_size"],
        "sha256": row["sha256"],
        "sent_at": iso(row["created_at"]),
    }


def _history(rows: list[dict[str, Any]], units: dict[str, str]) -> list[dict[str, Any]]:
    # Who acted inside a unit (officers' names and ids) and their internal notes stay out.
    return [
        {
            "at": iso(row["at"]),
            "event": row["action"],
            "from_status": row["from_status"],
            "to_status": row["to_status"],
            "unit": units.get(row["to_unit"] or "", row["to_unit"]),
        }
        for row in rows
        if row["action"] in CITIZEN_EVENTS
    ]


def _messages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    direction = {"to_citizen": "question_from_unit", "to_unit": "your_answer"}
    return [
        {
            "at": iso(row["created_at"]),
            "direction": direction.get(row["direction"], row["direction"]),
            "kind": row["kind"],
            "text": row["text"],
        }
        for row in rows
    ]


def _report(raw: dict[str, Any], units: dict[str, str], _: Gettext) -> dict[str, Any]:
    row = raw["report"]
    return {
        "code": format_code(row["code"]),
        "status": row["status"],
        "status_text": known_label(STATUS_LABELS, row["status"], _),
        "sent_at": iso(row["created_at"]),
        "category": row["category"],
        "category_text": known_label(CATEGORY_LABELS, row["category"], _),
        "unit": {"code": row["unit_code"], "name": units.get(row["unit_code"])},
        "dossier_code": row["dossier_code"],
        "submitted_on": row["submitted_on"],
        "promised_on": row["promised_on"],
        "amount": row["amount"],
        "official": row["official"],
        "occurred_on": row["occurred_on"],
        "location": row["location"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "description": row["description"],
        "anonymous": bool(row["anonymous"]),
        "contact_name": unseal(row["contact_name"]),
        "contact_phone": unseal(row["contact_phone"]),
        "acknowledged_at": iso(row["acknowledged_at"]),
        "deadline_at": iso(row["deadline_at"]),
        "closed_at": iso(row["closed_at"]),
        "resolution_note": row["resolution_note"],
        "decline_reason": row["decline_reason"],
        "decline_reason_text": known_label(DECLINE_LABELS, row["decline_reason"], _),
        "your_verdict": row["citizen_verdict"],
        "your_rating": row["rating"],
        "history": _history(raw["audit"], units),
        "messages": _messages(raw["relays"]),
        "evidence": [_evidence(a) for a in raw["attachments"]],
    }


async def personal_data(db: Repository, user_id: int, _: Gettext) -> dict[str, Any]:
    """Gather everything stored about a user into one JSON-ready document."""
    raw = await db.privacy.personal_data(user_id)
    units: dict[str, str] = raw["units"]
    user = raw["user"]
    draft = raw["draft"]
    identity = raw.get("identity")
    # A person of another channel (a web browser) is known by an internal id, not Telegram's.
    who: dict[str, Any] = (
        {"telegram_id": user_id}
        if identity is None
        else {"channel": identity["channel"], "since": iso(identity["created_at"])}
    )
    return {
        "about": _(
            "Everything Liêm Chính stores about you, as of the moment below. Times are"
            " Vietnam time. /forget erases your personal data."
        ),
        "generated_at": iso(db.clock()),
        "user": {
            **who,
            "language": user["locale"] if user else None,
            "consented_at": iso(user["consented_at"]) if user else None,
            "first_contact_at": iso(user["created_at"]) if user else None,
        },
        "draft": None
        if draft is None
        else {
            "step": draft["step"],
            "updated_at": iso(draft["updated_at"]),
            # Every question, the unanswered ones too (a draft stores only its answers).
            "answers": {**ReportFields().to_json(), **json.loads(draft["data"]).get("fields", {})},
            "evidence": [_evidence(a) for a in raw["draft_attachments"]],
        },
        "reports": [_report(r, units, _) for r in raw["reports"]],
        "bans": [{"reason": b["reason"], "banned_at": iso(b["banned_at"])} for b in raw["bans"]],
        "roles": {
            "officer_of": [
                {"code": code, "name": units.get(code)} for code in raw["officer_units"]
            ],
            "administrator_since": iso(raw["admin_since"]),
        },
    }


def report_document(raw: dict[str, Any], now: float, about: str, _: Gettext) -> dict[str, Any]:
    """Return one report's copy for whoever holds its code and key (`PrivacyStore.report_data`)."""
    return {"about": about, "generated_at": iso(now), "report": _report(raw, raw["units"], _)}


def export_bytes(document: dict[str, Any]) -> bytes:
    """Serialise a document as readable UTF-8 JSON (Vietnamese letters kept as they are)."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
