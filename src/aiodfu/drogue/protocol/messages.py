"""The two messages of the ``embedded-update`` protocol: the device's Status, the host's Command.

Field order and variant indices are the wire contract (both serde_cbor forms
and postcard use declaration order), so each message class lists its fields
once in :data:`SCHEMA`; the codecs walk that table instead of repeating it.
"""

from __future__ import annotations

import enum

import attrs

U32_MAX = 0xFFFF_FFFF


class Kind(enum.Enum):
    """The field types that occur in the protocol."""

    BYTES = "bytes"
    U32 = "u32"
    OPTIONAL_U32 = "optional u32"
    OPTIONAL_UPDATE = "optional UpdateStatus"


@attrs.frozen
class UpdateStatus:
    """The update in progress on the device: its version and the next offset it expects."""

    version: bytes
    offset: int


@attrs.frozen
class Status:
    """What the device reports before each command (device -> host)."""

    version: bytes
    mtu: int | None = None
    correlation_id: int | None = None
    update: UpdateStatus | None = None


@attrs.frozen
class Wait:
    """Nothing to do: report again after ``poll`` seconds."""

    correlation_id: int | None = None
    poll: int | None = None


@attrs.frozen
class Sync:
    """The device runs the right version; it marks that firmware booted."""

    version: bytes
    correlation_id: int | None = None
    poll: int | None = None


@attrs.frozen
class Write:
    """Store ``data`` at ``offset`` of the new image (offset 0 starts a new update)."""

    version: bytes
    correlation_id: int | None
    offset: int
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")


@attrs.frozen
class Swap:
    """The image is complete: mark it for swap and reset."""

    version: bytes
    correlation_id: int | None = None
    checksum: bytes = b""


Command = Wait | Sync | Write | Swap
Message = Status | UpdateStatus | Command

SCHEMA: dict[type, tuple[tuple[str, Kind], ...]] = {
    UpdateStatus: (("version", Kind.BYTES), ("offset", Kind.U32)),
    Status: (
        ("version", Kind.BYTES),
        ("mtu", Kind.OPTIONAL_U32),
        ("correlation_id", Kind.OPTIONAL_U32),
        ("update", Kind.OPTIONAL_UPDATE),
    ),
    Wait: (("correlation_id", Kind.OPTIONAL_U32), ("poll", Kind.OPTIONAL_U32)),
    Sync: (
        ("version", Kind.BYTES),
        ("correlation_id", Kind.OPTIONAL_U32),
        ("poll", Kind.OPTIONAL_U32),
    ),
    Write: (
        ("version", Kind.BYTES),
        ("correlation_id", Kind.OPTIONAL_U32),
        ("offset", Kind.U32),
        ("data", Kind.BYTES),
    ),
    Swap: (
        ("version", Kind.BYTES),
        ("correlation_id", Kind.OPTIONAL_U32),
        ("checksum", Kind.BYTES),
    ),
}
"""Each message's fields in declaration order (= serde_cbor packed key = postcard order)."""

COMMANDS: tuple[type[Wait] | type[Sync] | type[Write] | type[Swap], ...] = (Wait, Sync, Write, Swap)
"""Command variants by variant index."""
