"""Evidence a citizen attaches: what counts, how big it may be, and its fingerprint."""

from __future__ import annotations

import hashlib
import logging

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.core.domain import Attachment
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
