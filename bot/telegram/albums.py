"""Evidence in few messages: which files go together as an album, and under what name stored
bytes are uploaded. A group or channel takes 20 messages a minute, so an alert's files go as
albums where Telegram allows, rather than one message each."""

from __future__ import annotations

from telegram import InputMediaAudio, InputMediaDocument, InputMediaPhoto, InputMediaVideo

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
