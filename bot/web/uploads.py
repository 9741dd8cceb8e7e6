"""Files sent through the web pages: the type read from the bytes, photos without metadata."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

# (magic bytes at offset 0, kind, mime type); MP4 and MOV are found by their "ftyp" box.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "photo", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "photo", "image/png"),
    (b"%PDF-", "document", "application/pdf"),
)


class RefusedFile(Exception):
    """A file that is not taken: of a type not accepted (the reason is "type")."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Upload:
    """A checked file: its kind, type, the bytes to keep and the original's SHA-256."""

    kind: str
    mime_type: str
    data: bytes
    sha256: str
    size: int


def sniff(data: bytes) -> tuple[str, str] | None:
    """Return (kind, mime type) from a file's first bytes, None for a type not accepted."""
    for magic, kind, mime in _MAGIC:
        if data.startswith(magic):
            return kind, mime
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "video", "video/mp4"
    return None


def prepare(data: bytes) -> Upload:
    """Return what to store of an accepted file; photos are re-encoded without EXIF or GPS.

    The number and size of files are the conversation's to check, before this.
    """
    found = sniff(data)
    if found is None:
        raise RefusedFile("type")
    kind, mime = found
    digest = hashlib.sha256(data).hexdigest()
    stored = strip_metadata(data, mime) if kind == "photo" else data
    return Upload(kind, mime, stored, digest, len(data))


def strip_metadata(data: bytes, mime: str) -> bytes:
    """Re-encode a photo from its pixels only: no EXIF, GPS, comments or thumbnails survive."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            # The orientation lives in EXIF: applied to the pixels, so the photo stays upright.
            upright = ImageOps.exif_transpose(image)
            if upright.mode not in ("RGB", "RGBA", "L", "LA"):
                upright = upright.convert("RGBA" if mime == "image/png" else "RGB")
            # Built from raw pixels: nothing of the original file's info can come along.
            clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
            out = io.BytesIO()
            if mime == "image/png":
                clean.save(out, format="PNG")
            else:
                clean.convert("RGB").save(out, format="JPEG", quality=90)
    except (UnidentifiedImageError, OSError, ValueError):
        # Magic bytes of a photo but not a readable one: refused rather than stored as is.
        raise RefusedFile("type") from None
    return out.getvalue()


# What the file field offers to pick; the bytes decide what is taken.
ACCEPT = "image/jpeg,image/png,application/pdf,video/mp4"
