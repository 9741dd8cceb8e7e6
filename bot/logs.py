"""The operator's log: plain text or one JSON object a line, with secrets taken out of both."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"

# The shape of any bot token (digits, a colon, 35 URL-safe characters): a token that is not
# the configured one (an old one in an error, another bot's) is a secret all the same.
_TOKEN_RE = re.compile(r"(?<![0-9])[0-9]{5,16}:[A-Za-z0-9_-]{30,}")
# The credentials in any URL ("socks5://user:password@host"): a proxy's, whichever it is.
_USERINFO_RE = re.compile(r"(?<=://)[^\s/@:]*:[^\s/@]*@")

# Loggers that say too much at INFO for an operator's log.
_QUIETED = (
    # httpx logs every request URL, and the URL carries the bot token.
    "httpx",
    "apscheduler",
    # Tornado's access log would print every webhook request line.
    "tornado.access",
)


class Redactor:
    """Take the given secrets, anything shaped like a bot token and a URL's credentials out."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        plain = {secret for secret in secrets if secret}
        # A secret inside a JSON string may come out escaped; both spellings are removed.
        escaped = {json.dumps(secret, ensure_ascii=False)[1:-1] for secret in plain}
        # Longest first, so that a secret containing another is removed whole.
        self._secrets = sorted(plain | escaped, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return `text` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _USERINFO_RE.sub(REDACTED + "@", text)
        return _TOKEN_RE.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Format a record with another formatter, then take the secrets out of the result."""

    # Redacting the finished line, not the record, also reaches what a formatter adds on its
    # own: a traceback's text, a JSON field, an exception's message quoting a URL.
    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as the inner formatter writes it, secrets removed."""
        return self.redact(self.inner.format(record))


def json_formatter() -> logging.Formatter:
    """Return the formatter of one JSON object a line: time, level, logger, message, exc_info."""
    # journald and Loki read one object a line; an exception's traceback comes as the
    # "exc_info" string. Times are ISO 8601 in UTC.
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def formatter(log_format: str, secrets: Iterable[str | None]) -> logging.Formatter:
    """Return the formatter of `log_format` ("text" or "json"), secrets removed."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    inner = json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    return RedactingFormatter(inner, Redactor(secrets))


def configure(handler: logging.Handler, log_format: str, secrets: Iterable[str | None]) -> None:
    """Send the log at INFO to `handler`, in `log_format`, without the secrets."""
    handler.setFormatter(formatter(log_format, secrets))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for name in _QUIETED:
        logging.getLogger(name).setLevel(logging.WARNING)
