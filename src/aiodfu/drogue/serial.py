"""The serial transport: postcard messages in fixed 1024-byte frames.

No header, length or checksum: a frame is exactly :data:`FRAME_SIZE` bytes,
the message first and stale bytes after it, so frames are read exactly and
decoded from byte 0. Each frame is written in one call. The device speaks first.

The device's serial service (embedded-update ``service/serial.rs``) keeps one
1024-byte buffer: it encodes its Status over the head of the command frame it
read last and sends the whole buffer. So a Status frame *ends* with the last
:data:`TAG_SIZE` bytes of the command the device read before it -- the only
acknowledgement the protocol has. Each command frame ends in a fresh tag, and
:attr:`SerialUpdateLink.acknowledged` says whether the Status read last echoes
the tag of the command sent last (a Status the device re-sent on its own
timer does not). Tag bytes have the high bit set and zeros precede them, so a
device that decodes a frame from the middle sees a harmless ``Wait`` or an
invalid varint, never another command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiodfu.core.errors import DfuTimeoutError, UsageError
from aiodfu.core.timeouts import wait_within
from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol import postcard
from aiodfu.drogue.protocol.messages import Command, Status, Wait
from aiodfu.transports.base import ByteStream

log = logging.getLogger("aiodfu.drogue")

FRAME_SIZE = 1024
SERIAL_MTU = 968
"""The largest Write block whose frame fits 1024 bytes with a version of up to 16 bytes."""
TAG_SIZE = 8
"""The end of each command frame: a tag the device's next Status echoes (see the docstring)."""
_TAG_BITS = 0x84
"""Set in every tag byte: a continuation bit, and low bits that make any varint read from
inside the tag an unknown command variant."""


def new_tag() -> bytes:
    """A fresh tag for a command frame."""
    return bytes(b | _TAG_BITS for b in os.urandom(TAG_SIZE))


def frame(message: Status | Command, tag: bytes = bytes(TAG_SIZE)) -> bytes:
    """``message`` in postcard, zero-filled to a whole frame that ends in ``tag``."""
    body = postcard.encode(message)
    if len(body) > FRAME_SIZE - len(tag):
        raise UsageError(f"a {len(body)}-byte message does not fit a {FRAME_SIZE}-byte frame")
    return body.ljust(FRAME_SIZE - len(tag), b"\0") + tag


def echoes(status_frame: bytes, tag: bytes) -> bool:
    """Whether ``status_frame`` answers the command frame that ended in ``tag``."""
    return status_frame[FRAME_SIZE - TAG_SIZE :] == tag


class FrameReader:
    """Collects exactly one frame at a time from a byte stream."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._buffer = bytearray()
        self.skipped = 0
        """Bytes dropped as the tail of a frame whose start was missed."""

    async def read_frame(self, boundary_gap: float | None = None) -> bytes:
        """The next whole frame.

        With ``boundary_gap``, a line quiet that long in the middle of a frame marks
        a frame boundary: a device sends each frame in one burst and then waits for
        an answer, so the bytes before the gap were the tail of a frame whose start
        this reader never saw (a port opened, and flushed, while the device was
        sending). They are dropped and the frame starts after the gap.
        """
        loop = asyncio.get_running_loop()
        while len(self._buffer) < FRAME_SIZE:
            waiting_since = loop.time()
            data = await self.stream.read(FRAME_SIZE - len(self._buffer))
            if (
                boundary_gap is not None
                and self._buffer
                and loop.time() - waiting_since >= boundary_gap
            ):
                log.info("dropped %d bytes: the tail of a frame begun earlier", len(self._buffer))
                self.skipped += len(self._buffer)
                self._buffer.clear()
            self._buffer += data
        data = bytes(self._buffer[:FRAME_SIZE])
        del self._buffer[:FRAME_SIZE]
        return data

    def take_partial(self) -> bytes:
        """The bytes of a frame begun but not finished, removed from the reader."""
        partial = bytes(self._buffer)
        self._buffer.clear()
        return partial

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
    carries_checksum = True
    acknowledges_undecodable = True
    """The device's next Status echoes the tail of whatever frame it read, even one it could
    not decode (or decoded as another command): an acknowledgement, not a proof."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self._frames = FrameReader(stream)
        self._tag: bytes | None = None  # of the command sent last
        self.acknowledged = False
        """The Status read last shows the device read the command sent before it."""

    async def read_status(self, *, boundary_gap: float | None = None) -> Status:
        data = await self._frames.read_frame(boundary_gap)
        self.acknowledged = self._tag is not None and echoes(data, self._tag)
        status = postcard.decode_status(data)
        if not status.version:
            # Devices always report a version; zeros -- a stale tail -- decode to this.
            raise MalformedMessageError(
                "a Status without a version: a frame read out of step with the device"
            )
        return status

    async def send(self, command: Command) -> None:
        self._tag = new_tag()
        self.acknowledged = False
        await self.stream.write(frame(command, self._tag))

    async def resync(self, quiet: float) -> None:
        await self._frames.drain(quiet)

    @property
    def closed(self) -> bool:
        return self.stream.closed

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.stream.aclose()


# --- diagnosis ---------------------------------------------------------------------------------


async def probe_status(
    link: SerialUpdateLink, *, listen: float, nudged: float, boundary_gap: float
) -> Status:
    """The device's Status on a freshly opened port, nudged out of it if need be.

    A diagnosis aid for a quick "does it answer" check (:mod:`aiodfu.cli.probe`). The
    device speaks first and then waits -- up to its ``timeout_ms``, 15 s by default --
    for a command, so a Status sent before the port was opened is lost and the line
    stays silent. This listens ``listen`` s; if nothing came, it sends ``Wait``, which
    the device takes as the answer to that lost Status (it sleeps its backoff and
    reports again), and listens ``nudged`` s more. The Status read is answered with
    ``Wait`` too, keeping the lock-step: the device reports again after its backoff,
    and whoever reads the link next reads that report. Raises
    :class:`~aiodfu.core.errors.DfuTimeoutError` on silence.
    """
    try:
        status = await wait_within(link.read_status(boundary_gap=boundary_gap), listen, "status")
    except DfuTimeoutError:
        log.debug("no Status within %.1f s: nudging the device with Wait", listen)
        await link.send(Wait())
        status = await wait_within(link.read_status(boundary_gap=boundary_gap), nudged, "status")
    await link.send(Wait(status.correlation_id))
    return status


def looks_like_status_frames(data: bytes) -> bool:
    """Whether ``data`` read from a port holds a Status frame (rather than noise: what a
    link at the wrong baud rate delivers), wherever in ``data`` the frame starts.

    A Status counts when it decodes with a printable version of 3 to 16 bytes (``0.1.0``);
    random bytes decode as one that long by chance too rarely to matter.
    """
    for start in range(len(data)):
        try:
            status = postcard.decode_status(data[start : start + FRAME_SIZE])
        except (MalformedMessageError, ValueError):
            continue
        version = status.version
        if 3 <= len(version) <= 16 and all(32 <= byte < 127 for byte in version):
            return True
    return False
