"""The Bot API methods about the bot itself: getMe, its commands per scope and language, menu
buttons, descriptions and the calls that only need to succeed (the webhook is in webhook.py).
Tests read what the bot set through BotApiSimulator.bot_commands.
"""

from __future__ import annotations

import json
import re

from bot.sim.core import SimCore
from bot.sim.protocol import JSONDict, Params, bad


class SettingsMixin(SimCore):
    """Methods that set or read the bot's own settings."""

    async def _true(self, p: Params) -> bool:
        """Methods that only need to succeed."""
        return True

    async def _remember(self, method: str, p: Params) -> bool:
        """Methods whose parameters are only recorded."""
        self._settings[method] = p.decoded()
        return True

    async def _get_me(self, p: Params) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _commands_key(self, p: Params) -> tuple[str, str]:
        """Commands are kept per scope and language, as Telegram does."""
        scope = p.json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.text("language_code") or ""

    async def _set_my_commands(self, p: Params) -> bool:
        commands = p.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise bad("can't parse commands JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(p)
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _delete_my_commands(self, p: Params) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    async def _get_my_commands(self, p: Params) -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(p), ()))

    async def _set_chat_menu_button(self, p: Params) -> bool:
        button = p.json("menu_button") or {"type": "default"}
        self._menu_buttons[p.integer("chat_id")] = button
        return True

    async def _get_chat_menu_button(self, p: Params) -> JSONDict:
        chat_id = p.integer("chat_id")
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))
