"""Evidence in few messages: an alert as the caption of its one photo, which files go together
as an album and how an album is sent, and under what name stored bytes are uploaded. A group or
channel takes 20 messages a minute, so an alert's files go as albums where Telegram allows,
rather than one message each."""

from __future__ import annotations

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.core.domain import Attachment

# Sending a file again by its id when the citizen's message is gone, by kind.
SEND_BY_KIND = {
    "photo": "send_photo",
    "document": "send_document",
    "video": "send_video",
    "voice": "send_voice",
    "audio": "send_audio",
    "animation": "send_animation",
    "video_note": "send_video_note",
}

ALBUM_MAX = 10
# Documents are left out: an image sent as a document is cleaned of its metadata first.
_FAMILY = {"photo": "visual", "video": "visual", "audio": "audio"}
AlbumMedia = InputMediaPhoto | InputMediaVideo | InputMediaDocument | InputMediaAudio
ALBUM_MEDIA: dict[str, type[AlbumMedia]] = {
    "photo": InputMediaPhoto,
    "video": InputMediaVideo,
    "document": InputMediaDocument,
    "audio": InputMediaAudio,
}
# The kinds an alert can be the caption of (its one piece of evidence).
CAPTIONED = frozenset({"photo", "video"})


def albums(kinds: list[str], start: int) -> list[list[int]]:
    """Group the evidence from number `start` (1-based) into albums and single messages.

    Telegram groups photos with videos and audio with audio, two to ten to an album (and
    documents with documents, not used: their images are cleaned one by one); voice notes,
    animations, round videos and any other kind go alone. The grouping of
    the files from `start` on is always the same, so a retry resends the same album.
    """
    groups: list[list[int]] = []
    for index in range(start, len(kinds) + 1):
        family = _FAMILY.get(kinds[index - 1])
        last = groups[-1] if groups else None
        if (
            last is not None
            and family is not None
            and _FAMILY.get(kinds[last[-1] - 1]) == family
            and len(last) < ALBUM_MAX
        ):
            last.append(index)
        else:
            groups.append([index])
    return groups


def upload_name(kind: str, data: bytes) -> str:
    """Return the name stored bytes are uploaded under."""
    # Never the citizen's own name for the file (it may name them); the type was checked from
    # the bytes when the file was received.
    name = {"photo": "photo.jpg", "video": "video.mp4"}.get(kind, "document.pdf")
    if kind == "document" and not data.startswith(b"%PDF"):
        name = "document.bin"
    if kind == "photo" and data.startswith(b"\x89PNG"):
        name = "photo.png"
    return name


async def send_captioned(
    bot: Bot, chat_id: int, att: Attachment, text: str, markup: InlineKeyboardMarkup | None
) -> int:
    """Send an alert as the caption of its one photo or video; return its message id."""
    try:
        # copyMessage, never forwardMessage: a copy carries no trace of the sender.
        copied = await bot.copy_message(
            chat_id,
            att.chat_id,
            att.message_id,
            caption=text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
        return copied.message_id
    except BadRequest as exc:
        # The citizen deleted the original message; the file itself is still on Telegram.
        if "not found" not in str(exc).lower():
            raise
    send = getattr(bot, SEND_BY_KIND[att.kind])
    sent: Message = await send(
        chat_id, att.file_id, caption=text, parse_mode=ParseMode.HTML, reply_markup=markup
    )
    return sent.message_id


async def send_album(bot: Bot, chat_id: int, files: list[Attachment], captions: list[str]) -> None:
    """Send pieces of evidence as one album (sendMediaGroup), each with its caption."""
    media: list[AlbumMedia] = []
    for att, caption in zip(files, captions, strict=True):
        # Sent by file id, which names nobody, like a copy.
        kind = ALBUM_MEDIA[att.kind]
        media.append(kind(att.file_id, caption=caption, parse_mode=ParseMode.HTML))
    await bot.send_media_group(chat_id, media)
