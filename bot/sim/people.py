"""The people and chats a test drives on the simulated Telegram: a SimUser writes, sends media,
edits and presses buttons, each action queuing the update Telegram would send the bot, and a
SimChat is a private chat, group, supergroup or channel whose bot messages a test reads and
waits for. They reach the simulator only through SimulatedTelegram, so that this module does not
depend on the server that creates them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from bot.sim.files import StoredFile
from bot.sim.objects import captioned, command_entities
from bot.sim.protocol import MEMBER_STATUSES, Button, JSONDict

Predicate = Callable[[JSONDict], bool]


class SimulatedTelegram(Protocol):
    """What people and chats ask of the simulator (BotApiSimulator provides it)."""

    def chat(self, chat_id: int) -> SimChat: ...

    def messages(self, chat_id: int) -> list[JSONDict]: ...

    def _next_sequence(self) -> int: ...

    def _stored(self, message: JSONDict) -> JSONDict: ...

    def _new_file(
        self, kind: str, content: bytes | None, size: int | None, meta: JSONDict | None = None
    ) -> StoredFile: ...

    def _new_photo(self, content: bytes | None, size: int | None) -> StoredFile: ...

    def _media_content(self, stored: StoredFile, kind: str) -> Any: ...

    async def _wait_for_message(
        self,
        chat_id: int,
        contains: str | None,
        predicate: Predicate | None,
        after: int,
        seconds: float,
    ) -> tuple[int, JSONDict]: ...

    async def _post(
        self, user: SimUser, chat_id: int | None, content: JSONDict, reply_to: JSONDict | None
    ) -> JSONDict: ...

    async def _edit_user_message(
        self, user: SimUser, message: JSONDict, text: str
    ) -> JSONDict: ...

    async def _press(
        self, user: SimUser, message: JSONDict, data: str, check_button: bool
    ) -> JSONDict: ...


class SimChat:
    """A chat as the simulated Telegram knows it: private, group, supergroup or channel."""

    def __init__(
        self,
        sim: SimulatedTelegram,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        user: SimUser | None = None,
        bot_status: str = "member",
    ) -> None:
        self.sim = sim
        self.id = chat_id
        self.type = chat_type
        self.title = title
        self.username = username
        self.user = user
        self.members: dict[int, str] = {}
        self.bot_status = bot_status
        # Private chats only: Telegram refuses to let a bot write first.
        self.started = True
        self.migrated_to: int | None = None
        self.pinned_message_id: int | None = None
        self.reply_keyboard: list[str] = []
        self.one_time_keyboard = False
        self.last_message_id = 0
        self._cursor = 0

    def __repr__(self) -> str:
        return f"SimChat({self.id}, {self.type!r}, {self.title or self.user!r})"

    def to_api(self) -> JSONDict:
        """The Chat object of the Bot API."""
        chat: JSONDict = {"id": self.id, "type": self.type}
        if self.user is not None:
            chat["first_name"] = self.user.first_name
            if self.user.last_name:
                chat["last_name"] = self.user.last_name
        else:
            chat["title"] = self.title or ""
        if self.username:
            chat["username"] = self.username
        return chat

    def add_member(self, user: SimUser, status: str = "member") -> None:
        """Make the user a member of this chat with the given status."""
        if self.type == "private":
            raise ValueError("private chats have no members to add")
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        self.members[user.id] = status

    @property
    def messages(self) -> list[JSONDict]:
        """The bot's messages in this chat, oldest first."""
        return self.sim.messages(self.id)

    async def next_message(
        self,
        contains: str | None = None,
        *,
        predicate: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The next bot message here not yet returned by next_message (skipping non-matching)."""
        index, message = await self.sim._wait_for_message(
            self.id, contains, predicate, self._cursor, timeout
        )
        self._cursor = index + 1
        return message


class SimUser:
    """A person on Telegram; each action queues the update Telegram would send the bot."""

    def __init__(
        self,
        sim: SimulatedTelegram,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> None:
        self.sim = sim
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.first_name!r})"

    def to_api(self) -> JSONDict:
        """The User object of the Bot API."""
        user: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> SimChat:
        """This user's private chat with the bot."""
        return self.sim.chat(self.id)

    @property
    def inbox(self) -> list[JSONDict]:
        """The bot's messages in the private chat, oldest first."""
        return self.sim.messages(self.id)

    async def next_message(
        self,
        contains: str | None = None,
        *,
        predicate: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The next bot message in the private chat not yet returned by next_message."""
        return await self.chat.next_message(contains, predicate=predicate, timeout=timeout)

    async def send(
        self, text: str, *, chat_id: int | None = None, reply_to: JSONDict | None = None
    ) -> JSONDict:
        """Write a text message (a command if it starts with "/")."""
        content: JSONDict = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return await self.sim._post(self, chat_id, content, reply_to)

    async def send_photo(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a photo; Telegram delivers it as a list of sizes, largest last."""
        photo = self.sim._media_content(self.sim._new_photo(content, size), "photo")
        return await self.sim._post(self, chat_id, captioned("photo", photo, caption), reply_to)

    async def send_document(
        self,
        file_name: str,
        *,
        content: bytes | None = None,
        size: int | None = None,
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a file as a document."""
        meta = {"file_name": file_name, "mime_type": mime_type}
        stored = self.sim._new_file("document", content, size, meta)
        body = captioned("document", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_voice(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        duration: int = 3,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a voice note."""
        meta = {"duration": duration, "mime_type": "audio/ogg"}
        stored = self.sim._new_file("voice", content, size, meta)
        body = captioned("voice", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_video(
        self,
        *,
        content: bytes | None = None,
        size: int | None = None,
        duration: int = 5,
        width: int = 640,
        height: int = 360,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: JSONDict | None = None,
    ) -> JSONDict:
        """Send a video."""
        meta = {"width": width, "height": height, "duration": duration, "mime_type": "video/mp4"}
        stored = self.sim._new_file("video", content, size, meta)
        body = captioned("video", stored.media_object(), caption)
        return await self.sim._post(self, chat_id, body, reply_to)

    async def send_sticker(self, *, emoji: str = "👍", chat_id: int | None = None) -> JSONDict:
        """Send a sticker."""
        meta = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        stored = self.sim._new_file("sticker", None, None, meta)
        return await self.sim._post(self, chat_id, {"sticker": stored.media_object()}, None)

    async def send_location(
        self, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> JSONDict:
        """Share a location."""
        location = {"latitude": latitude, "longitude": longitude}
        return await self.sim._post(self, chat_id, {"location": location}, None)

    async def send_contact(
        self,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
        chat_id: int | None = None,
    ) -> JSONDict:
        """Share a contact, by default the user's own (as a request_contact button does)."""
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": self.id if user_id is None else user_id,
        }
        if last_name:
            contact["last_name"] = last_name
        return await self.sim._post(self, chat_id, {"contact": contact}, None)

    async def send_poll(
        self,
        question: str,
        options: Iterable[str] = ("Có", "Không"),
        *,
        chat_id: int | None = None,
    ) -> JSONDict:
        """Send a poll, something the bot is not expected to understand."""
        poll = {
            "id": str(self.sim._next_sequence()),
            "question": question,
            "options": [
                {"text": option, "voter_count": 0, "persistent_id": str(number)}
                for number, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            # Required by python-telegram-bot 22.8 (Bot API 9.6 and 10.0).
            "allows_revoting": False,
            "members_only": False,
        }
        return await self.sim._post(self, chat_id, {"poll": poll}, None)

    async def edit(self, message: JSONDict, new_text: str) -> JSONDict:
        """Edit one of this user's text messages; the bot gets an edited_message update."""
        return await self.sim._edit_user_message(self, message, new_text)

    async def press(
        self, message: JSONDict, callback_data: str, *, check_button: bool = True
    ) -> JSONDict:
        """Press an inline button of a bot message; returns the queued callback query."""
        return await self.sim._press(self, message, callback_data, check_button)

    async def press_button(self, message: JSONDict, text_fragment: str) -> JSONDict:
        """Press the inline button whose text contains text_fragment (case-insensitive)."""
        current = self.sim._stored(message)
        buttons: list[Button] = current.get("buttons", [])
        wanted = text_fragment.casefold()
        exact = [button for button in buttons if button[0].casefold() == wanted]
        found = exact or [button for button in buttons if wanted in button[0].casefold()]
        if not found:
            raise AssertionError(f"no button containing {text_fragment!r}; buttons: {buttons}")
        text, data = found[0]
        if data is None or data.startswith(("http://", "https://", "tg://")):
            raise AssertionError(f"button {text!r} opens {data!r}, it sends no callback")
        return await self.press(current, data)
