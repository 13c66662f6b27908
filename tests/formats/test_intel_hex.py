"""Intel HEX made with intelhex: odd sizes, nRF UICR and MBR records, absurd spans."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from intelhex import IntelHex

from aiodfu import load_image
from aiodfu.core.errors import ImageError
from aiodfu.core.image import ImageKind
from aiodfu.formats import describe_json
from aiodfu.formats.intel_hex import MAX_SPAN, HexOrigin, Removed, hex_to_binary
from aiodfu.formats.nrf_hex import strip_for_image
from aiodfu.testing import random_firmware


def hex_of(*regions: tuple[int, bytes]) -> bytes:
    ih = IntelHex()
    for address, data in regions:
        ih.puts(address, data)
    out = io.StringIO()
    ih.write_hex_file(out)
    return out.getvalue().encode()


BOOTLOADER = random_firmware(1001, seed=50)
UICR = (0x10001014, (0x3C000).to_bytes(4, "little"))


def test_odd_sized_hex_is_kept_odd_by_load_image() -> None:
    """Padding to a word is the legacy nRF5 protocol's need, done when a package is built."""
    image = load_image(hex_of((0x8000, BOOTLOADER)))
    assert image.data == BOOTLOADER
    assert image.details == HexOrigin(0x8000, None)


def test_uicr_record_is_stripped_and_reported() -> None:
    image = load_image(hex_of((0x3C000, BOOTLOADER), UICR))
    assert image.data == BOOTLOADER
    assert isinstance(image.details, HexOrigin)
    (removed,) = image.details.removed
    assert (removed.start, removed.end) == (0x10001014, 0x10001018)
    assert "nRF UICR BOOTLOADERADDR" in removed.reason
    record = describe_json(image)
    assert record["details"]["hex"]["removed"][0]["start"] == 0x10001014  # type: ignore[index]


def test_uicr_alone_is_not_stripped_to_nothing() -> None:
    image = load_image(hex_of(UICR))
    assert image.data == UICR[1]


def test_mbr_is_stripped_only_from_a_softdevice() -> None:
    mbr = random_firmware(0x1000, seed=51)
    plain = load_image(hex_of((0, mbr), (0x1000, BOOTLOADER)))
    assert plain.data == mbr + BOOTLOADER  # an app linked at 0 keeps its start
    softdevice = bytearray(random_firmware(0x3000, seed=52))
    softdevice[0x2004:0x2008] = (0x51B1E5DB).to_bytes(4, "little")
    image = load_image(hex_of((0, mbr), (0x1000, bytes(softdevice))))
    assert image.data == bytes(softdevice)
    assert isinstance(image.details, HexOrigin)
    assert image.details.base_address == 0x1000
    assert image.details.removed == (Removed(0, 0x1000, image.details.removed[0].reason),)
    assert "MBR" in image.details.removed[0].reason


def test_far_apart_regions_are_refused_with_where_they_are() -> None:
    with pytest.raises(ImageError, match=r"spans .* regions far apart \(0x1000..0x1003, 0x8000000"):
        load_image(hex_of((0x1000, b"abcd"), (0x8000000, b"efgh")))


@settings(max_examples=200, deadline=None)
@example([(0x3C000, b"bootloader"), (0x10001014, b"\x00\xc0\x03\x00")])
@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFFFFF0), st.binary(min_size=1, max_size=16)),
        min_size=1,
        max_size=6,
    )
)
def test_any_layout_converts_or_is_refused_bounded(regions: list[tuple[int, bytes]]) -> None:
    text = hex_of(*regions)
    kept = [r for r in regions if not 0x10000000 <= r[0] < 0x10002000 - len(r[1])]
    if len(kept) == len(regions) or not kept:  # no nRF configuration record to strip
        kept = regions
    low = min(address for address, _ in kept)
    high = max(address + len(data) for address, data in kept)
    if high - low > MAX_SPAN + 0x2000:
        with pytest.raises(ImageError, match="spans"):
            hex_to_binary(text, strip=strip_for_image)
        return
    try:
        binary, origin = hex_to_binary(text, strip=strip_for_image)
    except ImageError:
        return
    assert len(binary) <= MAX_SPAN
    address, data = regions[-1]  # written last, so never overwritten
    end = address + len(data)
    if not any(r.start < end and address < r.end for r in origin.removed):
        offset = address - origin.base_address
        assert binary[offset : offset + len(data)] == data


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_random_text_after_a_record_colon(tail: bytes) -> None:
    try:
        image = load_image(b":10000000" + tail)
    except ImageError:
        return
    assert image.kind in ImageKind


def test_oversize_files_are_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = hex_of((0x8000, BOOTLOADER))
    monkeypatch.setattr("aiodfu.formats.intel_hex.MAX_HEX_FILE_SIZE", len(text) - 1)
    with pytest.raises(ImageError, match=f"Intel HEX file is {len(text)} bytes, more than"):
        load_image(text)
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(1000))
    monkeypatch.setattr("aiodfu.formats.MAX_FILE_SIZE", 999)
    with pytest.raises(ImageError, match="is 1000 bytes, more than 999; it is not a firmware"):
        load_image(path)
