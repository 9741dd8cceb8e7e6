"""The log formats: text or one JSON object a line, neither with a token in it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import REDACTED, formatter


def log_through(log_format: str, token: str) -> str:
    """Log a few records that carry the token, in `log_format`; return what was written."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, [token, None]))
    log = logging.getLogger(f"tests.logs.{log_format}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        log.warning("calling https://api.telegram.org/bot%s/getMe", token)
        log.info("a token in the message itself: " + token)
        # Not the configured token, but shaped like one: a secret all the same.
        log.info("old token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ")
        try:
            raise ConnectionError(f"https://api.telegram.org/bot{token}/getUpdates failed")
        except ConnectionError:
            log.exception("polling failed")
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_token_in_either_log_format(log_format: str) -> None:
    token = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    written = log_through(log_format, token)
    assert token not in written and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in written
    assert written.count(REDACTED) == 4
    assert "polling failed" in written and "ConnectionError" in written


def test_json_log_is_one_object_a_line() -> None:
    lines = log_through("json", "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        assert record["time"].endswith("+00:00")
    assert records[0]["level"] == "WARNING" and records[0]["logger"] == "tests.logs.json"
    assert "exc_info" not in records[0]
    assert "Traceback" in records[3]["exc_info"] and "ConnectionError" in records[3]["exc_info"]
