"""Intel HEX to binary, with the ``intelhex`` library (a well-kept parser; no need for our own).

Devices take the binary, so a ``.hex`` file is flattened from its lowest
address, gaps filled with 0xFF (erased flash). Its base and start addresses are
kept, because the binary alone no longer says where it was linked.
"""

from __future__ import annotations

import io
import re

import attrs
from intelhex import IntelHex, IntelHexError

from aiodfu.core.errors import ImageError

GAP_FILL = 0xFF
MAX_SPAN = 64 * 1024 * 1024  # a hex file with records far apart would otherwise expand to GiBs
_RECORD = re.compile(rb"\s*:[0-9A-Fa-f]{10,}\s*$")
_EOF_RECORD = ":00000001FF"


@attrs.frozen
class HexOrigin:
    """Where a converted hex file's binary came from."""

    base_address: int
    start_address: int | None


def looks_like_intel_hex(data: bytes) -> bool:
    """True when the first line is an Intel HEX record (a binary rarely is)."""
    first_line = data.lstrip()[:600].split(b"\n", 1)[0]
    return _RECORD.match(first_line) is not None


def hex_to_binary(data: bytes) -> tuple[bytes, HexOrigin]:
    """Convert Intel HEX text to its binary; raise :class:`ImageError` if it is malformed."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ImageError(
            f"Intel HEX file has a non-ASCII byte 0x{data[exc.start]:02x}", offset=exc.start
        ) from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[-1].upper() != _EOF_RECORD:
        raise ImageError(
            "Intel HEX file does not end with an end-of-file record (:00000001FF); "
            "it is truncated or not a hex file"
        )
    hex_file = IntelHex()
    try:
        hex_file.loadhex(io.StringIO(text))
    except IntelHexError as exc:
        raise ImageError(f"malformed Intel HEX file: {exc}") from exc
    base = hex_file.minaddr()
    if base is None:
        raise ImageError("Intel HEX file contains no data records")
    span = hex_file.maxaddr() - base + 1
    if span > MAX_SPAN:
        raise ImageError(
            f"Intel HEX data spans {span} bytes from 0x{base:x}, more than {MAX_SPAN}; "
            "it holds several regions far apart - split it per image"
        )
    hex_file.padding = GAP_FILL
    binary = bytes(hex_file.tobinstr())
    return binary, HexOrigin(base_address=base, start_address=_start_address(hex_file))


def _start_address(hex_file: IntelHex) -> int | None:
    start = hex_file.start_addr
    if not start:
        return None
    if "EIP" in start:
        return int(start["EIP"])
    return int(start["CS"]) * 16 + int(start["IP"])


def describe_rows(origin: HexOrigin) -> list[tuple[str, str]]:
    start = "none" if origin.start_address is None else f"0x{origin.start_address:08x}"
    return [("hex base address", f"0x{origin.base_address:08x}"), ("hex start address", start)]
