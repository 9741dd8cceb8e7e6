"""The Bot API methods that change what the bot already sent or was asked: editMessageText,
editMessageCaption, editMessageReplyMarkup, deleteMessage and answerCallbackQuery, refusing
what Telegram refuses (an edit that changes nothing, a message that is not the bot's, a callback
query that is unknown or already answered).
"""

from __future__ import annotations

from bot.sim.objects import Markup, is_media, on_wire, read_markup
from bot.sim.people import SimChat
from bot.sim.protocol import (
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_TEXT_LENGTH,
    NOT_MODIFIED,
    JSONDict,
    Params,
    bad,
    date_now,
)
from bot.sim.sending import SendingMixin


class EditingMixin(SendingMixin):
    """Methods that edit or delete messages and answer callback queries."""

    def _editable(self, p: Params) -> tuple[SimChat, JSONDict]:
        """The bot message an edit* call names."""
        if p.text("inline_message_id"):
            # Inline mode is not simulated; the project does not use it.
            raise bad("MESSAGE_ID_INVALID")
        chat = self._target(p, sending=True)
        message = self._store.get(chat.id, {}).get(p.integer("message_id") or 0)
        if message is None:
            raise bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise bad("message can't be edited")
        return chat, message

    def _edit_markup(self, p: Params) -> Markup:
        """An edit keeps only inline keyboards; leaving reply_markup out removes it."""
        markup = read_markup(p.json("reply_markup"))
        return markup if markup.inline is not None else Markup()

    def _apply_edit(
        self, chat: SimChat, message: JSONDict, changes: JSONDict, markup: Markup, raw: str | None
    ) -> JSONDict:
        """Apply an edit in place, refusing one that changes nothing."""
        current = {key: message.get(key) for key in changes}
        if current == changes and message.get("reply_markup") == markup.inline:
            raise bad(NOT_MODIFIED)
        for key, value in changes.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        if markup.inline is not None:
            message["reply_markup"] = markup.inline
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = date_now()
        # Counted so that a reader can tell an edit from the message as it was, within a second.
        message["edits"] = message.get("edits", 0) + 1
        message["buttons"] = markup.buttons
        if is_media(message):
            message["text"] = message.get("caption", "")
        if raw is not None:
            message["html"] = raw
        self._emit(chat.id, message, "edit")
        return on_wire(message)

    async def _edit_message_text(self, p: Params) -> JSONDict:
        chat, message = self._editable(p)
        if is_media(message):
            raise bad("there is no text in the message to edit")
        text, entities, raw = self._formatted(
            p, "text", "entities", MAX_TEXT_LENGTH, "message is too long"
        )
        if not text.strip():
            raise bad("message text is empty")
        changes = {"text": text, "entities": entities or None}
        return self._apply_edit(chat, message, changes, self._edit_markup(p), raw)

    async def _edit_message_caption(self, p: Params) -> JSONDict:
        chat, message = self._editable(p)
        if not is_media(message):
            raise bad("there is no caption in the message to edit")
        caption, raw = self._caption(p)
        changes = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
        }
        return self._apply_edit(chat, message, changes, self._edit_markup(p), raw)

    async def _edit_message_reply_markup(self, p: Params) -> JSONDict:
        chat, message = self._editable(p)
        return self._apply_edit(chat, message, {}, self._edit_markup(p), None)

    async def _delete_message(self, p: Params) -> bool:
        chat = self._target(p, sending=False)
        messages = self._store.get(chat.id, {})
        message = messages.get(p.integer("message_id") or 0)
        if message is None:
            raise bad("message to delete not found")
        own = message.get("from", {}).get("id") == self.bot_user["id"]
        if (
            not own
            and chat.type != "private"
            and chat.bot_status not in ("administrator", "creator")
        ):
            raise bad("message can't be deleted")
        del messages[message["message_id"]]
        if own:
            message["deleted"] = True
            self._notify()
        return True

    async def _answer_callback_query(self, p: Params) -> bool:
        query_id = p.text("callback_query_id") or ""
        if query_id not in self._open_callbacks:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        text = p.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        answer = p.decoded()
        answer.pop("callback_query_id", None)
        self.callback_answers[query_id] = answer
        self._notify()
        return True
