"""Every Bot API call and file download: through the configured proxy, and counted.

The aiohttp transport (bot.telegram.transport) does the work, proxy included; this subclass
only counts each call by method and outcome, and each 429 as a flood wait, for /metrics.
"""

from __future__ import annotations

import json
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData

from bot.metrics import Metrics
from bot.telegram.transport import AiohttpRequest

# What a call's HTTP status says, as the outcome label.
_OUTCOMES = {
    200: "ok",
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "flood_wait",
}
FILE_METHOD = "file"


class MeteredRequest(AiohttpRequest):
    """The aiohttp request, counting each call in `metrics`."""

    def __init__(self, metrics: Metrics, file_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self.file_url = file_url

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        """Send the request; count it by method and outcome."""
        name = FILE_METHOD if url.startswith(self.file_url) else url.rsplit("/", 1)[-1]
        try:
            status, body = await super().do_request(url, method, request_data, *args, **kwargs)
        except TimedOut:
            self.metrics.api_call(name, "timed_out")
            raise
        except NetworkError:
            self.metrics.api_call(name, "network_error")
            raise
        outcome = _OUTCOMES.get(status, "server_error" if status >= 500 else "other")
        self.metrics.api_call(name, outcome)
        if status == 429:
            self.metrics.flood_wait(_retry_after(body))
        return status, body


def _retry_after(body: bytes) -> float:
    """Return the wait a 429's body asks for, 0 when it names none."""
    try:
        value = json.loads(body)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return 0.0
    return float(value) if isinstance(value, int | float) else 0.0
