from __future__ import annotations

import contextlib
import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.formats.mcuboot import (
    HEADER_SIZE,
    McubootVersion,
    describe_rows,
    flag_names,
    parse_mcuboot,
)
from aiodfu.testing.images import build_mcuboot_image, random_firmware

BODY = random_firmware(3000, seed=1)
IMAGE = build_mcuboot_image(BODY)


def hashed_end(image: bytes) -> int:
    hdr_size, prot_size, img_size = struct.unpack_from("<HHI", image, 8)
    return int(hdr_size + img_size + prot_size)


def with_unprotected(image: bytes, tlvs: list[tuple[int, bytes]]) -> bytes:
    """Replace the unprotected TLV area of ``image`` (hash left as the caller chose)."""
    entries = b"".join(struct.pack("<HH", t, len(v)) + v for t, v in tlvs)
    prefix = image[: hashed_end(image)]
    return prefix + struct.pack("<HH", 0x6907, 4 + len(entries)) + entries


def correct_sha(image: bytes) -> bytes:
    return hashlib.sha256(image[: hashed_end(image)]).digest()


def test_round_trip_gives_back_every_field() -> None:
    image = build_mcuboot_image(
        BODY,
        version=(1, 2, 3, 4),
        header_size=0x400,
        load_address=0x12340,
        flags=0x30,
        protected_tlvs=[(0x50, b"\x07\x00\x00\x00")],
        extra_tlvs=[(0x01, b"k" * 32)],
    )
    parsed = parse_mcuboot(image)
    h = parsed.header
    assert (h.load_address, h.header_size, h.image_size, h.flags) == (0x12340, 0x400, 3000, 0x30)
    assert h.protected_tlv_size == 4 + 4 + 4
    assert h.version == McubootVersion(1, 2, 3, 4)
    assert str(h.version) == "1.2.3+4"
    assert [(t.type, t.protected) for t in parsed.tlvs] == [
        (0x50, True),
        (0x10, False),
        (0x01, False),
        (0x22, False),
    ]
    assert parsed.tlvs[0].value == b"\x07\x00\x00\x00"
    assert parsed.tlvs[2].value == b"k" * 32
    assert parsed.tlvs[3].value == bytes(64)
    assert parsed.sha256 == hashlib.sha256(image[: 0x400 + 3000 + 12]).digest()
    assert parsed.hash_ok
    start, end = parsed.body_range
    assert image[start:end] == BODY
    # Each TLV's offset points at its own head in the file.
    for tlv in parsed.tlvs:
        assert struct.unpack_from("<HH", image, tlv.offset) == (tlv.type, len(tlv.value))


def test_minimal_header_and_empty_body() -> None:
    parsed = parse_mcuboot(build_mcuboot_image(b"", header_size=HEADER_SIZE))
    assert parsed.header.header_size == 32
    assert parsed.header.image_size == 0


def test_flag_names_decode_known_bits_and_show_the_rest() -> None:
    assert flag_names(0) == []
    assert flag_names(0x30 | 0x1000) == ["NON_BOOTABLE", "RAM_LOAD", "0x1000"]


def test_describe_rows() -> None:
    rows = dict(describe_rows(parse_mcuboot(build_mcuboot_image(BODY, version=(2, 0, 1, 9)))))
    assert rows["version"] == "2.0.1+9"
    assert rows["header size"] == "0x200"
    assert rows["image size"] == "3000 bytes"
    assert rows["flags"] == "0x0 (none)"
    assert rows["TLV SHA256"] == "type 0x10, 32 bytes"
    assert rows["sha256 check"].startswith("ok ")


def test_bad_magic() -> None:
    with pytest.raises(ImageError, match="magic is 00 11 22 33, expected 3d b8 f3 96") as info:
        parse_mcuboot(b"\x00\x11\x22\x33" + IMAGE[4:])
    assert info.value.offset == 0


def test_v1_magic_is_unsupported() -> None:
    with pytest.raises(ImageError, match="unsupported v1 MCUboot image"):
        parse_mcuboot(struct.pack("<I", 0x96F3B83C) + IMAGE[4:])


