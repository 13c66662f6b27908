"""Modem delta patches (Serial Modem DFU type 1).

Only the magic can be checked on the host: whether a patch fits the running
modem firmware is decided by the modem (``NRF_MODEM_DELTA_DFU_INVALID_UUID``).
"""

from __future__ import annotations

import attrs

from aiodfu.core.errors import ImageError

MAGIC = 0x7544656D  # "meDu", little-endian at bytes 4..7, after two u16 padding fields
MAGIC_BYTES = MAGIC.to_bytes(4, "little")
MAGIC_OFFSET = 4


@attrs.frozen
class ModemDelta:
    size: int


def is_modem_delta(data: bytes) -> bool:
    return data[MAGIC_OFFSET : MAGIC_OFFSET + 4] == MAGIC_BYTES


def parse_modem_delta(data: bytes) -> ModemDelta:
    """Check the delta magic; raise :class:`ImageError` when it is missing."""
    if len(data) < MAGIC_OFFSET + 4:
        raise ImageError(
            f"not a modem delta patch: only {len(data)} bytes, the magic needs 8", offset=0
        )
    if not is_modem_delta(data):
        found = data[MAGIC_OFFSET : MAGIC_OFFSET + 4].hex(" ")
        raise ImageError(
            f"not a modem delta patch: bytes 4..7 are {found}, expected 6d 65 44 75 ('meDu')",
            offset=MAGIC_OFFSET,
        )
    return ModemDelta(size=len(data))


def describe_rows(delta: ModemDelta) -> list[tuple[str, str]]:
    return [
        ("patch size", f"{delta.size} bytes"),
        ("compatibility", "checked by the modem against its running firmware"),
    ]
