"""A real HTTP server on the loopback address, serving firmware like a presigned S3 URL.

:class:`FirmwareServer` is what the emulated ESP-AT module downloads from
(and what ``aiodfu emulate rainmaker`` serves ``--image`` with). It speaks
just enough HTTP/1.1 for one ``GET`` per connection, binds ``127.0.0.1`` only,
and checks the URL's fake ``X-Amz-Signature`` the way S3 checks a presigned
URL: a request whose query string was mangled or dropped gets ``403``.

Options and faults (attributes of :attr:`FirmwareServer.faults`, mutable while serving):

``honour_range``
    ``Range: bytes=N-`` answers ``206`` with the rest of the file (``416`` past
    its end); ``False`` ignores the header and sends ``200`` with everything,
    as some servers do.
``status``
    Answer every request with this status and no body (``404``, ``500`` ...).
``expired``
    Every URL has expired: ``403`` (what S3 answers after ``X-Amz-Expires``);
    :meth:`FirmwareServer.revoke` expires one.
``reset_after`` / ``resets``
    Abort the connection (TCP RST) after that many body bytes, for the next
    ``resets`` responses.
``slow_body``
    Seconds to pause after each ``piece`` bytes of body (a slow network).

Inspection: :attr:`FirmwareServer.requests` lists every :class:`HttpRequest`.

The module side of HTTP (:func:`http_get`) is here too, so both ends of the
loopback exchange can be read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import urllib.parse
from collections.abc import AsyncIterator

import attrs

from aiodfu.core.resource import AsyncResource

LOOPBACK = "127.0.0.1"


@attrs.frozen
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]


@attrs.define
class HttpFaults:
    honour_range: bool = True
    status: int | None = None
    expired: bool = False
    reset_after: int | None = None
    resets: int = 1
    slow_body: float = 0.0
    piece: int = 4096


class FirmwareServer(AsyncResource):
    """Serves files added with :meth:`add` at presigned-looking URLs; see the module docstring."""

    def __init__(self, *, faults: HttpFaults | None = None) -> None:
        self.faults = faults or HttpFaults()
        self.requests: list[HttpRequest] = []
        self._files: dict[str, bytes] = {}
        self._server: asyncio.Server | None = None
        self._secret = secrets.token_hex(16)
        self._revoked: set[str] = set()
        self.port = 0

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, LOOPBACK, 0)
            self.port = self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> FirmwareServer:
        await self.start()
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    def add(self, name: str, data: bytes) -> str:
        """Serve ``data`` and return its presigned-looking URL (fake credentials, a comma)."""
        if self._server is None:
            raise RuntimeError("start the server first")
        path = f"/users/node/firmwareimages/{urllib.parse.quote(name)}"
        self._files[path] = data
        query = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=ASIAFAKEFAKEFAKE%2F20261121%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20261121T000000Z&X-Amz-Expires=86400"
            "&X-Amz-Security-Token=FAKE,TOKEN%2F%2F"
            + secrets.token_urlsafe(24)
            + "&X-Amz-SignedHeaders=host"
        )
        return (
            f"http://{LOOPBACK}:{self.port}{path}?{query}&X-Amz-Signature={self._sign(path, query)}"
        )

    def revoke(self, url: str) -> None:
        """Expire one URL (``403`` from now on), as ``X-Amz-Expires`` does."""
        self._revoked.add(url.rpartition("X-Amz-Signature=")[2])

    def _sign(self, path: str, query: str) -> str:
        return hashlib.sha256(f"{self._secret}{path}?{query}".encode()).hexdigest()

    def _authorised(self, target: str) -> tuple[str, bool]:
        path, _, query = target.partition("?")
        unsigned, _, signature = query.rpartition("&X-Amz-Signature=")
        return path, bool(signature) and secrets.compare_digest(
            signature, self._sign(path, unsigned)
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._respond(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _answer(self, method: str, target: str, wanted: str) -> tuple[int, bytes, str]:
        """Status, body and extra headers for one request, faults applied."""
        faults = self.faults
        path, authorised = self._authorised(target)
        if faults.status is not None:
            return faults.status, b"", ""
        expired = faults.expired or target.rpartition("X-Amz-Signature=")[2] in self._revoked
        if not authorised or expired or method != "GET":
            return 403, b"", ""
        data = self._files.get(path)
        if data is None:
            return 404, b"", ""
        if not (wanted.startswith("bytes=") and wanted.endswith("-") and faults.honour_range):
            return 200, data, ""
        first = wanted[6:-1]
        if not first.isdigit():
            return 400, b"", ""
        start = int(first)
        if start >= len(data):
            return 416, b"", ""
        return 206, data[start:], f"Content-Range: bytes {start}-{len(data) - 1}/{len(data)}\r\n"

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        self.requests.append(HttpRequest(method, target, headers))
        faults = self.faults
        status, body, extra = self._answer(method, target, headers.get("range", ""))
        await _send_head(writer, status, len(body), extra)
        limit = None
        if faults.reset_after is not None and faults.resets > 0:
            faults.resets -= 1
            limit = faults.reset_after
        for index in range(0, len(body), faults.piece):
            piece = body[index : index + faults.piece]
            if limit is not None and index + len(piece) >= limit:
                writer.write(piece[: max(limit - index, 0)])
                await writer.drain()
                writer.transport.abort()
                return
            writer.write(piece)
            await writer.drain()
            if faults.slow_body:
                await asyncio.sleep(faults.slow_body)


_REASONS = {
    200: "OK",
    206: "Partial Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
}


async def _send_head(
    writer: asyncio.StreamWriter, status: int, length: int, extra: str = ""
) -> None:
    reason = _REASONS.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\n"
        f"Content-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n".encode()
    )
    await writer.drain()


class HttpFailure(Exception):
    """The module's download failed: ``status`` is the HTTP status, or ``None`` (connection)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"HTTP {status}" if status else "connection failed")
        self.status = status


async def http_get(
    url: str,
    headers: list[str],
    *,
    timeout: float,
    accept_partial: bool = True,
) -> AsyncIterator[bytes]:
    """What the module's HTTP client does for ``AT+HTTPCGET``: yield the body as it arrives.

    Only ``http://127.0.0.1`` is reachable (the emulator never leaves the host);
    anything else fails like an unreachable server. Redirects are not followed.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or parts.port is None:
        raise HttpFailure(None)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(LOOPBACK, parts.port), timeout
        )
    except (OSError, TimeoutError):
        raise HttpFailure(None) from None
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close", *headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        length = 0
        for line in header_lines:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip())
        if not (status == 200 or (status == 206 and accept_partial)):
            raise HttpFailure(status)
        remaining = length
        while remaining:
            piece = await asyncio.wait_for(reader.read(min(remaining, 65536)), timeout)
            if not piece:
                raise HttpFailure(None)
            remaining -= len(piece)
            yield piece
    except (
        OSError,
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
        IndexError,
    ):
        raise HttpFailure(None) from None
    finally:
        writer.close()
