"""The Bot API objects the simulated Telegram builds and checks: message content with its
entities (parse_mode applied), reply markup validated like Telegram and split into what the
simulation keeps, messages as sent on the wire or embedded in another, and ChatMember objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.sim.html import HtmlParseError, parse_html
from bot.sim.protocol import Button, JSONDict, bad, utf16_len

# Keys a stored bot message carries for readers of the simulation, never sent on the wire.
_EXTRA_KEYS = frozenset(
    {"html", "buttons", "reply_keyboard", "method", "copied_from", "deleted", "edits"}
)
_MEDIA_KEYS = frozenset(
    """
    photo document voice video audio animation video_note sticker location contact poll
    venue dice
    """.split()
)
CONTENT_KEYS = (*sorted(_MEDIA_KEYS), "text", "entities", "caption", "caption_entities")
_OTHER_BUTTON_KINDS = frozenset(
    """
    web_app login_url switch_inline_query switch_inline_query_current_chat
    switch_inline_query_chosen_chat copy_text callback_game pay
    """.split()
)


def command_entities(text: str) -> list[JSONDict]:
    """The bot_command entity Telegram adds to a message starting with a command."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    if len(command) < 2:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def format_text(
    raw: str, parse_mode: str | None, entities: Any, *, strict: bool
) -> tuple[str, list[JSONDict]]:
    """Apply parse_mode the way Telegram does and return visible text and entities."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            return parse_html(raw, strict=strict)
        except HtmlParseError as error:
            raise bad(f"can't parse entities: {error}") from None
    if mode not in ("", "markdown", "markdownv2"):
        raise bad("unsupported parse_mode")
    # Markdown is not interpreted: the project writes HTML, so such text is kept as sent.
    if entities is None:
        return raw, []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise bad("can't parse entities JSON object")
    return raw, entities


@dataclass
class Markup:
    """What a reply_markup parameter means for the message and the chat."""

    inline: JSONDict | None = None
    buttons: list[Button] = field(default_factory=list)
    keyboard: list[str] | None = None
    one_time: bool = False
    remove_keyboard: bool = False


def _inline_button(button: Any) -> Button:
    """Check one inline button like Telegram and give its (text, callback_data or url)."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    text = button["text"]
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise bad("BUTTON_DATA_INVALID")
        return text, data
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.strip() or " " in url.strip():
            raise bad("BUTTON_URL_INVALID")
        return text, url
    if _OTHER_BUTTON_KINDS.isdisjoint(button):
        raise bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    return text, None


def _keyboard_text(button: Any) -> str:
    """A reply-keyboard button as the list of texts shows it, request buttons marked."""
    if isinstance(button, str):
        return button
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad('can\'t parse keyboard button: Field "text" must be of type String')
    text: str = button["text"]
    for request in ("request_contact", "request_location"):
        if button.get(request):
            return f"{text} [{request}]"
    return text


def read_markup(markup: Any) -> Markup:
    """Check a reply_markup like Telegram and split it into what the simulation keeps."""
    if markup is None:
        return Markup()
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad("can't parse inline keyboard markup JSON object")
        buttons = [_inline_button(button) for row in rows for button in row]
        return Markup(inline={"inline_keyboard": rows}, buttons=buttons)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad("can't parse keyboard markup JSON object")
        texts = [_keyboard_text(button) for row in rows for button in row]
        return Markup(keyboard=texts, one_time=bool(markup.get("one_time_keyboard")))
    if markup.get("remove_keyboard"):
        return Markup(remove_keyboard=True)
    if "force_reply" in markup:
        return Markup()
    raise bad("can't parse reply keyboard markup JSON object")


def is_media(message: JSONDict) -> bool:
    """Whether the message carries something other than plain text."""
    return not _MEDIA_KEYS.isdisjoint(message)


def on_wire(message: JSONDict) -> JSONDict:
    """A stored message as the Bot API sends it, without the simulation's own keys."""
    media = is_media(message)
    return {
        key: value
        for key, value in message.items()
        if key not in _EXTRA_KEYS and not (media and key == "text")
    }


def snapshot(message: JSONDict) -> JSONDict:
    """A message as embedded in another (reply_to_message), which Telegram does not nest."""
    wire = on_wire(message)
    wire.pop("reply_to_message", None)
    return wire


def chat_member(user: JSONDict, status: str, chat_type: str) -> JSONDict:
    """A ChatMember object with the fields python-telegram-bot requires for its status."""
    # A basic group has no ban list: someone removed from it is reported as having left.
    if status == "kicked" and chat_type == "group":
        status = "left"
    member: JSONDict = {"status": status, "user": dict(user)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
        )
        if chat_type == "channel":
            member.update(can_post_messages=True, can_edit_messages=True)
        else:
            member["can_pin_messages"] = True
    elif status == "kicked":
        member["until_date"] = 0
    return member


def captioned(kind: str, media: Any, caption: str | None) -> JSONDict:
    """Message content for a media item with an optional caption."""
    content: JSONDict = {kind: media}
    if caption:
        content["caption"] = caption
    return content
