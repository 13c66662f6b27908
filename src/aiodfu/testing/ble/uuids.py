"""UUIDs between Bumble's objects, bleak's text and advertising data's 16-bit form."""

from __future__ import annotations

import uuid as uuid_module

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def short_uuid(text: str) -> bytes | None:
    """The 16-bit form (little-endian) of a Bluetooth SIG UUID, else None."""
    value = str(uuid_module.UUID(text)).lower()
    if value.startswith("0000") and value.endswith(_SIG_BASE):
        return int(value[4:8], 16).to_bytes(2, "little")
    return None


def uuid_text(value: object) -> str:
    """Bumble's UUID as bleak's lower-case 128-bit text."""
    text = str(uuid_module.UUID(bytes=bytes(value.to_bytes(force_128=True))[::-1]))  # type: ignore[attr-defined]
    return text.lower()
