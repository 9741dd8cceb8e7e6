"""Signed receipts: proof that a report existed, unchanged, at a moment, without its reporter.

A receipt is one JSON file: `{"receipt": {...}, "signature": "<base64>"}`. The signature is
Ed25519 over the canonical serialisation of "receipt" (keys sorted, no spaces, UTF-8), made
with the deployment's key, which is generated on first start and kept beside the database.
The same receipt also has a text form for channels that carry only text (Zalo): one line of
ASCII JSON, which survives being copied from a chat and pasted, in one piece or several.
`verify` is a pure function so that every channel (the command line, the web) checks the same
way, against the deployment's public key, never against a key the file itself names.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bot.core.domain import VN_TZ, Report
from bot.sealing import create_secret_file

FORMAT = "liemchinh-receipt/1"
KEY_FILE_SUFFIX = ".receipt-key"


def canonical(document: Mapping[str, Any]) -> bytes:
    """Return the one serialisation of a document that is signed and checked."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_text(text: str) -> str:
    """Return the SHA-256 (hex) of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def receipt_document(
    report: Report, unit_name: str, evidence: Sequence[str | None]
) -> dict[str, Any]:
    """Return what a receipt states about a report: nothing about who sent it."""
    return {
        "format": FORMAT,
        "code": report.code,
        "submitted_at": datetime.fromtimestamp(report.created_at, tz=VN_TZ).isoformat(
            timespec="seconds"
        ),
        "category": report.fields.category,
        "unit": report.concerned_unit or report.fields.unit_code,
        "unit_name": unit_name,
        "description_sha256": sha256_text(report.fields.description or ""),
        "evidence_sha256": list(evidence),
    }


def sign(document: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Return the receipt file: the document and its signature, as JSON bytes."""
    return sign_layout(document, key.sign(canonical(document)))


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a receipt: valid or not, in one line, and its document."""

    valid: bool
    reason: str
    document: Mapping[str, Any] | None = None
    # Why, for a channel to say in its own words: "valid", "unreadable", "changed", "key".
    code: str = "valid"


def verify(data: bytes, public_key: bytes) -> Verdict:
    """Check a receipt (its file or its text form) against the deployment's raw 32-byte
    Ed25519 public key."""
    # The text form has no line break of its own: any there joined the pieces it was sent in.
    joined = data.replace(b"\r", b"").replace(b"\n", b"")
    parsed = _parse(data) or _parse(joined)
    if parsed is None:
        return Verdict(False, "not a receipt: unreadable", code="unreadable")
    document, signature = parsed
    # Whitespace between keys is not signed, but anything else must be exactly what was.
    if data != sign_layout(document, signature) and joined != text_layout(document, signature):
        return Verdict(False, "invalid: the file was changed", code="changed")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical(document))
    except (InvalidSignature, ValueError):
        return Verdict(
            False, "invalid: not signed by this deployment's key, or changed", code="key"
        )
    return Verdict(True, f"valid: report {document.get('code')} as stored", document)


def _parse(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """Return a receipt's document and signature, or None if it is not laid out as one."""
    try:
        body = json.loads(data.decode("utf-8"))
        document = body["receipt"]
        signature = base64.b64decode(body["signature"], validate=True)
        if not isinstance(document, dict) or set(body) != {"receipt", "signature"}:
            raise ValueError("unexpected layout")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return document, signature


# What a receipt states that the stored report must still say; the unit's name is left out,
# since a unit may be renamed after the receipt was made.
MATCHED_FIELDS = (
    "format",
    "code",
    "submitted_at",
    "category",
    "unit",
    "description_sha256",
    "evidence_sha256",
)


def mismatches(document: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """Return the fields in which a valid receipt differs from the report as stored now."""
    return [name for name in MATCHED_FIELDS if document.get(name) != stored.get(name)]


def sign_layout(document: Mapping[str, Any], signature: bytes) -> bytes:
    """Return the exact bytes `sign` writes for a document and a signature."""
    body = {"receipt": dict(document), "signature": base64.b64encode(signature).decode("ascii")}
    return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def text_layout(document: Mapping[str, Any], signature: bytes) -> bytes:
    """Return the text form of a receipt: one line of ASCII JSON, keys sorted, no spaces.

    ASCII (non-ASCII letters as \\u escapes) so that no chat, keyboard or browser can change it
    by normalising Vietnamese letters; one line so that it can be cut into messages anywhere.
    """
    body = {"receipt": dict(document), "signature": base64.b64encode(signature).decode("ascii")}
    return json.dumps(body, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode(
        "ascii"
    )


def receipt_text(receipt: bytes) -> str:
    """Return a receipt file (as `sign` writes it) in its text form, signed the same."""
    parsed = _parse(receipt)
    if parsed is None:
        raise ValueError("not a receipt")
    return text_layout(*parsed).decode("ascii")


# -- the deployment's key ------------------------------------------------------------------------


def key_path(database: Path) -> Path:
    """Return where the signing key of a deployment lives: beside its database."""
    return database.with_name(database.name + KEY_FILE_SUFFIX)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Return the signing key stored at `path`, creating it (mode 0600) the first time."""
    if not path.exists():
        _create_key(path)
    return Ed25519PrivateKey.from_private_bytes(path.read_bytes())


def _create_key(path: Path) -> None:
    # Linked into place whole (create_secret_file): a worker or a web request starting at the
    # same moment sees no key or the whole key, so every receipt of a deployment is signed with
    # one key.
    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    create_secret_file(path, raw)


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """Return the raw 32-byte public half of a signing key."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_text(key: Ed25519PrivateKey) -> str:
    """Return the public half as base64, the form shown and given to `verify`."""
    return base64.b64encode(public_bytes(key)).decode("ascii")


def parse_public(text: str) -> bytes:
    """Return the raw public key from its base64 form; ValueError if it is not one."""
    raw = base64.b64decode(text.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw
