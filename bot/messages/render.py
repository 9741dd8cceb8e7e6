"""The old import path of `category_label` and `field_lines`, kept for `handlers/report.py`
until it imports them from `bot.messages.labels` and `bot.messages.report`; nothing else should
use it, and it can go once that file has moved."""

from __future__ import annotations

from bot.messages.labels import category_label
from bot.messages.report import field_lines

__all__ = ["category_label", "field_lines"]
