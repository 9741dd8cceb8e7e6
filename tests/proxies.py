"""Two small proxies on 127.0.0.1 for the tests: HTTP (forwarding and CONNECT) and SOCKS5.

Each relays the bytes both ways and keeps what the clients sent, so that a test can tell which
requests went through it. Either may ask for a user name and password.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import re
import struct
from types import TracebackType
from urllib.parse import urlsplit

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# A request's first line, wherever it starts (the previous request's body ends without a newline).
_REQUEST_LINE = re.compile(rb"(?:POST|GET) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


class Proxy:
    """The common part: listen, relay, record."""

    scheme = ""

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        self.username = username
        self.password = password
        # Every byte clients sent on to the servers, and the servers they reached.
        self.sent = bytearray()
        self.targets: list[tuple[str, int]] = []
        self.refused = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The proxy's address, credentials included when it asks for them."""
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def requests(self, method: str) -> int:
        """How many calls of a Bot API `method` went through ("file": file downloads)."""
        paths = _REQUEST_LINE.findall(bytes(self.sent))
        if method == "file":
            return sum(path.startswith(b"/file/bot") for path in paths)
        return sum(path.endswith(f"/{method}".encode()) for path in paths)

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Stopped with the proxy: asyncio's stream callback would report a cancelled task.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The proxy reaches nothing but this machine: the tests' servers are all on 127.0.0.1.
        assert host in ("127.0.0.1", "localhost"), host
        self.targets.append((host, port))
        return await asyncio.open_connection("127.0.0.1", port)

    async def _pipe(
        self,
        client: Streams,
        server: Streams,
    ) -> None:
        """Relay both ways until either side closes, keeping what the client sent."""

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool) -> None:
            while chunk := await src.read(65536):
                if keep:
                    self.sent += chunk
                dst.write(chunk)
                await dst.drain()
            with contextlib.suppress(OSError):
                dst.write_eof()

        try:
            await asyncio.gather(
                copy(client[0], server[1], True), copy(server[0], client[1], False)
            )
        finally:
            server[1].close()


class HttpProxy(Proxy):
    """An HTTP proxy: CONNECT tunnels, and requests in absolute form forwarded."""

    scheme = "http"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if not self._authorized(head):
            self.refused += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="tests"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            server = await self._open(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._pipe((reader, writer), server)
            return
        url = urlsplit(target)
        assert url.hostname is not None
        server = await self._open(url.hostname, url.port or 80)
        relay = asyncio.create_task(self._relay_answers(server[0], writer))
        try:
            while head:
                self._forward(head, server[1])
                length = _content_length(head)
                if length:
                    body = await reader.readexactly(length)
                    self.sent += body
                    server[1].write(body)
                await server[1].drain()
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    head = b""
                if head and not self._authorized(head):
                    break
        finally:
            server[1].close()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await relay

    def _forward(self, head: bytes, upstream: asyncio.StreamWriter) -> None:
        """Send one request's head on in origin form, without the proxy's own headers."""
        first, rest = head.split(b"\r\n", 1)
        method, target, version = first.split(b" ")
        url = urlsplit(target.decode("latin-1"))
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [
            line
            for line in rest.split(b"\r\n")
            if not line.lower().startswith((b"proxy-authorization:", b"proxy-connection:"))
        ]
        out = b" ".join((method, path.encode("latin-1"), version)) + b"\r\n" + b"\r\n".join(lines)
        self.sent += out
        upstream.write(out)

    async def _relay_answers(
        self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        while chunk := await upstream.read(65536):
            client.write(chunk)
            await client.drain()
        client.close()

    def _authorized(self, head: bytes) -> bool:
        if self.username is None:
            return True
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        for line in head.decode("latin-1").split("\r\n"):
            name, _sep, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                return value.strip() == f"Basic {expected}"
        return False


class Socks5Proxy(Proxy):
    """A SOCKS5 proxy (RFC 1928): CONNECT only, with or without a user name and password."""

    scheme = "socks5"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        assert version == 5
        methods = await reader.readexactly(count)
        wanted = 0x02 if self.username is not None else 0x00
        if wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes((5, wanted)))
        if wanted == 0x02:
            # RFC 1929: version 1, the user name, the password.
            _v, size = await reader.readexactly(2)
            user = (await reader.readexactly(size)).decode()
            (size,) = await reader.readexactly(1)
            password = (await reader.readexactly(size)).decode()
            ok = (user, password) == (self.username, self.password)
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                self.refused += 1
                await writer.drain()
                return
        _v, command, _reserved, kind = await reader.readexactly(4)
        assert command == 1, "CONNECT only"
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            (size,) = await reader.readexactly(1)
            host = (await reader.readexactly(size)).decode()
        else:
            raise ValueError("IPv6 is not used by the tests")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        server = await self._open(host, port)
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
        await writer.drain()
        await self._pipe((reader, writer), server)


def _content_length(head: bytes) -> int:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _sep, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
        if name.strip().lower() == "transfer-encoding":
            raise ValueError("the tests' proxy forwards bodies with a Content-Length only")
    return 0
