"""The Bot API methods about chats and files as the bot asks for them: getChat,
getChatMember, getChatAdministrators, leaveChat, pinning and unpinning, and getFile, which gives
a file the path its download is served under.
"""

from __future__ import annotations

from bot.sim.core import SimCore
from bot.sim.files import FILE_FOLDERS
from bot.sim.objects import chat_member, snapshot
from bot.sim.protocol import MAX_DOWNLOAD_BYTES, JSONDict, Params, bad


class ChatsMixin(SimCore):
    """Methods that read chats, members and files, or change the bot's place in a chat."""

    async def _get_file(self, p: Params) -> JSONDict:
        stored = self._files.get(p.text("file_id") or "")
        if stored is None:
            raise bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise bad("file is too big")
        if stored.file_path is None:
            folder, extension = FILE_FOLDERS.get(stored.kind, ("documents", ""))
            name = str(stored.meta.get("file_name", ""))
            if not extension and "." in name:
                extension = "." + name.rsplit(".", 1)[-1]
            stored.file_path = f"{folder}/file_{self._next_sequence()}{extension}"
            self._files_by_path[stored.file_path] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def _get_chat(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=False)
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.pinned_message_id is not None:
            pinned = self._store.get(chat.id, {}).get(chat.pinned_message_id)
            if pinned is not None:
                info["pinned_message"] = snapshot(pinned)
        return info

    async def _get_chat_member(self, p: Params) -> JSONDict:
        chat = self._target(p, sending=False)
        user_id = p.integer("user_id")
        if user_id == self.bot_user["id"]:
            status = "member" if chat.type == "private" else chat.bot_status
            return chat_member(self.bot_user, status, chat.type)
        user = self._users.get(user_id or 0)
        if user is None:
            raise bad("user not found")
        if chat.type == "private":
            status = "member" if chat.id == user.id else "left"
        else:
            status = chat.members.get(user.id, "left")
        return chat_member(user.to_api(), status, chat.type)

    async def _get_chat_administrators(self, p: Params) -> list[JSONDict]:
        chat = self._target(p, sending=False)
        if chat.type == "private":
            raise bad("there are no administrators in the private chat")
        admins = [
            chat_member(self._users[user_id].to_api(), status, chat.type)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator") and user_id in self._users
        ]
        if chat.bot_status == "administrator":
            admins.append(chat_member(self.bot_user, "administrator", chat.type))
        return admins

    async def _leave_chat(self, p: Params) -> bool:
        chat = self._target(p, sending=False)
        if chat.type == "private":
            raise bad("chat member status can't be changed in private chats")
        old, chat.bot_status = chat.bot_status, "left"
        self._member_update(chat, dict(self.bot_user), old, "left")
        return True

    async def _pin_chat_message(self, p: Params) -> bool:
        chat = self._target(p, sending=True)
        message_id = p.integer("message_id") or 0
        if message_id not in self._store.get(chat.id, {}):
            raise bad("message to pin not found")
        if chat.type != "private" and chat.bot_status not in ("administrator", "creator"):
            raise bad("not enough rights to manage pinned messages in the chat")
        chat.pinned_message_id = message_id
        return True

    async def _unpin_chat_message(self, p: Params) -> bool:
        chat = self._target(p, sending=True)
        chat.pinned_message_id = None
        return True
