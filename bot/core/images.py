"""Evidence images without their metadata: one cleaning for every channel.

A phone's photo file carries EXIF: the camera, the time and often the place (GPS) where it was
taken, which can name the person who took it. Images are re-encoded from their pixels alone
before they are stored (web uploads) or copied to a unit (Telegram documents); the SHA-256 of
the original is kept by the caller, so a receipt still proves what was sent.
"""

from __future__ import annotations

import io

# (magic bytes at offset 0, mime type) of the images that are cleaned.
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class UnreadableImage(ValueError):
    """Bytes that look like an image but cannot be decoded: never passed on as they are."""


def image_type(data: bytes) -> str | None:
    """Return the mime type of a JPEG or PNG from its first bytes, None for anything else."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    return None


def strip_metadata(data: bytes, mime: str) -> bytes:
    """Re-encode an image from its pixels only: no EXIF, GPS, comments or thumbnails survive.

    PNG stays PNG; anything else becomes JPEG. UnreadableImage when it cannot be decoded.
    """
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
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(str(exc)) from None
    return out.getvalue()
