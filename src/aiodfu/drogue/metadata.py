"""The JSON metadata drgdfu's ``generate`` writes for a firmware file, with a real checksum.

drgdfu's file source reads ``{"version", "size", "checksum"}`` next to the
image; drgdfu itself leaves ``checksum`` empty, this fills in the SHA-256
(hex) that Drogue Ajour sends in ``Swap``.
"""

from __future__ import annotations

import json

import attrs

from aiodfu.core.integrity import sha256
from aiodfu.drogue.protocol.target import as_version


@attrs.frozen
class FirmwareMetadata:
    version: str
    size: int
    checksum: str

    @classmethod
    def of(cls, image: bytes, version: str) -> FirmwareMetadata:
        as_version(version)  # the same limits the device applies
        return cls(version=version, size=len(image), checksum=sha256(image).hex())

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2)
