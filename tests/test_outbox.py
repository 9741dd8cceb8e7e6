"""The typed outbox: one payload type per kind, stored and read back whole, old rows migrated."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.outbox import (
    PAYLOADS,
    AlertPayload,
    AnswerPayload,
    ConflictNotice,
    DigestPayload,
    EscalationNotice,
    HeldAlertsNotice,
    OutboxKind,
    Outgoing,
    PatternCheck,
    QuestionPayload,
    ReceiptPayload,
    RefreshPayload,
    ReminderPayload,
    StatusNotice,
    TextNotice,
    read_payload,
)
from bot.store.database import fold_sql
from bot.store.migrations import MIGRATIONS
from bot.store.repository import Repository

EXAMPLES = (
    AlertPayload(transferred=True),
    AlertPayload(overdue=2, deadline_kind="ack"),
    RefreshPayload(),
    StatusNotice(audit_id=9),
    EscalationNotice(to="QN"),
    EscalationNotice(to=None),
    QuestionPayload(unit="HL", relay_id=3),
    ReceiptPayload(),
    ReminderPayload("resolve", 1_800_000_000.5),
    AnswerPayload(relay_id=4),
    DigestPayload(first="2026-11-23", last="2026-11-30"),
    HeldAlertsNotice(unit="HL", reason="bot removed"),
    TextNotice("Xin chào <b>"),
    ConflictNotice(handler="QN"),
    AlertPayload(conflict="head", pattern=3),
    PatternCheck(),
)


def test_every_kind_has_one_payload_type() -> None:
    assert set(PAYLOADS) == set(OutboxKind)
    assert {type(p).kind for p in EXAMPLES} == set(OutboxKind)


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_payloads_survive_json(payload: object) -> None:
    assert isinstance(payload, tuple(PAYLOADS.values()))
    stored = json.loads(json.dumps(payload.to_json()))  # type: ignore[attr-defined]
    assert read_payload(type(payload).kind.value, stored) == payload  # type: ignore[attr-defined]


def test_unknown_kinds_and_keys() -> None:
    with pytest.raises(ValueError):
        read_payload("telepathy", {})
    # Keys another version wrote are ignored; the digest reads the names rows had before.
    assert read_payload("citizen_status", {"audit_id": 3, "type": "status"}) == StatusNotice(3)
    assert read_payload("digest", {"type": "digest", "from": "a", "to": "b"}) == DigestPayload(
        "a", "b"
    )


@pytest.fixture
async def repo(tmp_path: Path, database_url: str | None) -> AsyncIterator[Repository]:
    async with Repository(tmp_path / "bot.db", clock=lambda: 1000.0, url=database_url) as db:
        yield db


@pytest.mark.both_backends
async def test_items_come_back_typed_and_unknown_kinds_are_left(repo: Repository) -> None:
    for payload in EXAMPLES:
        await repo.outbox.add(Outgoing(payload, chat_id=7))
    async with repo.database.write() as conn:
        await conn.execute(
            "INSERT INTO outbox (kind, chat_id, payload, next_attempt_at, created_at)"
            " VALUES ('from_the_future', 7, '{}', 0, 0)"
        )
    due = await repo.outbox.due(limit=100)
    assert [item.payload for item in due] == list(EXAMPLES)
    assert all(item.kind is type(item.payload).kind for item in due)
    assert (await repo.outbox.stats())["pending"] == len(EXAMPLES) + 1


def test_the_migration_splits_old_kinds_by_their_type(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        # The schema's search column uses the store's diacritics folding.
        conn.create_function("fold", 1, fold_sql, deterministic=True)
        for _name, sql in MIGRATIONS[:4]:
            conn.executescript(sql)
        rows = [
            ("citizen", {"type": "question", "unit": "HL", "relay_id": 1}),
            ("citizen", {"type": "escalated", "to": "QN"}),
            ("citizen", {"type": "status", "audit_id": 5}),
            ("unit", {"type": "reminder", "deadline_at": 5.0}),
            ("unit", {"type": "answer", "relay_id": 2}),
            ("notice", {"type": "unit_chat_broken", "unit": "HL", "reason": "kicked"}),
            ("notice", {"text": "hello"}),
            ("alert", {"reopened": True}),
        ]
        conn.executemany(
            "INSERT INTO outbox (kind, chat_id, payload, next_attempt_at, created_at)"
            " VALUES (?, 1, ?, 0, 0)",
            [(kind, json.dumps(payload)) for kind, payload in rows],
        )
        conn.executescript(dict(MIGRATIONS)["005_typed_outbox"])
        kinds = [row[0] for row in conn.execute("SELECT kind FROM outbox ORDER BY id")]
    assert kinds == [
        "citizen_question",
        "citizen_escalated",
        "citizen_status",
        "unit_reminder",
        "unit_answer",
        "notice_held",
        "notice",
        "alert",
    ]
    assert all(kind in {k.value for k in OutboxKind} for kind in kinds)
