"""Evidence a citizen attaches: what counts, how big it may be, its fingerprint, and images
sent as documents cleaned of their metadata before a unit sees them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.core.domain import Attachment
from bot.core.images import UnreadableImage, image_type, strip_metadata
from bot.store.repository import Repository, StorageError

log = logging.getLogger(__name__)

# What a bot may download from Telegram's own server (PTB uses the same 20e6).
MAX_DOWNLOAD_BYTES = 20_000_000
MAX_ATTACHMENTS = 10


def attachment_from(message: Message) -> Attachment | None:
    """Describe the evidence a message carries, or None when it carries none."""
    chat_id, message_id = message.chat_id, message.message_id
    if message.photo:
        photo = message.photo[-1]  # the largest size Telegram made
        return Attachment(
            "photo",
            photo.file_id,
            photo.file_unique_id,
            photo.file_size,
            chat_id,
            message_id,
            mime_type="image/jpeg",
        )
    for kind in ("document", "video", "voice", "audio", "animation", "video_note"):
        media = getattr(message, kind)
        if media is not None:
            return Attachment(
                kind,
                media.file_id,
                media.file_unique_id,
                media.file_size,
                chat_id,
                message_id,
                mime_type=getattr(media, "mime_type", None),
                file_name=getattr(media, "file_name", None),
            )
    return None


def too_big(att: Attachment) -> bool:
    """Tell whether Telegram would refuse to hand the file to the bot."""
    return att.file_size is not None and att.file_size > MAX_DOWNLOAD_BYTES


async def fingerprint(bot: Bot, db: Repository, attachment_id: int, file_id: str) -> None:
    """Download a piece of evidence and store its SHA-256, so its integrity can be shown later."""
    try:
        file = await bot.get_file(file_id)
        content = await file.download_as_bytearray()
    except TelegramError as exc:
        # The file id and the original message are kept either way; only the hash is missing.
        log.warning("evidence %s not downloaded: %s", attachment_id, exc)
        return
    try:
        await db.drafts.set_attachment_hash(attachment_id, hashlib.sha256(content).hexdigest())
    except (StorageError, RuntimeError) as exc:
        log.warning("evidence %s hash not stored: %s", attachment_id, exc)


@dataclass(frozen=True)
class CleanedImage:
    """An image sent as a document, ready to pass on: `data` None when it cannot be cleaned."""

    data: bytes | None
    mime_type: str
    original_sha256: str

    @property
    def filename(self) -> str:
        """Return the name it is sent under: never the citizen's own (it may name them)."""
        return "evidence.png" if self.mime_type == "image/png" else "evidence.jpg"


async def clean_image_file(bot: Bot, file_id: str, mime_type: str | None) -> CleanedImage | None:
    """Download a document and, if it is an image, return it without metadata; else None.

    Photos Telegram compressed carry no metadata and are copied as they are; a file sent as a
    document keeps its EXIF and GPS, so its bytes are read, whatever its name or stated type.
    """
    file = await bot.get_file(file_id)
    original = bytes(await file.download_as_bytearray())
    mime = image_type(original)
    if mime is None and not (mime_type or "").startswith("image/"):
        return None
    digest = hashlib.sha256(original).hexdigest()
    try:
        data: bytes | None = await asyncio.to_thread(
            strip_metadata, original, mime or "image/jpeg"
        )
    except UnreadableImage:
        # An image Pillow cannot decode (HEIC, say) may still carry GPS: it is not passed on.
        data = None
    return CleanedImage(data, mime or "image/jpeg", digest)
