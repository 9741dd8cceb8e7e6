"""Personal data: encryption of contacts at rest, the citizen's copy of their data, retention.

Vietnam's Personal Data Protection Law (2025) and Decree 13/2023 give a citizen the right to
see what is stored about them and to have it erased, and ask that data be kept no longer than
its purpose needs. The SQL behind this lives in `bot.storage_privacy`.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.config import DATA_KEY_ENV
from bot.domain import VN_TZ, Category, DeclineReason, Status
from bot.i18n import N_, Gettext
from bot.parsing import format_code

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.context import BotContext
    from bot.storage import Repository

log = logging.getLogger(__name__)

# Stored values carrying this prefix are Fernet tokens; anything else is legacy plain text.
SEALED_PREFIX = "fernet:"
EXPORT_FILENAME = "liemchinh-mydata.json"
DAY = 86400.0

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


# -- encryption at rest ------------------------------------------------------------------------


def parse_data_key(value: str) -> MultiFernet:
    """Return the cipher for a key list ("NEW[,OLD...]"); ValueError if any key is invalid.

    The first key encrypts; every key decrypts, so a key can be replaced without losing access
    to what the old one encrypted.
    """
    keys = [part.strip() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("no key")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("not a valid Fernet key") from exc


@lru_cache(maxsize=4)
def _cipher_for(value: str) -> MultiFernet | None:
    try:
        return parse_data_key(value)
    except ValueError:
        # load_settings refuses such a key; this only happens when settings were built in code.
        log.warning(
            "%s is not a valid Fernet key: contacts are stored in plain text", DATA_KEY_ENV
        )
        return None


def _cipher() -> MultiFernet | None:
    # Read at every use rather than once at import, so the running process and the tests see
    # the same environment.
    value = os.environ.get(DATA_KEY_ENV, "").strip()
    return _cipher_for(value) if value else None


def seal(text: str | None) -> str | None:
    """Encrypt a contact detail for storage when a data key is set; plain text otherwise."""
    cipher = _cipher()
    if text is None or cipher is None:
        return text
    return SEALED_PREFIX + cipher.encrypt(text.encode("utf-8")).decode("ascii")


_warned_unreadable = False


def unseal(stored: str | None) -> str | None:
    """Decrypt a stored contact detail; plain (legacy) values come back unchanged.

    A value that cannot be decrypted (no key, or another key) reads as None rather than
    stopping every view of the report, with one warning in the log.
    """
    global _warned_unreadable
    if stored is None or not stored.startswith(SEALED_PREFIX):
        return stored
    cipher = _cipher()
    if cipher is not None:
        try:
            return cipher.decrypt(stored.removeprefix(SEALED_PREFIX).encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            pass
    if not _warned_unreadable:
        _warned_unreadable = True
        log.warning("encrypted contact details cannot be read: check %s", DATA_KEY_ENV)
    return None


# -- the database file -------------------------------------------------------------------------


def secure_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), and tighten an existing one.

    SQLite creates the -wal and -shm files with the database file's own mode, so they follow;
    leftovers of an earlier run are tightened too. A process-wide umask would also reach files
    other threads create meanwhile, so the file is made here instead.
    """
    if str(path) == ":memory:":
        return
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and candidate.stat().st_mode & 0o077:
            candidate.chmod(0o600)


# -- retention ---------------------------------------------------------------------------------


async def apply_retention(db: Repository, settings: Settings) -> dict[str, int]:
    """Delete what the configured periods no longer allow to keep; return counts per kind.

    - the link between an anonymous report and its sender, `reporter_link_days` after the
      report closed (resolved or declined), once nothing is still owed to the sender;
    - unfinished reports untouched for `draft_days`, with their evidence;
    - the sender's chat and message ids wherever a report no longer has a sender.
    """
    now = db.clock()
    policy = settings.privacy
    links = await db.expire_reporter_links(now - policy.reporter_link_days * DAY)
    drafts = await db.expire_drafts(now - policy.draft_days * DAY)
    scrubbed = await db.scrub_unlinked()
    return {"reporter_links": links, "drafts": drafts, "chat_references": scrubbed}


# -- the citizen's copy ------------------------------------------------------------------------


def iso(timestamp: float | None) -> str | None:
    """Return a moment as ISO 8601 in Vietnam's time (+07:00)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=VN_TZ).isoformat(timespec="seconds")


def _label(
    enum: type[Category] | type[Status] | type[DeclineReason], value: Any, _: Gettext
) -> Any:
    try:
        return _(enum(value).label)
    except ValueError:
        return None


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
        "status_text": _label(Status, row["status"], _),
        "sent_at": iso(row["created_at"]),
        "category": row["category"],
        "category_text": _label(Category, row["category"], _),
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
        "decline_reason_text": _label(DeclineReason, row["decline_reason"], _),
        "your_verdict": row["citizen_verdict"],
        "your_rating": row["rating"],
        "history": _history(raw["audit"], units),
        "messages": _messages(raw["relays"]),
        "evidence": [_evidence(a) for a in raw["attachments"]],
    }


async def personal_data(db: Repository, user_id: int, _: Gettext) -> dict[str, Any]:
    """Gather everything stored about a user into one JSON-ready document."""
    raw = await db.personal_data(user_id)
    units: dict[str, str] = raw["units"]
    user = raw["user"]
    draft = raw["draft"]
    return {
        "about": _(
            "Everything Liêm Chính stores about you, as of the moment below. Times are"
            " Vietnam time. /forget erases your personal data."
        ),
        "generated_at": iso(db.clock()),
        "user": {
            "telegram_id": user_id,
            "language": user["locale"] if user else None,
            "consented_at": iso(user["consented_at"]) if user else None,
            "first_contact_at": iso(user["created_at"]) if user else None,
        },
        "draft": None
        if draft is None
        else {
            "step": draft["step"],
            "updated_at": iso(draft["updated_at"]),
            "answers": json.loads(draft["data"]).get("fields", {}),
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


def export_bytes(document: dict[str, Any]) -> bytes:
    """Serialise a document as readable UTF-8 JSON (Vietnamese letters kept as they are)."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


async def retention_job(context: BotContext) -> None:
    """Apply the retention periods (an hourly job); counts only reach the log, never ids."""
    # Imported here: bot.storage imports this module.
    from bot.storage import StorageError

    try:
        counts = await apply_retention(context.db, context.settings)
    except StorageError:
        log.exception("retention not applied; trying again in an hour")
        return
    if any(counts.values()):
        log.info(
            "retention: %d reporter links, %d drafts, %d chat references removed",
            counts["reporter_links"],
            counts["drafts"],
            counts["chat_references"],
        )
