"""The HTTP transport of every Bot API call and file download: aiohttp behind PTB's BaseRequest.

python-telegram-bot's own `HTTPXRequest` spends about four times the CPU of aiohttp on each
call (httpx and httpcore parse and build HTTP in Python; aiohttp does it in C), and a citizen's
step makes one or two calls: the transport was a third of the bot's busy time
(`docs/performance.md`). This class is PTB's documented way to bring another client: it builds
the same requests (form fields; multipart when files are sent) and maps failures to the same
errors (`TimedOut` when the call may or may not have reached Telegram, `NetworkError` when it
did not get through). Proxies: HTTP and HTTPS through aiohttp itself, SOCKS5 through
aiohttp-socks (`socks5h://` resolves names at the proxy).
"""

from __future__ import annotations

import re
import ssl
from typing import IO, Any

import aiohttp
import certifi
from python_socks import ProxyError, ProxyTimeoutError
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one aiohttp session, opened in `initialize` and closed in `shutdown`.

    The timeouts mean what they mean to `HTTPXRequest`, as far as aiohttp has them: `connect`
    the TCP (or proxy) connection, `pool` the wait for a free connection, `read` the wait for
    the answer once the request is written. aiohttp has no write timeout; a request carrying
    files may instead take `media_write_timeout` more to be answered.
    """

    __slots__ = (
        "_connect",
        "_http_proxy",
        "_pool",
        "_pool_size",
        "_read",
        "_session",
        "_socks_proxy",
        "_write_extra",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._write_extra = media_write_timeout
        # A SOCKS5 proxy is the connection pool's business; an HTTP(S) one is each request's.
        socks = proxy is not None and proxy.lower().startswith("socks5")
        self._socks_proxy = proxy if socks else None
        self._http_proxy = None if socks else proxy
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout, as PTB asks of every request class."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (PTB calls this from `Bot.initialize`, inside the event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=self._connector(),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _connector(self) -> aiohttp.BaseConnector:
        """Return the connection pool: direct, or through a SOCKS5 proxy."""
        # Mozilla's certificates from certifi, as httpx trusts: the same on every system image.
        context = ssl.create_default_context(cafile=certifi.where())
        if self._socks_proxy is not None:
            from aiohttp_socks import ProxyConnector

            scheme, sep, rest = self._socks_proxy.partition("://")
            # python-socks knows the scheme `socks5` only; `socks5h` asks it to let the proxy
            # resolve the host name, which is its `rdns` flag.
            return ProxyConnector.from_url(
                f"socks5{sep}{rest}",
                rdns=scheme.lower() == "socks5h",
                limit=self._pool_size,
                ssl=context,
            )
        return aiohttp.TCPConnector(limit=self._pool_size, ssl=context)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return its status and body, or raise PTB's errors."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.contains_files if request_data else False
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if files and read is not None:
            read += self._write_extra or 0.0
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data = _body(request_data) if request_data else None
        try:
            async with session.request(
                method, url, data=data, timeout=timeout, proxy=self._http_proxy
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ConnectionTimeoutError, ProxyTimeoutError) as exc:
            raise TimedOut(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut from exc
        except (aiohttp.ClientError, ProxyError, OSError) as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _body(request_data: RequestData) -> aiohttp.MultipartWriter | dict[str, str]:
    """Return the request's fields: a form, or a multipart form when it carries files."""
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return fields
    form = aiohttp.MultipartWriter("form-data")
    for name, value in fields.items():
        form.append(value).set_content_disposition("form-data", quote_fields=False, name=name)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        part: aiohttp.Payload
        if isinstance(content, bytes):
            part = aiohttp.BytesPayload(content, content_type=mimetype)
        else:
            _rewind(content)
            part = _BorrowedFile(content, content_type=mimetype)
        part.set_content_disposition(
            "form-data", quote_fields=False, name=name, filename=_form_filename(filename)
        )
        form.append_payload(part)
    return form


class _BorrowedFile(aiohttp.payload.BufferedReaderPayload):
    """A file its sender opened and will close: aiohttp reads it and leaves it open.

    aiohttp closes a file it sent once the request ends; the rate limiter may then send the
    same request again after a 429, from the same handle.
    """

    _autoclose = True

    def _close(self) -> None:
        """Leave the file open: its owner closes it."""

    async def close(self) -> None:
        """Leave the file open: its owner closes it."""


def _rewind(handle: IO[Any]) -> None:
    """Put a file handle back at its start: the limiter may send the same request again."""
    try:
        handle.seek(0)
    except (AttributeError, OSError, ValueError):
        # A stream that cannot seek is sent from where it is, as httpx does.
        pass


def _form_filename(name: str) -> str:
    """Return a file name safe inside the part's quoted header, as httpx writes it (HTML5)."""
    return _FILENAME_ESCAPES.sub(lambda match: f"%{ord(match.group()):02X}", name)


# A quote, and every control character but ESC, would end or break the header's line.
_FILENAME_ESCAPES = re.compile(r'["\x00-\x1a\x1c-\x1f]')
