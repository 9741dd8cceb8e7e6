"""Liêm Chính: a Telegram bot for reporting officials' misconduct and following it up."""

import os

# Opt in to python-telegram-bot's coming behaviour (durations as timedelta) now: without it,
# every RetryAfter and media duration raises a deprecation warning, and the code would have to
# change again at the next major version.
os.environ.setdefault("PTB_TIMEDELTA", "true")

__version__ = "0.1.0"