@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "only 0 bytes"), (3, "only 3 bytes"), (4, "header needs bytes 0..32"), (31, "0..32")],
)
def test_shorter_than_a_header(size: int, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        parse_mcuboot(IMAGE[:size])


def test_truncated() -> None:
    with pytest.raises(ImageError, match="truncated") as info:
        parse_mcuboot(IMAGE[:-1])
    assert info.value.offset == len(IMAGE) - 1


def test_trailing_bytes() -> None:
    with pytest.raises(ImageError, match="2 trailing bytes") as info:
        parse_mcuboot(IMAGE + b"\xff\xff")
    assert info.value.offset == len(IMAGE)


def test_wrong_hash_raises_integrity_error() -> None:
    corrupt = bytearray(IMAGE)
    corrupt[0x200 + 10] ^= 0x01
    with pytest.raises(ImageIntegrityError, match="does not match"):
        parse_mcuboot(bytes(corrupt))
    assert parse_mcuboot(bytes(corrupt), verify=False).hash_ok is False


def test_missing_sha256_tlv() -> None:
    with pytest.raises(ImageError, match="no SHA-256 TLV"):
        parse_mcuboot(with_unprotected(IMAGE, [(0x22, bytes(64))]))


def test_sha256_only_in_protected_area_counts_as_missing() -> None:
    image = build_mcuboot_image(BODY, protected_tlvs=[(0x10, bytes(32))])
    image = with_unprotected(image, [(0x22, bytes(64))])
    with pytest.raises(ImageError, match="no SHA-256 TLV"):
        parse_mcuboot(image)


def test_duplicate_sha256_tlv() -> None:
    with pytest.raises(ImageError, match="more than one SHA-256"):
        parse_mcuboot(build_mcuboot_image(BODY, extra_tlvs=[(0x10, correct_sha(IMAGE))]))


def test_sha256_tlv_of_wrong_length() -> None:
    with pytest.raises(ImageError, match="SHA-256 TLV is 31 bytes"):
        parse_mcuboot(with_unprotected(IMAGE, [(0x10, correct_sha(IMAGE)[:31])]))


def test_header_size_smaller_than_fixed_fields() -> None:
    patched = bytearray(IMAGE)
    struct.pack_into("<H", patched, 8, 16)
    with pytest.raises(ImageError, match="header size 16 is smaller") as info:
        parse_mcuboot(bytes(patched))
    assert info.value.offset == 8


@pytest.mark.parametrize(
    ("image_size", "message"),
    [
        (len(BODY) - 8, "TLV area magic is 0x[0-9a-f]{4}, expected 0x6907"),
        (len(BODY) + 8, "TLV area magic is 0x[0-9a-f]{4}, expected 0x6907"),
        (0xFFFFFF, "truncated: the TLV info header needs"),
    ],
)
def test_image_size_inconsistent_with_file(image_size: int, message: str) -> None:
    patched = bytearray(IMAGE)
    struct.pack_into("<I", patched, 12, image_size)
    with pytest.raises(ImageError, match=message):
        parse_mcuboot(bytes(patched))


def test_protected_size_disagrees_with_area() -> None:
    image = bytearray(build_mcuboot_image(BODY, protected_tlvs=[(0x50, bytes(4))]))
    struct.pack_into("<H", image, 10, 8)  # header says 8, area says 12
    with pytest.raises(ImageError, match="differs from the header's protected TLV size"):
        parse_mcuboot(bytes(image))


def test_protected_area_wrong_magic() -> None:
    image = bytearray(build_mcuboot_image(BODY, protected_tlvs=[(0x50, bytes(4))]))
    struct.pack_into("<H", image, 0x200 + len(BODY), 0x6907)
    with pytest.raises(ImageError, match="protected TLV area magic is 0x6907, expected 0x6908"):
        parse_mcuboot(bytes(image))


def test_tlv_length_runs_past_area_end() -> None:
    image = with_unprotected(IMAGE, [(0x10, correct_sha(IMAGE)), (0x22, bytes(64))])
    patched = bytearray(image)
    struct.pack_into("<H", patched, len(image) - 64 - 2, 65)
    with pytest.raises(ImageError, match="TLV 0x22 of 65 bytes runs past the end"):
        parse_mcuboot(bytes(patched))


def test_area_ending_inside_a_tlv_head() -> None:
    image = with_unprotected(IMAGE, [(0x10, correct_sha(IMAGE))]) + b"\x22\x00"
    patched = bytearray(image)
    struct.pack_into("<H", patched, hashed_end(IMAGE) + 2, 4 + 36 + 2)
    with pytest.raises(ImageError, match="ends inside a TLV header"):
        parse_mcuboot(bytes(patched))


def test_area_size_smaller_than_its_header() -> None:
    patched = bytearray(IMAGE[: hashed_end(IMAGE)] + b"\x07\x69\x02\x00")
    with pytest.raises(ImageError, match="size 2 is smaller than its header"):
        parse_mcuboot(bytes(patched))


def test_builder_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="version minor"):
        build_mcuboot_image(b"", version=(1, 256, 0, 0))
    with pytest.raises(ValueError, match="header_size"):
        build_mcuboot_image(b"", header_size=16)
    with pytest.raises(ValueError, match="TLV area size"):
        build_mcuboot_image(b"", extra_tlvs=[(0x60, bytes(0xFFFF))])


SMALL = build_mcuboot_image(random_firmware(300, seed=2), header_size=0x40)


@given(st.integers(min_value=0, max_value=len(SMALL) - 1))
def test_every_truncation_is_rejected(size: int) -> None:
    with pytest.raises(ImageError):
        parse_mcuboot(SMALL[:size])


@given(st.integers(min_value=0, max_value=len(SMALL) - 1), st.integers(1, 255))
def test_byte_flip_parses_or_raises_image_error(position: int, mask: int) -> None:
    flipped = bytearray(SMALL)
    flipped[position] ^= mask
    if position < hashed_end(SMALL):
        # Anything covered by the hash must be caught (by structure or by the hash).
        with pytest.raises(ImageError):
            parse_mcuboot(bytes(flipped))
    else:
        with contextlib.suppress(ImageError):
            parse_mcuboot(bytes(flipped))


@given(st.binary(max_size=600))
def test_random_bytes_behind_the_magic(tail: bytes) -> None:
    with contextlib.suppress(ImageError):
        parse_mcuboot(b"\x3d\xb8\xf3\x96" + tail)


@given(st.binary(min_size=HEADER_SIZE, max_size=200))
def test_random_header_over_valid_tail(header: bytes) -> None:
    data = b"\x3d\xb8\xf3\x96" + header[4:HEADER_SIZE] + SMALL[HEADER_SIZE:]
    try:
        parsed = parse_mcuboot(data)
    except ImageError:
        return
    assert parsed.header.header_size >= HEADER_SIZE
