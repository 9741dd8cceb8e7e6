"""Rows to domain objects, and the writes several stores make inside their own transactions.

The `to_*` functions turn `Row`s into `bot.core.domain` objects (unsealing contact
details on the way). The `insert_*`, `update_report` and `fetch_report` helpers take the
connection of a transaction already open, so that a step touching several areas (a report, its
audit line, the messages it owes, the links it consumes) is still one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.domain import (
    Actor,
    Attachment,
    AuditEntry,
    Link,
    Relay,
    Report,
    ReportFields,
    Unit,
)
from bot.core.outbox import Outgoing
from bot.sealing import unseal
from bot.store.dialect import Connection, Row, fetch_one

# The columns a citizen fills in, in the order `submit_draft` inserts them.
REPORT_COLUMNS = (
    "category",
    "unit_code",
    "occurred_on",
    "dossier_code",
    "submitted_on",
    "promised_on",
    "amount",
    "official",
    "official_head",
    "location",
    "latitude",
    "longitude",
    "description",
    "anonymous",
    "contact_name",
    "contact_phone",
)
_STATE_COLUMNS = (
    "deadline_kind",
    "deadline_at",
    "escalation_level",
    "extended",
    "acknowledged_at",
    "closed_at",
    "resolution_note",
    "decline_reason",
    "citizen_verdict",
    "rating",
    "concerned_unit",
    "conflict",
)

UNIT_SELECT = "SELECT code, name, parent, chat_id, chat_state, disabled FROM units"
ATTACHMENT_SELECT = (
    "SELECT id, kind, file_id, file_unique_id, file_size, mime_type, file_name, sha256,"
    " chat_id, message_id FROM attachments"
)
REPORT_SELECT = (
    "SELECT reports.id AS id, code, status, locale, reports.created_at AS created_at, "
    + ", ".join(REPORT_COLUMNS + _STATE_COLUMNS)
    + " FROM reports"
)
REPORTER_SELECT = REPORT_SELECT + " JOIN reporters ON reporters.report_id = reports.id"


def to_unit(row: Row) -> Unit:
    """Build a unit from a row of `UNIT_SELECT`."""
    return Unit(
        code=row["code"],
        name=row["name"],
        parent=row["parent"],
        chat_id=row["chat_id"],
        chat_state=row["chat_state"],
        disabled=bool(row["disabled"]),
    )


def to_attachment(row: Row) -> Attachment:
    """Build a piece of evidence from a row of `ATTACHMENT_SELECT`."""
    return Attachment(
        id=row["id"],
        kind=row["kind"],
        file_id=row["file_id"],
        file_unique_id=row["file_unique_id"],
        file_size=row["file_size"],
        mime_type=row["mime_type"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
    )


def to_report(row: Row) -> Report:
    """Build a report from a row of `REPORT_SELECT`, unsealing the contact details."""
    values = {c: row[c] for c in REPORT_COLUMNS}
    values["anonymous"] = bool(values["anonymous"])
    values["contact_name"] = unseal(values["contact_name"])
    values["contact_phone"] = unseal(values["contact_phone"])
    return Report(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        fields=ReportFields(**values),
        locale=row["locale"],
        created_at=row["created_at"],
        deadline_kind=row["deadline_kind"],
        deadline_at=row["deadline_at"],
        escalation_level=row["escalation_level"],
        extended=bool(row["extended"]),
        acknowledged_at=row["acknowledged_at"],
        closed_at=row["closed_at"],
        resolution_note=row["resolution_note"],
        decline_reason=row["decline_reason"],
        citizen_verdict=row["citizen_verdict"],
        rating=row["rating"],
        concerned_unit=row["concerned_unit"],
        conflict=row["conflict"],
    )


def to_audit(row: Row) -> AuditEntry:
    """Build a line of a report's history from a row of `audit`."""
    return AuditEntry(
        id=row["id"],
        report_id=row["report_id"],
        at=row["at"],
        actor=Actor(row["actor_kind"], row["actor_id"], row["actor_name"]),
        action=row["action"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        from_unit=row["from_unit"],
        to_unit=row["to_unit"],
        note=row["note"],
    )


def to_link(row: Row) -> Link:
    """Build a message-to-report link from a row of `links`."""
    return Link(
        chat_id=row["chat_id"],
        message_id=row["message_id"],
        report_id=row["report_id"],
        purpose=row["purpose"],
        unit_code=row["unit_code"],
        actor_id=row["actor_id"],
        data=json.loads(row["data"]),
    )


def to_relay(row: Row) -> Relay:
    """Build a relayed message from a row of `relays`."""
    return Relay(
        id=row["id"],
        report_id=row["report_id"],
        direction=row["direction"],
        kind=row["kind"],
        text=row["text"],
        source_chat_id=row["source_chat_id"],
        source_message_id=row["source_message_id"],
        actor_id=row["actor_id"],
        file_id=row["file_id"],
        mime_type=row["mime_type"],
    )


async def fetch_report(conn: Connection, report_id: int) -> Report | None:
    """Read one report on the caller's connection (inside its transaction)."""
    row = await fetch_one(conn, REPORT_SELECT + " WHERE id = ?", (report_id,))
    return to_report(row) if row else None


async def update_report(
    conn: Connection, report_id: int, changes: Mapping[str, Any], now: float
) -> None:
    """Set columns of a report and its `updated_at`; the caller vouches for the column names."""
    values = {**changes, "updated_at": now}
    assignments = ", ".join(f"{column} = ?" for column in values)
    await conn.execute(
        f"UPDATE reports SET {assignments} WHERE id = ?", (*values.values(), report_id)
    )


async def insert_audit(
    conn: Connection,
    report_id: int,
    now: float,
    actor: Actor,
    action: str,
    from_status: str | None,
    to_status: str | None,
    from_unit: str | None,
    to_unit: str | None,
    note: str | None,
) -> int:
    """Append a line to a report's history; return its id."""
    cur = await conn.execute(
        "INSERT INTO audit (report_id, at, actor_kind, actor_id, actor_name, action,"
        " from_status, to_status, from_unit, to_unit, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            report_id,
            now,
            actor.kind,
            actor.id,
            actor.name,
            action,
            from_status,
            to_status,
            from_unit,
            to_unit,
            note,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def insert_outbox(
    conn: Connection,
    now: float,
    item: Outgoing,
    report_id: int | None,
    extra: Mapping[str, Any],
) -> int:
    """Queue one message, due now, with `extra` (ids known only inside the transaction, such
    as the audit line's) merged into its payload; return its id."""
    payload = json.dumps({**item.payload.to_json(), **extra}, ensure_ascii=False)
    cur = await conn.execute(
        "INSERT INTO outbox (kind, report_id, unit_code, chat_id, payload, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            item.kind.value,
            item.report_id or report_id,
            item.unit_code,
            item.chat_id,
            payload,
            now,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def insert_draft_attachment(
    conn: Connection, user_id: int, att: Attachment, now: float
) -> int:
    """Attach a piece of evidence to a user's draft; return its id."""
    cur = await conn.execute(
        "INSERT INTO attachments (draft_user_id, kind, file_id, file_unique_id,"
        " file_size, mime_type, file_name, sha256, chat_id, message_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            user_id,
            att.kind,
            att.file_id,
            att.file_unique_id,
            att.file_size,
            att.mime_type,
            att.file_name,
            att.sha256,
            att.chat_id,
            att.message_id,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def insert_link(conn: Connection, link: Link, now: float) -> None:
    """Tie a bot message to a report, replacing what the message was tied to before."""
    await conn.execute(
        "INSERT OR REPLACE INTO links (chat_id, message_id, report_id, purpose, unit_code,"
        " actor_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            link.chat_id,
            link.message_id,
            link.report_id,
            link.purpose,
            link.unit_code,
            link.actor_id,
            json.dumps(link.data, ensure_ascii=False),
            now,
        ),
    )
