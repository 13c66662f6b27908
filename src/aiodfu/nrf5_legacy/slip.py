"""SLIP framing (RFC 1055) as the nRF5 SDK's ``hci_slip.c`` reads and writes it, without I/O.

A frame is ``C0 <escaped bytes> C0``: ``C0`` inside becomes ``DB DC`` and
``DB`` becomes ``DB DD``. The same :class:`SlipDecoder` serves the host (acks
from the bootloader) and the emulated bootloader (packets from the host), so
it decodes the way the bootloader does: nothing counts before the first
``C0``; an empty frame (``C0 C0``) is no frame; ``DB`` followed by anything but
``DC``/``DD`` keeps that byte (``DB C0`` ends the frame); bytes beyond the
receive buffer are dropped, leaving a truncated frame that the packet CRC then
rejects.
"""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_UNESCAPES = {ESC_END: END, ESC_ESC: ESC}


def slip_encode(payload: bytes) -> bytes:
    """``payload`` escaped and framed by ``C0`` on both sides."""
    body = payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


class SlipDecoder:
    """Turns a byte stream into frames; ``max_frame`` bounds a frame (the bootloader's 600)."""

    def __init__(self, max_frame: int | None = None) -> None:
        self.max_frame = max_frame
        self._frame = bytearray()
        self._started = False
        self._escaped = False
        self.overflowed = 0
        """Bytes dropped because a frame outgrew ``max_frame``."""

    def feed(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes, in order."""
        frames: list[bytes] = []
        for byte in data:
            if not self._started:
                self._started = byte == END
                continue
            if self._escaped:
                self._escaped = False
                if byte == END:
                    self._end(frames)
                    continue
                self._store(_UNESCAPES.get(byte, byte))
            elif byte == END:
                self._end(frames)
            elif byte == ESC:
                self._escaped = True
            else:
                self._store(byte)
        return frames

    def reset(self) -> None:
        """Forget a partial frame and wait for the next ``C0`` (as after a reboot)."""
        self._frame.clear()
        self._started = self._escaped = False

    def _store(self, byte: int) -> None:
        if self.max_frame is not None and len(self._frame) >= self.max_frame:
            self.overflowed += 1
            return
        self._frame.append(byte)

    def _end(self, frames: list[bytes]) -> None:
        if self._frame:
            frames.append(bytes(self._frame))
            self._frame.clear()
