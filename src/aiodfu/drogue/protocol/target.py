"""The update service's decision logic (drogue-ajour / embedded-update ``InMemory``), sans-IO.

Given the device's Status and the image to install, :meth:`Target.decide`
returns the one Command the service answers with: ``Sync`` when the device
already runs the target version, else ``Write`` from the device's own offset
(from 0 when it is writing another version), else ``Swap`` with the SHA-256.
"""

from __future__ import annotations

import attrs

from aiodfu.core.errors import UnsupportedError, UsageError
from aiodfu.core.integrity import sha256
from aiodfu.drogue.errors import OffsetBeyondImageError
from aiodfu.drogue.protocol.messages import Command, Status, Swap, Sync, Write

ALIGNMENT = 8
"""Blocks and the image are padded to this: embassy's largest flash ``WRITE_SIZE``."""
PAD = b"\xff"
"""Padding value: erased flash, so the padded tail reads as if never written."""
DEFAULT_MTU = 512
"""Block size when the device's Status carries no ``mtu`` (Drogue Ajour's default)."""
MAX_VERSION = 16
"""Devices hold versions in a 16-byte vector."""


def as_version(version: str | bytes) -> bytes:
    raw = version.encode() if isinstance(version, str) else bytes(version)
    if not 0 < len(raw) <= MAX_VERSION:
        raise UsageError(f"a version must be 1 to {MAX_VERSION} bytes, not {len(raw)}: {raw!r}")
    return raw


@attrs.frozen
class Target:
    """The image to install, padded to :data:`ALIGNMENT`, and its version and checksum."""

    version: bytes
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    checksum: bytes

    @classmethod
    def build(cls, image: bytes, version: str | bytes) -> Target:
        if not image:
            raise UsageError("the image is empty")
        padded = image + PAD * (-len(image) % ALIGNMENT)
        return cls(as_version(version), padded, sha256(padded))

    def __len__(self) -> int:
        return len(self.data)

    def block_size(self, status: Status, link_cap: int) -> int:
        """``min(device mtu, transport cap)`` rounded down to the alignment."""
        mtu = status.mtu if status.mtu is not None else DEFAULT_MTU
        block = min(mtu, link_cap) // ALIGNMENT * ALIGNMENT
        if block == 0:
            raise UnsupportedError(
                f"the device's mtu of {mtu} bytes is below the {ALIGNMENT}-byte write alignment",
                operation="status",
            )
        return block

    def resume_offset(self, status: Status) -> int:
        """Where the device continues: its offset when it is writing this version, else 0."""
        update = status.update
        if update is None or update.version != self.version:
            return 0
        if update.offset > len(self.data):
            raise OffsetBeyondImageError(
                f"the device holds {update.offset} bytes of version {self.version!r}, but the "
                f"image has {len(self.data)}: it is a different image under the same version; "
                "give this image a new version string",
                operation="status",
                offset=update.offset,
            )
        return update.offset

    def decide(self, status: Status, link_cap: int, *, restart: bool = False) -> Command:
        """The command the reference's update service answers ``status`` with.

        ``restart`` writes from offset 0 whatever the device holds (an image it refused).
        """
        correlation = status.correlation_id
        if status.version == self.version:
            return Sync(status.version, correlation)
        offset = 0 if restart else self.resume_offset(status)
        if offset < len(self.data):
            end = min(offset + self.block_size(status, link_cap), len(self.data))
            return Write(self.version, correlation, offset, self.data[offset:end])
        return Swap(self.version, correlation, self.checksum)
