"""The serial transport: postcard messages in fixed 1024-byte frames.

No header, length or checksum: a frame is exactly :data:`FRAME_SIZE` bytes,
the message first and stale bytes after it (the device reuses one buffer),
so frames are read exactly and decoded from byte 0, and the tail is ignored.
Each frame is written in one call. The device speaks first.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiodfu.core.errors import UsageError
from aiodfu.drogue import postcard
from aiodfu.drogue.messages import Command, Status
from aiodfu.transports.base import ByteStream

FRAME_SIZE = 1024
SERIAL_MTU = 968
"""The largest Write block whose frame fits 1024 bytes with a version of up to 16 bytes."""


def frame(message: Status | Command) -> bytes:
    """``message`` in postcard, zero-filled to a whole frame."""
    body = postcard.encode(message)
    if len(body) > FRAME_SIZE:
        raise UsageError(f"a {len(body)}-byte message does not fit a {FRAME_SIZE}-byte frame")
    return body.ljust(FRAME_SIZE, b"\0")


class FrameReader:
    """Collects exactly one frame at a time from a byte stream."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def read_frame(self) -> bytes:
        while len(self._buffer) < FRAME_SIZE:
            self._buffer += await self.stream.read(FRAME_SIZE - len(self._buffer))
        data = bytes(self._buffer[:FRAME_SIZE])
        del self._buffer[:FRAME_SIZE]
        return data

    async def drain(self, quiet: float) -> int:
        """Drop buffered and arriving bytes until none came for ``quiet`` s; returns the count."""
        dropped = len(self._buffer)
        self._buffer.clear()
        while True:
            try:
                async with asyncio.timeout(quiet):
                    dropped += len(await self.stream.read(FRAME_SIZE))
            except TimeoutError:
                return dropped


class SerialUpdateLink:
    """:class:`~aiodfu.drogue.link.UpdateLink` over a byte stream (UART, pty, memory link)."""

    max_block = SERIAL_MTU

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._frames = FrameReader(stream)

    async def read_status(self) -> Status:
        return postcard.decode_status(await self._frames.read_frame())

    async def send(self, command: Command) -> None:
        await self.stream.write(frame(command))

    async def resync(self, quiet: float) -> None:
        await self._frames.drain(quiet)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.stream.aclose()
