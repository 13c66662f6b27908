"""Intel HEX to binary, with the ``intelhex`` library (a well-kept parser; no need for our own).

Devices take the binary, so a ``.hex`` file is flattened from its lowest
address, gaps filled with 0xFF (erased flash). Its base and start addresses are
kept, because the binary alone no longer says where it was linked, and so is
the list of what was removed on the way: nRF configuration records (UICR, as
nrfutil strips them) and a SoftDevice's MBR (see :mod:`aiodfu.formats.nrf_hex`).

Bounded: the text is refused past :data:`MAX_HEX_FILE_SIZE` before parsing
(``intelhex`` keeps one dict entry per data byte), and the flattened span past
:data:`MAX_SPAN`, so two records far apart cannot expand into gigabytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import attrs
from intelhex import IntelHex, IntelHexError

from aiodfu.core.errors import ImageError

GAP_FILL = 0xFF
MAX_SPAN = 64 * 1024 * 1024  # a hex file with records far apart would otherwise expand to GiBs
MAX_HEX_FILE_SIZE = 48 * 1024 * 1024
"""~17 MiB of data (2.8 text bytes per data byte); intelhex holds each data byte in a dict."""
_RECORD = re.compile(rb"\s*:[0-9A-Fa-f]{10,}\s*$")
_EOF_RECORD = ":00000001FF"


@attrs.frozen
class Removed:
    """Data a conversion left out: ``[start, end)`` and why."""

    start: int
    end: int
    reason: str

    def __str__(self) -> str:
        size = self.end - self.start
        return f"0x{self.start:08x}..0x{self.end - 1:08x} ({size} bytes): {self.reason}"


@attrs.frozen
class HexOrigin:
    """Where a converted hex file's binary came from, and what the conversion changed."""

    base_address: int
    start_address: int | None
    removed: tuple[Removed, ...] = ()
    padding: int = 0
    """0xFF bytes appended to reach the word size (nrfutil pads to 4)."""


def looks_like_intel_hex(data: bytes) -> bool:
    """True when the first line is an Intel HEX record (a binary rarely is)."""
    first_line = data.lstrip()[:600].split(b"\n", 1)[0]
    return _RECORD.match(first_line) is not None


def read_hex(data: bytes) -> IntelHex:
    """Parse Intel HEX text; raise :class:`ImageError` if it is malformed, empty or too big."""
    if len(data) > MAX_HEX_FILE_SIZE:
        raise ImageError(
            f"Intel HEX file is {len(data)} bytes, more than {MAX_HEX_FILE_SIZE}; no firmware "
            "image is that large"
        )
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
    if hex_file.minaddr() is None:
        raise ImageError("Intel HEX file contains no data records")
    return hex_file


def remove_range(hex_file: IntelHex, start: int, end: int, reason: str) -> list[Removed]:
    """Delete the data in ``[start, end)``; one :class:`Removed` per contiguous run deleted."""
    removed = []
    for seg_start, seg_end in hex_file.segments():
        low, high = max(seg_start, start), min(seg_end, end)
        if low < high:
            del hex_file[low:high]
            removed.append(Removed(low, high, reason))
    return removed


def flatten(
    hex_file: IntelHex,
    *,
    start: int | None = None,
    word_size: int = 1,
    removed: tuple[Removed, ...] = (),
) -> tuple[bytes, HexOrigin]:
    """The binary from ``start`` (default: the lowest address) to the last byte, gaps 0xFF.

    ``word_size`` pads the end with 0xFF to a multiple of it.
    """
    low = hex_file.minaddr()
    if low is None:
        raise ImageError(
            "Intel HEX file has no data left once "
            + (", ".join(r.reason for r in removed) or "converted")
            + " is removed"
        )
    base = low if start is None else start
    high = hex_file.maxaddr()
    span = high - base + 1
    if span > MAX_SPAN:
        regions = ", ".join(f"0x{s:x}..0x{e - 1:x}" for s, e in hex_file.segments(min_gap=4096)[:4])
        raise ImageError(
            f"Intel HEX data spans {span} bytes from 0x{base:x}, more than {MAX_SPAN}: it holds "
            f"regions far apart ({regions}); split it per image"
        )
    padding = -span % word_size
    # Fill the gaps ourselves: intelhex's tobinstr walks every address of the span in
    # Python, which takes minutes for a sparse file spanning tens of MiB.
    binary = bytearray([GAP_FILL]) * (span + padding)
    for seg_start, seg_end in hex_file.segments():
        if seg_end > base:
            low = max(seg_start, base)
            binary[low - base : seg_end - base] = hex_file.tobinstr(start=low, end=seg_end - 1)
    return bytes(binary), HexOrigin(base, _start_address(hex_file), removed, padding)


def hex_to_binary(
    data: bytes, *, strip: Callable[[IntelHex], list[Removed]] | None = None
) -> tuple[bytes, HexOrigin]:
    """Convert Intel HEX text to its binary; raise :class:`ImageError` if it is malformed.

    ``strip`` removes what must not be flattened (and says what it removed),
    such as :func:`aiodfu.formats.nrf_hex.strip_for_image`.
    """
    hex_file = read_hex(data)
    removed = strip(hex_file) if strip is not None else []
    return flatten(hex_file, removed=tuple(removed))


def _start_address(hex_file: IntelHex) -> int | None:
    start = hex_file.start_addr
    if not start:
        return None
    if "EIP" in start:
        return int(start["EIP"])
    return int(start["CS"]) * 16 + int(start["IP"])


def describe_rows(origin: HexOrigin) -> list[tuple[str, str]]:
    start = "none" if origin.start_address is None else f"0x{origin.start_address:08x}"
    rows = [("hex base address", f"0x{origin.base_address:08x}"), ("hex start address", start)]
    rows += [("hex removed", str(removed)) for removed in origin.removed]
    if origin.padding:
        rows.append(("hex padding", f"{origin.padding} bytes of 0xff to a word boundary"))
    return rows


def to_json(origin: HexOrigin) -> dict[str, object]:
    return {
        "base_address": origin.base_address,
        "start_address": origin.start_address,
        "removed": [{"start": r.start, "end": r.end, "reason": r.reason} for r in origin.removed],
        "padding": origin.padding,
    }
