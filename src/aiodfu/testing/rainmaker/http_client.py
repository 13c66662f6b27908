"""The emulated module's HTTP client: what ``AT+HTTPCGET`` does on the network side.

It speaks HTTP/1.1 to :class:`~aiodfu.testing.rainmaker.server.FirmwareServer`
on the loopback address only (the emulator never leaves the host), sends the
``AT+HTTPCHEAD`` headers, follows no redirect, and reads exactly
``Content-Length`` bytes.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncGenerator

from aiodfu.testing.rainmaker.server import LOOPBACK


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
) -> AsyncGenerator[bytes, None]:
    """What the module's HTTP client does for ``AT+HTTPCGET``: yield the body as it arrives.

    Any status up to 399 is a success (``204`` and ``3xx`` included: redirects
    are not followed, their body is the download). For a status of 400 or more
    the body (S3's XML error) is still yielded, and :class:`HttpFailure` with
    that status is raised after it -- the module prints it before ``ERROR``.
    ``accept_partial=False`` treats ``206`` the same way. Only
    ``http://127.0.0.1`` is reachable (the emulator never leaves the host);
    anything else fails like an unreachable server. A URL that does not parse
    (say a byte corrupted on the UART turned the port into ``43x51`` or put a
    ``[`` in the host) fails the same way: ESP-IDF's ``esp_http_client_init``
    refuses it ("Error parse url") and the module answers ``ERROR``; the
    ``ERR CODE`` extension the closed AT core gives that case is unverified,
    ``0x7000`` (connection failed) is used.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # a port that is not a number (or out of range) raises ValueError
    except ValueError:  # esp_http_client_init cannot parse the URL: the command fails
        raise HttpFailure(None) from None
    if parts.scheme != "http" or parts.hostname != LOOPBACK or port is None:
        raise HttpFailure(None)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), timeout)
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
        remaining = length
        while remaining:
            piece = await asyncio.wait_for(reader.read(min(remaining, 65536)), timeout)
            if not piece:
                raise HttpFailure(None)  # the server closed before Content-Length
            remaining -= len(piece)
            yield piece
        if status >= 400 or (status == 206 and not accept_partial):
            raise HttpFailure(status)
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
