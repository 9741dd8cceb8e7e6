"""The Bot API methods that send a message: sendMessage, the media sends (one file or an
album), sendLocation, sendContact, sendChatAction, copyMessage and forwardMessage, with the
formatting, reply, markup and upload checks Telegram applies and the keys the simulation stores
for readers of the bot's messages.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from bot.sim.core import SimCore
from bot.sim.files import DEFAULT_MIME_TYPES, StoredFile, kind_title
from bot.sim.objects import (
    CONTENT_KEYS,
    Markup,
    format_text,
    is_media,
    on_wire,
    read_markup,
    snapshot,
)
from bot.sim.people import SimChat
from bot.sim.protocol import (
    CHAT_ACTIONS,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    ApiError,
    JSONDict,
    Params,
    Upload,
    bad,
    utf16_len,
)


class SendingMixin(SimCore):
    """Methods that send messages, and what they share with edits."""

    def _formatted(
        self, p: Params, name: str, entities_name: str, limit: int, too_long: str
    ) -> tuple[str, list[JSONDict], str]:
        """Visible text, entities and the raw string of a text or caption parameter."""
        raw = p.text(name) or ""
        text, entities = format_text(
            raw, p.text("parse_mode"), p.json(entities_name), strict=self.strict_html
        )
        # Telegram counts the visible text in UTF-16 code units: an emoji counts two.
        if utf16_len(text) > limit:
            raise bad(too_long)
        return text, entities, raw

    def _reply(self, p: Params, chat: SimChat) -> JSONDict | None:
        """The message a send replies to, from reply_parameters or reply_to_message_id."""
        parameters = p.json("reply_parameters")
        if isinstance(parameters, dict):
            message_id = parameters.get("message_id")
            allow = bool(parameters.get("allow_sending_without_reply"))
            chat_id = parameters.get("chat_id", chat.id)
        else:
            message_id = p.integer("reply_to_message_id")
            allow = p.flag("allow_sending_without_reply")
            chat_id = chat.id
        if message_id is None:
            return None
        try:
            original = self._store.get(int(chat_id), {}).get(int(message_id))
        except (TypeError, ValueError):
            original = None
        if original is None:
            if allow:
                return None
            raise bad("message to be replied not found")
        return snapshot(original)

    def _bot_message(
        self,
        chat: SimChat,
        content: JSONDict,
        *,
        method: str,
        raw: str,
        markup: Markup,
        reply: JSONDict | None,
        p: Params,
        copied_from: tuple[int, int] | None = None,
    ) -> JSONDict:
        """Store a message the bot sent, with the keys readers of the simulation use."""
        message = self._new_message(chat, content, self.bot_user)
        thread = p.integer("message_thread_id")
        if thread is not None:
            message["message_thread_id"] = thread
        if reply is not None:
            message["reply_to_message"] = reply
        if markup.inline is not None:
            message["reply_markup"] = markup.inline
        if p.flag("protect_content"):
            message["has_protected_content"] = True
        media = is_media(content)
        message.update(
            text=content.get("caption", "") if media else content.get("text", ""),
            html=raw,
            buttons=markup.buttons,
            reply_keyboard=markup.keyboard or [],
            method=method,
            copied_from=copied_from,
        )
        if markup.keyboard is not None:
            chat.reply_keyboard = list(markup.keyboard)
            chat.one_time_keyboard = markup.one_time
        elif markup.remove_keyboard:
            chat.reply_keyboard = []
            chat.one_time_keyboard = False
        self._bot_messages.setdefault(chat.id, []).append(message)
        self._emit(chat.id, message, "new")
        return message

    # -- files sent by the bot ------------------------------------------------------------

    def _upload(self, upload: Upload, kind: str, p: Params) -> StoredFile:
        """Store an uploaded file."""
        if len(upload.body) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            return self._new_photo(upload.body, None)
        mime_type = upload.content_type
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = (
                mimetypes.guess_type(upload.filename)[0]
                or DEFAULT_MIME_TYPES.get(kind)
                or "application/octet-stream"
            )
        meta: JSONDict = {}
        if kind in ("document", "audio", "video", "animation"):
            meta["file_name"] = upload.filename
        if kind != "video_note":
            meta["mime_type"] = mime_type
        if kind in ("voice", "audio", "video", "animation", "video_note"):
            meta["duration"] = p.integer("duration") or 1
        if kind in ("video", "animation"):
            meta["width"] = p.integer("width") or 640
            meta["height"] = p.integer("height") or 360
        if kind == "video_note":
            meta["length"] = p.integer("length") or 240
        if kind == "sticker":
            meta = {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        return self._new_file(kind, upload.body, None, meta)

    def _resolve_file(self, value: Any, upload: Upload | None, p: Params, kind: str) -> StoredFile:
        """Find the file a media parameter means: an upload, attach://name, file_id or URL."""
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = p.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad("wrong file identifier/HTTP URL specified")
        if upload is not None:
            return self._upload(upload, kind, p)
        if not isinstance(value, str) or not value:
            raise bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            # Telegram would fetch the URL; the simulator never leaves 127.0.0.1.
            if kind == "photo":
                return self._new_photo(None, None)
            return self._new_file(kind, None, None, {"file_name": value.rsplit("/", 1)[-1]})
        stored = self._files.get(value)
        if stored is None:
            raise bad("wrong file identifier/HTTP URL specified")
        # A photo is not a file of any other kind; documents may carry any other kind.
        if (stored.kind == "photo") != (kind == "photo") or (
            kind not in ("document", "photo") and stored.kind != kind
        ):
            raise bad(f"can't use file of type {kind_title(stored.kind)} as {kind_title(kind)}")
        return stored

    # -- sending ------------------------------------------------------------------------

    async def _send_message(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        text, entities, raw = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text.strip():
            raise bad("message text is empty")
        markup = read_markup(p.json("reply_markup"))
        reply = self._reply(p, chat)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._bot_message(
            chat, content, method="sendMessage", raw=raw, markup=markup, reply=reply, p=p
        )
        return on_wire(message)

    def _caption(self, p: Params) -> tuple[JSONDict, str]:
        """Caption keys for a media message and the raw caption."""
        caption, entities, raw = self._formatted(
            p, "caption", "caption_entities", MAX_CAPTION_LENGTH, "message caption is too long"
        )
        content: JSONDict = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content, raw

    async def _send_media(self, method: str, kind: str, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        stored = self._resolve_file(p.values.get(kind), p.files.get(kind), p, kind)
        content, raw = self._caption(p)
        content[kind] = self._media_content(stored, kind)
        markup = read_markup(p.json("reply_markup"))
        reply = self._reply(p, chat)
        message = self._bot_message(
            chat, content, method=method, raw=raw, markup=markup, reply=reply, p=p
        )
        return on_wire(message)

    async def _send_location(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        latitude, longitude = p.number("latitude"), p.number("longitude")
        if latitude is None or not -90 <= latitude <= 90:
            raise bad("wrong latitude")
        if longitude is None or not -180 <= longitude <= 180:
            raise bad("wrong longitude")
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        message = self._bot_message(
            chat,
            content,
            method="sendLocation",
            raw="",
            markup=read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
        )
        return on_wire(message)

    async def _send_contact(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        phone, first_name = p.text("phone_number"), p.text("first_name")
        if not phone:
            raise bad("phone_number is empty")
        if not first_name:
            raise bad("first_name is empty")
        contact: JSONDict = {"phone_number": phone, "first_name": first_name}
        if p.text("last_name"):
            contact["last_name"] = p.text("last_name")
        message = self._bot_message(
            chat,
            {"contact": contact},
            method="sendContact",
            raw="",
            markup=read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
        )
        return on_wire(message)

    async def _send_media_group(self, p: Params) -> list[JSONDict]:
        chat = self._target(p, sending=True)
        media = p.json("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad("media group must include 2-10 items")
        # Telegram sends all of an album or nothing, so everything is checked first.
        prepared: list[tuple[JSONDict, str]] = []
        kinds = {item.get("type") if isinstance(item, dict) else None for item in media}
        if len(kinds) > 1 and (kinds & {"document", "audio"}):
            # Documents go only with documents, audio only with audio; photos mix with videos.
            raise bad("documents and audio can't be mixed with other media types")
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "video", "document", "audio"):
                raise bad("can't parse InputMedia JSON object")
            stored = self._resolve_file(item.get("media"), None, p, kind)
            raw = item.get("caption") or ""
            caption, entities = format_text(
                raw,
                item.get("parse_mode"),
                item.get("caption_entities"),
                strict=self.strict_html,
            )
            if utf16_len(caption) > MAX_CAPTION_LENGTH:
                raise bad("message caption is too long")
            content: JSONDict = {kind: self._media_content(stored, kind)}
            if caption:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            prepared.append((content, raw))
        group_id = str(10_000_000 + self._next_sequence())
        reply = self._reply(p, chat)
        results = []
        for content, raw in prepared:
            content["media_group_id"] = group_id
            message = self._bot_message(
                chat,
                content,
                method="sendMediaGroup",
                raw=raw,
                markup=Markup(),
                reply=reply,
                p=p,
            )
            results.append(on_wire(message))
        return results

    async def _send_chat_action(self, p: Params) -> bool:
        self._target(p, sending=True)
        if p.text("action") not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    async def _copy_message(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        source_chat = self._chat_param(p, "from_chat_id")
        message_id = p.integer("message_id")
        original = self._store.get(source_chat.id, {}).get(message_id or 0)
        if original is None:
            raise bad("message to copy not found")
        source = on_wire(original)
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not content:
            raise bad("message can't be copied")
        raw = original.get("html", content.get("text", content.get("caption", "")))
        if p.has("caption") and is_media(content):
            content.pop("caption", None)
            content.pop("caption_entities", None)
            caption, raw = self._caption(p)
            content.update(caption)
        message = self._bot_message(
            chat,
            content,
            method="copyMessage",
            raw=raw,
            markup=read_markup(p.json("reply_markup")),
            reply=self._reply(p, chat),
            p=p,
            copied_from=(source_chat.id, original["message_id"]),
        )
        return {"message_id": message["message_id"]}

    async def _forward_message(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=True)
        source_chat = self._chat_param(p, "from_chat_id")
        message_id = p.integer("message_id")
        original = self._store.get(source_chat.id, {}).get(message_id or 0)
        if original is None:
            raise bad("message to forward not found")
        source = on_wire(original)
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not content:
            raise bad("message can't be forwarded")
        origin: JSONDict
        if source_chat.type == "channel":
            origin = {
                "type": "channel",
                "chat": source_chat.to_api(),
                "message_id": original["message_id"],
                "date": original["date"],
            }
        else:
            origin = {"type": "user", "sender_user": source["from"], "date": original["date"]}
        content["forward_origin"] = origin
        message = self._bot_message(
            chat,
            content,
            method="forwardMessage",
            raw=content.get("text", content.get("caption", "")),
            markup=Markup(),
            reply=None,
            p=p,
            copied_from=(source_chat.id, original["message_id"]),
        )
        return on_wire(message)
