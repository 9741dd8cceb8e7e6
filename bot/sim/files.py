"""Files as the simulated Telegram holds them: a StoredFile is what a person sent or the bot
uploaded, with real bytes or synthetic ones made up on download so that large files cost no
memory, plus the sizes, MIME types and getFile folders Telegram uses for each kind of file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.sim.protocol import JSONDict

FILE_FOLDERS = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "video": ("videos", ".mp4"),
    "audio": ("music", ".mp3"),
    "animation": ("animations", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
}
SYNTHETIC_SIZES = {
    "photo": 120_000,
    "document": 200_000,
    "voice": 24_000,
    "video": 2_000_000,
    "audio": 3_000_000,
    "animation": 500_000,
    "video_note": 400_000,
    "sticker": 20_000,
}
# What Telegram reports for an upload whose type the client did not name.
DEFAULT_MIME_TYPES = {
    "voice": "audio/ogg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
}
_SYNTHETIC_CHUNK = bytes(range(256)) * 256


@dataclass
class StoredFile:
    """A file Telegram holds; content None means synthetic bytes made up on download."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int
    content: bytes | None
    meta: JSONDict = field(default_factory=dict)
    photo_sizes: list[JSONDict] | None = None
    file_path: str | None = None

    def media_object(self) -> JSONDict:
        """The object a message carries for this file."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            **self.meta,
        }

    def chunks(self) -> Iterable[bytes]:
        """The bytes served for a download, synthetic ones made piece by piece."""
        if self.content is not None:
            yield self.content
            return
        remaining = self.size
        while remaining > 0:
            piece = _SYNTHETIC_CHUNK[: min(remaining, len(_SYNTHETIC_CHUNK))]
            remaining -= len(piece)
            yield piece


def kind_title(kind: str) -> str:
    """A file kind as Telegram names it in errors ("video_note" -> "VideoNote")."""
    return "".join(part.capitalize() for part in kind.split("_"))
