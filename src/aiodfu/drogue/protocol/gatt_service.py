"""The BLE firmware service of drogue-device, as drgdfu drives it: UUIDs, value layouts, codes.

One characteristic per field of the Status (``version``, ``mtu``,
``next_version``, ``offset``) and two to act on the device: ``control``
(start, swap and reset, mark booted) and ``firmware`` (a block, written at
the device's current offset; the offset only advances when the write
succeeds -- there are no notifications). Shared by the host link and the
emulated device, so both read the layouts from one place.
"""

from __future__ import annotations

import enum

from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol.target import MAX_VERSION


def _uuid(short: int) -> str:
    return f"0000{short:04x}-b0cd-11ec-871f-d45ddf138840"


SERVICE_UUID = _uuid(0x1000)
VERSION_UUID = _uuid(0x1001)
"""read: the running version, raw bytes (at most 16)."""
MTU_UUID = _uuid(0x1002)
"""read: u8, the largest block the device takes in one firmware write."""
CONTROL_UUID = _uuid(0x1003)
"""write: u8, a :class:`Control` code."""
NEXT_VERSION_UUID = _uuid(0x1004)
"""read, write: the version being written (empty after a boot)."""
OFFSET_UUID = _uuid(0x1005)
"""read: u32 little-endian, the next offset the device writes at (0 after a boot)."""
FIRMWARE_UUID = _uuid(0x1006)
"""write: a block of at most :data:`MAX_BLOCK` bytes, written at the current offset."""

MAX_BLOCK = 64
"""The firmware characteristic is a 64-byte vector on the device."""


class Control(enum.IntEnum):
    """Values written to the control characteristic."""

    START = 1
    """offset := 0, erase the DFU partition for ``next_version``."""
    SWAP = 2
    """Mark the image for swap (SWAP magic) and reset at once: the link drops."""
    MARK_BOOTED = 3
    """Confirm the running image (BOOT magic)."""


def encode_offset(offset: int) -> bytes:
    return offset.to_bytes(4, "little")


def decode_offset(value: bytes) -> int:
    if len(value) != 4:
        raise MalformedMessageError(
            f"the offset characteristic holds {len(value)} bytes, not a 4-byte u32",
            operation="read offset",
        )
    return int.from_bytes(value, "little")


def decode_mtu(value: bytes) -> int:
    if len(value) != 1:
        raise MalformedMessageError(
            f"the mtu characteristic holds {len(value)} bytes, not a u8", operation="read mtu"
        )
    return value[0]


def decode_version(value: bytes, what: str) -> bytes:
    if len(value) > MAX_VERSION:
        raise MalformedMessageError(
            f"the {what} characteristic holds {len(value)} bytes; versions are at most "
            f"{MAX_VERSION}",
            operation=f"read {what}",
        )
    return bytes(value)
