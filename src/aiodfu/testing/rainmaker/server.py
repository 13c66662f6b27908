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
    Answer every request with this status (``404``, ``500``, ``302``, ``204`` ...) and
    the body S3 would send with it: an XML ``<Error>`` document for ``>= 400``, a
    short HTML page for ``3xx``, nothing for ``204``.
``expired``
    Every URL has expired: ``403`` with S3's ``AccessDenied`` / ``Request has
    expired`` XML body; :meth:`FirmwareServer.revoke` expires one URL and
    ``expires_after`` makes every URL expire that many seconds after
    :meth:`FirmwareServer.add` issued it, ``expire_after_requests`` after it
    was requested that many times (the same, deterministically). S3 checks the
    expiry when a request starts: a body already streaming is not cut off.
``silent``
    Take the connection and the request, then answer nothing (a stalled server).
``reset_after`` / ``resets``
    Abort the connection (TCP RST) after that many body bytes, for the next
    ``resets`` responses.
``corrupt_at`` / ``corruptions``
    Invert the body byte at this offset *of the file* (wherever the response
    starts), for the next ``corruptions`` responses that carry it: corruption
    between the store and the module that only the image's own check can see.
``length_delta`` / ``length_errors``
    Announce ``Content-Length`` off by this many bytes for the next
    ``length_errors`` responses: more than the body (the server then closes,
    and the module's client fails the download as a lost connection) or fewer
    (the module reads only what was announced and ends with ``OK``).
``slow_body``
    Seconds to pause after each ``piece`` bytes of body (a slow network).

Inspection: :attr:`FirmwareServer.requests` lists every :class:`HttpRequest`.

The module's side of the exchange is :mod:`aiodfu.testing.rainmaker.http_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
import urllib.parse

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
    expires_after: float | None = None
    expire_after_requests: int | None = None
    silent: bool = False
    corrupt_at: int | None = None
    corruptions: int = 1
    length_delta: int = 0
    length_errors: int = 1
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
        self._issued: dict[str, float] = {}
        self._uses: dict[str, int] = {}
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
        signature = self._sign(path, query)
        self._issued[signature] = time.monotonic()
        return f"http://{LOOPBACK}:{self.port}{path}?{query}&X-Amz-Signature={signature}"

    def revoke(self, url: str) -> None:
        """Expire one URL (``403`` from now on), as ``X-Amz-Expires`` does."""
        self._revoked.add(url.rpartition("X-Amz-Signature=")[2])

    def _sign(self, path: str, query: str) -> str:
        return hashlib.sha256(f"{self._secret}{path}?{query}".encode()).hexdigest()

    def _authorised(self, target: str) -> tuple[str, bool]:
        """The path, and whether the query's signature is ours (anything else is forged)."""
        path, _, query = target.partition("?")
        unsigned, _, signature = query.rpartition("&X-Amz-Signature=")
        if not (signature.isascii() and signature):
            return path, False  # compare_digest refuses non-ASCII str: S3 answers 403
        return path, secrets.compare_digest(signature, self._sign(path, unsigned))

    def _expired(self, target: str) -> bool:
        signature = target.rpartition("X-Amz-Signature=")[2]
        if self.faults.expired or signature in self._revoked:
            return True
        uses = self._uses[signature] = self._uses.get(signature, 0) + 1
        limit = self.faults.expire_after_requests
        if limit is not None and uses > limit:
            return True
        lifetime = self.faults.expires_after
        issued = self._issued.get(signature)
        return lifetime is not None and issued is not None and time.monotonic() - issued > lifetime

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._respond(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _answer(self, method: str, target: str, wanted: str) -> tuple[int, bytes, int, str]:
        """Status, body, the body's offset in the file and extra headers, faults applied."""
        faults = self.faults
        path, authorised = self._authorised(target)
        if faults.status is not None:
            return faults.status, _error_body(faults.status), 0, ""
        if not authorised or method != "GET":
            return 403, _error_body(403, "SignatureDoesNotMatch"), 0, ""
        if self._expired(target):
            return 403, _error_body(403, "AccessDenied", "Request has expired"), 0, ""
        data = self._files.get(path)
        if data is None:
            return 404, _error_body(404), 0, ""
        if not (wanted.startswith("bytes=") and wanted.endswith("-") and faults.honour_range):
            return 200, data, 0, ""
        first = wanted[6:-1]
        if not (first.isascii() and first.isdigit()):
            return 400, _error_body(400), 0, ""
        start = int(first)
        if start >= len(data):
            return 416, _error_body(416), 0, ""
        extra = f"Content-Range: bytes {start}-{len(data) - 1}/{len(data)}\r\n"
        return 206, data[start:], start, extra

    def _corrupted(self, body: bytes, at_offset: int) -> bytes:
        """``body`` (which starts at ``at_offset`` of the file) with ``corrupt_at`` inverted."""
        faults = self.faults
        where = None if faults.corrupt_at is None else faults.corrupt_at - at_offset
        if where is None or not 0 <= where < len(body) or faults.corruptions <= 0:
            return body
        faults.corruptions -= 1
        damaged = bytearray(body)
        damaged[where] ^= 0xFF
        return bytes(damaged)

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
        if faults.silent:
            await reader.read()  # until the client gives up and closes
            return
        status, body, at_offset, extra = self._answer(method, target, headers.get("range", ""))
        if status < 300:
            body = self._corrupted(body, at_offset)
        announced = len(body)
        if faults.length_delta and faults.length_errors > 0:
            faults.length_errors -= 1
            announced = max(announced + faults.length_delta, 0)
        await _send_head(writer, status, announced, extra)
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
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_S3_CODES = {
    400: "InvalidArgument",
    403: "AccessDenied",
    404: "NoSuchKey",
    416: "InvalidRange",
    500: "InternalError",
    503: "SlowDown",
}


def _error_body(status: int, code: str | None = None, message: str | None = None) -> bytes:
    """What S3 sends with ``status``: XML for errors, a small page for redirects, else nothing."""
    if status >= 400:
        code = code or _S3_CODES.get(status, "InternalError")
        text = message or _REASONS.get(status, "Error")
        request_id = secrets.token_hex(8).upper()
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{text}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>aiodfu-emulated</HostId></Error>"
        ).encode()
    if 300 <= status < 400:
        return b"<html><body>Moved</body></html>"
    return b""


async def _send_head(
    writer: asyncio.StreamWriter, status: int, length: int, extra: str = ""
) -> None:
    reason = _REASONS.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\n"
        f"Content-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
