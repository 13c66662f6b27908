"""The MCUboot image trailer that ``imgtool sign --pad/--test/--confirm`` appends.

A padded image fills the whole slot: erased bytes (0xFF, or 0x00 with
``-R 0``) up to a trailer whose last bytes are the boot magic, and, for
``--confirm``, an ``image_ok`` flag of 0x01 just before the magic's aligned
area. The trailer is what a flash programmer writes to make MCUboot swap on
the next boot; a DFU protocol does not send it (the device writes its own
trailer when told to test or confirm), so :func:`aiodfu.load_image` strips it
unless asked to keep it.

Layout (``max_align`` m, 8 unless imgtool's ``--max-align`` says otherwise,
and ``magic_align`` = 16 rounded up to m), counted back from the slot's end::

    ... erased ... | swap_info (m) | copy_done (m) | image_ok (m) | magic (magic_align)
"""

from __future__ import annotations

import attrs

from aiodfu.core.errors import ImageError

BOOT_MAGIC = bytes.fromhex("77c295f360d2ef7f3552500f2cb67980")
"""The trailer magic for ``max_align`` 8 (MCUboot's default)."""
BOOT_MAGIC_ALT_TAIL = bytes.fromhex("2de15d29410b8d77679c110f1f8a")
"""The last 14 bytes of the magic for other ``max_align`` values (the first two are max_align)."""
MAGIC_SIZE = 16
IMAGE_OK_SET = 0x01
ERASED_VALUES = (0xFF, 0x00)


@attrs.frozen
class McubootTrailer:
    """What a padded image's trailer says, and where the padding starts.

    ``state`` is ``"confirmed"`` (image_ok set: a permanent swap) or ``"test"``
    (magic only: MCUboot swaps it in for one trial boot; imgtool's ``--pad``
    and ``--test`` both write this).
    """

    padding_start: int
    slot_size: int
    max_align: int
    erased_value: int
    image_ok: int

    @property
    def state(self) -> str:
        return "confirmed" if self.image_ok == IMAGE_OK_SET else "test"

    @property
    def padding_size(self) -> int:
        return self.slot_size - self.padding_start


def parse_trailer(data: bytes, signed_end: int) -> McubootTrailer:
    """The trailer of a padded image whose TLV area ends at ``signed_end``.

    Raises :class:`ImageError` when the bytes after the TLV area are not
    erased padding ending in a trailer.
    """
    extra = len(data) - signed_end
    max_align = _max_align(data)
    if max_align is None:
        raise ImageError(
            f"MCUboot image has {extra} trailing bytes after its TLV area (which ends at "
            f"{signed_end}) and they do not end with an MCUboot trailer magic: it is not a "
            "padded image; re-export the signed image without padding (imgtool sign without "
            "--pad) or cut the file at that offset",
            offset=signed_end,
        )
    magic_area = -(-MAGIC_SIZE // max_align) * max_align
    image_ok_at = len(data) - magic_area - max_align
    if image_ok_at < signed_end:
        raise ImageError(
            f"MCUboot trailer (magic for max_align {max_align}) overlaps the TLV area: only "
            f"{extra} bytes follow it; the file is truncated or was padded by another tool",
            offset=signed_end,
        )
    erased = data[signed_end] if image_ok_at > signed_end else data[image_ok_at + 1]
    if erased not in ERASED_VALUES:
        raise ImageError(
            f"MCUboot padding byte is 0x{erased:02x}, expected erased flash (0xff or 0x00)",
            offset=signed_end,
        )
    image_ok = data[image_ok_at]
    if image_ok not in (erased, IMAGE_OK_SET):
        raise ImageError(
            f"MCUboot trailer image_ok is 0x{image_ok:02x}: neither set (0x01) nor erased "
            f"(0x{erased:02x})",
            offset=image_ok_at,
        )
    _check_erased(data, signed_end, image_ok_at, erased)
    _check_erased(data, image_ok_at + 1, len(data) - MAGIC_SIZE, erased)
    return McubootTrailer(signed_end, len(data), max_align, erased, image_ok)


def _max_align(data: bytes) -> int | None:
    if len(data) < MAGIC_SIZE:
        return None
    magic = data[-MAGIC_SIZE:]
    if magic == BOOT_MAGIC:
        return 8
    if magic[2:] == BOOT_MAGIC_ALT_TAIL:
        align = int.from_bytes(magic[:2], "little")
        if align in (8, 16, 32):
            return align
    return None


def _check_erased(data: bytes, start: int, end: int, erased: int) -> None:
    region = data[start:end]
    stripped = region.lstrip(bytes([erased]))
    if stripped:
        bad = end - len(stripped)
        raise ImageError(
            f"MCUboot padding holds 0x{data[bad]:02x} where erased flash (0x{erased:02x}) is "
            "expected: the bytes after the TLV area are not imgtool padding",
            offset=bad,
        )


def describe_rows(trailer: McubootTrailer, *, kept: bool) -> list[tuple[str, str]]:
    what = "kept (sent as is)" if kept else "stripped before sending"
    return [
        (
            "trailer",
            f"{trailer.state} (image_ok 0x{trailer.image_ok:02x}), max_align {trailer.max_align}",
        ),
        (
            "padding",
            f"{trailer.padding_size} bytes from offset {trailer.padding_start} to the "
            f"{trailer.slot_size}-byte slot (erased 0x{trailer.erased_value:02x}), {what}",
        ),
    ]


def to_json(trailer: McubootTrailer, *, kept: bool) -> dict[str, object]:
    return {
        "state": trailer.state,
        "image_ok": trailer.image_ok,
        "max_align": trailer.max_align,
        "slot_size": trailer.slot_size,
        "padding_start": trailer.padding_start,
        "erased_value": trailer.erased_value,
        "kept": kept,
    }
