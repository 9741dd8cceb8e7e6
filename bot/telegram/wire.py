"""Updates as they arrive on the wire: cleaned, checked and read one at a time.

Each update is read on its own with `Update.de_json`, so that one python-telegram-bot cannot
read is set aside instead of stopping the batch it came in. Text that is not valid Unicode (a
lone UTF-16 surrogate, which JSON can carry as an escape such as \\ud800) is replaced with
U+FFFD before anything else sees it: such a string cannot be encoded as UTF-8, so SQLite, the
log and every request to Telegram would fail on it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update

from bot.core.domain import Poison

# Telegram's update ids are 32-bit signed integers, counted from a positive number.
MAX_UPDATE_ID = 2**31 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_KIND = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True)
class Arrival:
    """One update as received: its id, its cleaned JSON text, and what reading it gave."""

    update_id: int | None
    payload: str
    update: Update | None
    poison: Poison | None


def valid_update_id(value: object) -> bool:
    """Tell whether a value can be an update id (an integer in range, not a boolean)."""
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID


def clean(value: Any) -> Any:
    """Return JSON data with every lone surrogate in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Return JSON text for storing (Unicode kept as is: Vietnamese stays readable)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read(raw: Any, bot: Bot) -> Arrival:
    """Clean and parse one raw update; a failure becomes a Poison, never an exception."""
    data = clean(raw)
    payload = dumps(data)
    update_id = data.get("update_id") if isinstance(data, dict) else None
    update_id = update_id if valid_update_id(update_id) else None
    try:
        if update_id is None:
            raise ValueError("no valid update_id")
        update = Update.de_json(data, bot)
        return Arrival(update_id, payload, update, None)
    except Exception as exc:
        # Anything at all may fail inside python-telegram-bot's parsing of a strange shape.
        return Arrival(update_id, payload, None, poison(data, payload, exc))


def parse_stored(update_id: int, payload: str, bot: Bot) -> Arrival:
    """Parse an update stored earlier (perhaps by an older version, so perhaps unreadable)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        return Arrival(update_id, payload, None, poison(None, payload, exc, update_id))
    arrival = read(data, bot)
    if arrival.poison is not None and arrival.poison.update_id is None:
        arrival = Arrival(update_id, payload, None, _with_id(arrival.poison, update_id))
    return arrival


def poison(data: Any, payload: str, exc: BaseException, update_id: int | None = None) -> Poison:
    """Describe an unreadable update without any of its content."""
    if update_id is None and isinstance(data, dict) and valid_update_id(data.get("update_id")):
        update_id = data["update_id"]
    kinds = [k for k in data if k != "update_id"] if isinstance(data, dict) else []
    kind = kinds[0] if kinds and isinstance(kinds[0], str) and _KIND.match(kinds[0]) else None
    return Poison(update_id, kind, describe(exc), len(payload.encode("utf-8")))


def describe(exc: BaseException) -> str:
    """Name an exception by its type and the code that raised it; its message may hold data."""
    frames = []
    trace = exc.__traceback__
    while trace is not None:
        if str(trace.tb_frame.f_globals.get("__name__", "")).startswith("telegram"):
            frames.append(trace.tb_frame.f_code.co_qualname)
        trace = trace.tb_next
    # The innermost class reading itself names the field best (InlineKeyboardMarkup.de_json);
    # the shared helpers below it (TelegramObject._de_json) say little.
    readers = [f for f in frames if f.endswith("de_json") and not f.startswith("TelegramObject")]
    where = readers or frames
    return f"{type(exc).__name__} in {where[-1]}" if where else type(exc).__name__


def _with_id(poison: Poison, update_id: int) -> Poison:
    return Poison(update_id, poison.kind, poison.error, poison.size, poison.at)


# python-telegram-bot's log lines that print a whole update or a whole answer from Telegram.
_DUMPS = (
    "Error while parsing updates!",
    "Error while building CallbackContext for update",
    "Can not load invalid JSON data",
    "Processing update",
    "Dropping pending update",
)
_DUMPING_LOGGERS = (
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.request.BaseRequest",
)


class _Withhold(logging.Filter):
    """Keep python-telegram-bot's lines that would print an update, without the update."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_DUMPS):
            error = record.exc_info[1] if record.exc_info else None
            record.msg = record.msg.split("%", 1)[0].rstrip(" :\"'") + " (content withheld)"
            if error is not None:
                record.msg += f" ({type(error).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def withhold_update_dumps() -> None:
    """Make sure no log line of python-telegram-bot prints an update's personal data."""
    for name in _DUMPING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Withhold) for f in logger.filters):
            logger.addFilter(_Withhold())
