"""Files sent through the web pages: their type is read from their bytes, whatever their name."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from PIL import Image

from bot.web.uploads import RefusedFile, prepare, sniff
from tests.web_helpers import gps_jpeg


def ftyp(brand: bytes, *compatible: bytes) -> bytes:
    """Return the first box of an ISO media file (MP4, MOV, 3GP, HEIC, AVIF) and some bytes."""
    body = b"ftyp" + brand + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", len(body) + 4) + body + b"\x00\x00\x00\x08free" + bytes(64)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), ("video", "video/mp4")),
        (ftyp(b"mp42", b"mp42", b"isom"), ("video", "video/mp4")),
        (ftyp(b"qt  ", b"qt  "), ("video", "video/quicktime")),
        (ftyp(b"3gp4", b"3gp4", b"isom"), ("video", "video/3gpp")),
    ],
    ids=["mp4", "mp4-v2", "mov", "3gp"],
)
def test_videos_are_known_by_their_brand(data: bytes, expected: tuple[str, str]) -> None:
    assert sniff(data) == expected
    upload = prepare(data)
    assert (upload.kind, upload.mime_type) == expected
    assert upload.data == data and upload.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "data",
    [
        # An iPhone's HEIC photo and an AVIF one open with the same box as a video, but carry
        # EXIF and GPS that only photos of the accepted types have removed.
        ftyp(b"heic", b"mif1", b"heic"),
        ftyp(b"mif1", b"mif1", b"heic"),
        ftyp(b"avif", b"avif", b"mif1"),
        b"\x00\x00\x00\x18ftyp",  # the box cut short
        b"MZ\x90\x00 a program named photo.jpg",
        b"GIF89a" + bytes(32),
        b"",
    ],
    ids=["heic", "heif", "avif", "cut-short", "exe", "gif", "empty"],
)
def test_other_types_are_refused_whatever_their_name(data: bytes) -> None:
    assert sniff(data) is None
    with pytest.raises(RefusedFile) as refused:
        prepare(data)
    assert refused.value.reason == "type"


def test_a_photo_is_stored_without_its_metadata_and_the_original_hashed() -> None:
    original = gps_jpeg()
    upload = prepare(original)
    assert (upload.kind, upload.mime_type, upload.size) == ("photo", "image/jpeg", len(original))
    assert upload.sha256 == hashlib.sha256(original).hexdigest()
    assert not Image.open(io.BytesIO(upload.data)).getexif()
    assert b"PhoneMaker" not in upload.data


def test_a_photo_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(RefusedFile):
        prepare(b"\xff\xd8\xff\xe0 not really a photo")
