"""The people and chats a test sets up on the simulated Telegram, what those people do there
(write, edit, press buttons), and what happens to the bot in a chat (added, kicked, blocked, a
group upgraded to a supergroup), each turned into the updates Telegram would queue for the bot.
"""

from __future__ import annotations

import asyncio
import json

from bot.sim.objects import command_entities, on_wire, snapshot
from bot.sim.people import SimChat, SimUser
from bot.sim.protocol import CHAT_TYPES, MEMBER_STATUSES, JSONDict, date_now
from bot.sim.readers import ReadersMixin


# Built on ReadersMixin: the people made here read and wait through it (see SimulatedTelegram).
class WorldMixin(ReadersMixin):
    """Setting up people and chats, their actions, and the bot's fate in chats."""

    # -- people and chats -----------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        started: bool = True,
    ) -> SimUser:
        """Create a person and their private chat; started=False means they never wrote."""
        if user_id in self._users or user_id in self._chats:
            raise ValueError(f"id {user_id} is already used")
        user = SimUser(
            self,
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._users[user_id] = user
        chat = SimChat(self, user_id, "private", user=user, username=username)
        chat.started = started
        self._chats[user_id] = chat
        return user

    def add_chat(
        self,
        chat_id: int,
        title: str,
        type: str = "supergroup",
        *,
        username: str | None = None,
        bot_status: str = "administrator",
    ) -> SimChat:
        """Create a group, supergroup or channel; bot_status="left" if the bot is not in it."""
        if type not in CHAT_TYPES:
            raise ValueError(f"chat type must be one of {sorted(CHAT_TYPES)}, not {type!r}")
        if bot_status not in MEMBER_STATUSES:
            raise ValueError(f"unknown bot status {bot_status!r}")
        if chat_id in self._chats:
            raise ValueError(f"chat {chat_id} already exists")
        chat = SimChat(self, chat_id, type, title=title, username=username, bot_status=bot_status)
        self._chats[chat_id] = chat
        return chat

    async def add_bot_to_chat(
        self, chat_id: int, by_user_id: int, status: str = "administrator"
    ) -> None:
        """Someone adds the bot to a chat; queues the updates Telegram sends for that."""
        if status not in ("member", "administrator"):
            raise ValueError("the bot joins as 'member' or 'administrator'")
        chat = self.chat(chat_id)
        user = self.user(by_user_id)
        old = chat.bot_status
        chat.bot_status = status
        self._member_update(chat, user.to_api(), old, status)
        if chat.type != "channel" and old in ("left", "kicked"):
            content = {"new_chat_members": [dict(self.bot_user)]}
            joined = self._new_message(chat, content, user.to_api())
            self._queue_update("message", joined)
        await asyncio.sleep(0)

    # -- what people do -------------------------------------------------------------------

    async def _post(
        self,
        user: SimUser,
        chat_id: int | None,
        content: JSONDict,
        reply_to: JSONDict | None,
    ) -> JSONDict:
        """A user posts in a chat: store the message and queue its update."""
        chat = self.chat(user.id if chat_id is None else chat_id)
        if chat.type == "private" and chat.id != user.id:
            raise ValueError(f"{user!r} cannot write in another person's private chat")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat.id} became {chat.migrated_to}; post there")
        if chat.type == "private":
            chat.started = True
            if chat.bot_status == "kicked":
                # Writing to a blocked bot means restarting it, which Telegram reports first.
                await self.unblock_bot(user.id)
        message = self._new_message(chat, content, user.to_api())
        if reply_to is not None:
            if reply_to["chat"]["id"] != chat.id:
                raise ValueError("reply_to must be a message of the same chat")
            message["reply_to_message"] = snapshot(self._stored(reply_to))
        if chat.one_time_keyboard:
            chat.reply_keyboard = []
            chat.one_time_keyboard = False
        self._queue_update("channel_post" if chat.type == "channel" else "message", message)
        await asyncio.sleep(0)
        return message

    async def _edit_user_message(self, user: SimUser, message: JSONDict, text: str) -> JSONDict:
        """A user edits their text message."""
        stored = self._stored(message)
        chat = self.chat(stored["chat"]["id"])
        if chat.type != "channel" and stored.get("from", {}).get("id") != user.id:
            raise AssertionError(f"{user!r} can only edit their own messages")
        if "text" not in stored:
            raise AssertionError("only text messages can be edited this way")
        edited = {key: value for key, value in stored.items() if key != "entities"}
        edited.update(text=text, edit_date=date_now())
        entities = command_entities(text)
        if entities:
            edited["entities"] = entities
        self._store[chat.id][edited["message_id"]] = edited
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        self._queue_update(kind, edited)
        await asyncio.sleep(0)
        return edited

    async def _press(
        self, user: SimUser, message: JSONDict, data: str, check_button: bool
    ) -> JSONDict:
        """A user presses an inline button; the query carries the bot message as stored."""
        stored = self._stored(message)
        if check_button and data not in [value for _, value in stored.get("buttons", [])]:
            raise AssertionError(
                f"message {stored['message_id']} has no button with callback_data {data!r}; "
                f"buttons: {stored.get('buttons', [])}"
            )
        query_id = str(4_000_000_000 + self._next_sequence())
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": on_wire(stored),
            "chat_instance": f"sim{abs(stored['chat']['id'])}",
            "data": data,
        }
        self._open_callbacks.add(query_id)
        self._queue_update("callback_query", query)
        await asyncio.sleep(0)
        return query

    def queue_raw_update(self, update: JSONDict | str) -> JSONDict:
        """Queue an update as given (a dict or JSON text); one without an id gets the next."""
        # JSON text can carry what the simulated people never send, such as a lone surrogate
        # written as the escape \ud800, or a shape python-telegram-bot cannot read.
        raw: JSONDict = json.loads(update) if isinstance(update, str) else dict(update)
        if "update_id" not in raw:
            self._update_id += 1
            raw = {"update_id": self._update_id, **raw}
        elif isinstance(raw["update_id"], int) and not isinstance(raw["update_id"], bool):
            # Later updates keep counting up from the highest id queued so far.
            self._update_id = max(self._update_id, raw["update_id"])
        self._updates.append(raw)
        self._wake_pollers()
        return raw

    # -- the bot in chats -----------------------------------------------------------------

    async def migrate_chat(self, old_id: int, new_id: int) -> SimChat:
        """Upgrade a group to a supergroup with the same members; sends to old_id then fail."""
        old = self.chat(old_id)
        # Only basic groups migrate on Telegram, but the bot sees the same either way, so a test
        # may declare the chat as a supergroup in its configuration and still migrate it.
        if old.type not in ("group", "supergroup"):
            raise ValueError("only a group can be upgraded to a supergroup")
        if new_id in self._chats:
            raise ValueError(f"chat {new_id} already exists")
        new = SimChat(
            self,
            new_id,
            "supergroup",
            title=old.title,
            username=old.username,
            bot_status=old.bot_status,
        )
        new.members = dict(old.members)
        self._chats[new_id] = new
        old.migrated_to = new_id
        actor = self._chat_actor(old)
        for chat, content in (
            (old, {"migrate_to_chat_id": new_id}),
            (new, {"migrate_from_chat_id": old_id}),
        ):
            self._queue_update("message", self._new_message(chat, content, actor))
        await asyncio.sleep(0)
        return new

    async def kick_bot(self, chat_id: int, *, by_user_id: int | None = None) -> None:
        """Remove the bot from a group or channel; sends there answer 403 from now on."""
        chat = self.chat(chat_id)
        if chat.type == "private":
            raise ValueError("a private chat cannot kick the bot: use block_bot")
        actor = self.user(by_user_id).to_api() if by_user_id is not None else None
        old, chat.bot_status = chat.bot_status, "kicked"
        self._member_update(chat, actor or self._chat_actor(chat), old, "kicked")
        await asyncio.sleep(0)

    async def block_bot(self, user_id: int) -> None:
        """The user blocks the bot; sends to them answer 403 until they write again."""
        chat = self.chat(user_id)
        old, chat.bot_status = chat.bot_status, "kicked"
        self._member_update(chat, self.user(user_id).to_api(), old, "kicked")
        await asyncio.sleep(0)

    async def unblock_bot(self, user_id: int) -> None:
        """The user unblocks the bot."""
        chat = self.chat(user_id)
        old, chat.bot_status = chat.bot_status, "member"
        self._member_update(chat, self.user(user_id).to_api(), old, "member")
        await asyncio.sleep(0)
