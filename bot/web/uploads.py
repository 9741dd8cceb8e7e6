"""Files sent through the web pages: the type read from the bytes, photos without metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.core.images import UnreadableImage, strip_metadata

# (magic bytes at offset 0, kind, mime type); videos are found by their "ftyp" box below.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "photo", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "photo", "image/png"),
    (b"%PDF-", "document", "application/pdf"),
)
# The major brands of the "ftyp" box that are videos: MP4 and its kin, the QuickTime MOV that
# iPhones record, and 3GP from older phones. The same box opens HEIC and AVIF photos
# ("heic", "mif1", "avif"...), which carry EXIF and GPS that nothing here strips: they are not
# taken as videos.
_VIDEO_BRANDS: dict[bytes, str] = {
    **{
        brand: "video/mp4"
        for brand in (
            b"isom",
            b"iso2",
            b"iso3",
            b"iso4",
            b"iso5",
            b"iso6",
            b"mp41",
            b"mp42",
            b"mp71",
            b"avc1",
            b"M4V ",
            b"dash",
            b"MSNV",
        )
    },
    b"qt  ": "video/quicktime",
    **{brand: "video/3gpp" for brand in (b"3gp4", b"3gp5", b"3gp6", b"3ge6", b"3gg6")},
}


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
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _VIDEO_BRANDS:
        return "video", _VIDEO_BRANDS[data[8:12]]
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
    stored = _clean(data, mime) if kind == "photo" else data
    return Upload(kind, mime, stored, digest, len(data))


def _clean(data: bytes, mime: str) -> bytes:
    """Return a photo without its metadata; one that cannot be read is refused."""
    try:
        return strip_metadata(data, mime)
    except UnreadableImage:
        # Magic bytes of a photo but not a readable one: refused rather than stored as is.
        raise RefusedFile("type") from None


# What the file field offers to pick; the bytes decide what is taken.
ACCEPT = "image/jpeg,image/png,application/pdf,video/mp4,video/quicktime,video/3gpp"
