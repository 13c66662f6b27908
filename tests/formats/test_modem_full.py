from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.formats.modem_full import (
    ModemSegment,
    cbor_item_end,
    describe_rows,
    parse_full_modem,
)
from aiodfu.testing.images import build_full_modem_package, random_firmware

BOOTLOADER = random_firmware(700, seed=10)
FIRMWARE = [(0x1000, random_firmware(6000, seed=11)), (0x50000, random_firmware(9000, seed=12))]
BLOB = BOOTLOADER + b"".join(data for _, data in FIRMWARE)


def wrapper(
    *,
    tag: int = 18,
    protected: Any = None,
    unprotected: Any = None,
    manifest: Any = None,
    signature: Any = None,
    segments: Any = None,
    blob: bytes = BLOB,
    sign1: Any = None,
) -> bytes:
    """A wrapper built by hand, defaulting to a valid one for ``blob`` (its segments: 700, rest)."""
    if segments is None:
        segments = cbor2.dumps([0, 700, 0x1000, len(blob) - 700])
    if manifest is None:
        manifest = cbor2.dumps([3, 7, hashlib.sha256(blob).digest(), segments])
    if sign1 is None:
        sign1 = [
            cbor2.dumps({1: -37}) if protected is None else protected,
            {} if unprotected is None else unprotected,
            manifest,
            bytes(256) if signature is None else signature,
        ]
    return cbor2.dumps(cbor2.CBORTag(tag, sign1))


def package(**kwargs: Any) -> bytes:
    blob: bytes = kwargs.get("blob", BLOB)
    return wrapper(**kwargs) + blob


def test_round_trip() -> None:
    data = build_full_modem_package(
        BOOTLOADER, FIRMWARE, bootloader_address=0x20, version=5, compat=9
    )
    parsed = parse_full_modem(data)
    assert (parsed.version, parsed.compat, parsed.algorithm) == (5, 9, -37)
    assert parsed.blob_hash == hashlib.sha256(BLOB).digest()
    assert parsed.blob_hash_ok
    assert parsed.wrapper_length == len(data) - len(BLOB)
    w = parsed.wrapper_length
    assert parsed.segments == (
        ModemSegment(0x20, w, 700),
        ModemSegment(0x1000, w + 700, 6000),
        ModemSegment(0x50000, w + 6700, 9000),
    )
    assert parsed.bootloader == parsed.segments[0]
    assert parsed.firmware_segments == parsed.segments[1:]
    assert bytes(parsed.segment_data(parsed.bootloader)) == BOOTLOADER
    for segment, (_, expected) in zip(parsed.firmware_segments, FIRMWARE, strict=True):
        assert bytes(parsed.segment_data(segment)) == expected
        assert bytes(segment.data_in(data)) == expected


def test_wrapper_length_is_true_length_despite_blob_beyond_read_ahead_block() -> None:
    """cbor2 5.8.0's stream ``tell()`` said 4096 here; the walker must give the real length."""
    firmware = [(0x1000, random_firmware(20_000, seed=13))]
    data = build_full_modem_package(b"B" * 5000, firmware)
    wrapper_bytes = cbor2.dumps(cbor2.loads(data))  # cbor2.loads ignores the blob after the item
    parsed = parse_full_modem(data)
    assert parsed.wrapper_length == len(wrapper_bytes) < 4096
    assert data[: parsed.wrapper_length] == wrapper_bytes
    assert bytes(parsed.segment_data(parsed.bootloader)) == b"B" * 5000
    assert bytes(parsed.segment_data(parsed.firmware_segments[0])) == firmware[0][1]


def test_describe_rows() -> None:
    rows = describe_rows(parse_full_modem(build_full_modem_package(BOOTLOADER, FIRMWARE)))
    table = dict(rows)
    assert table["signature alg"].startswith("PS256 (-37)")
    assert table["segment 0 (bootloader)"].startswith("address 0x00000000, 700 bytes")
    assert table["segment 2 (firmware)"].startswith("address 0x00050000, 9000 bytes")
    assert table["blob sha256 check"].startswith("ok ")


# --- the CBOR header walker -------------------------------------------------------------------

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.binary(max_size=300)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=5), children, max_size=5)
        | st.builds(cbor2.CBORTag, st.integers(min_value=100, max_value=2**32), children)
    ),
    max_leaves=20,
)


@given(cbor_values, st.binary(max_size=20))
def test_walker_finds_the_end_of_any_definite_item(value: object, trailer: bytes) -> None:
    encoded = cbor2.dumps(value)
    assert cbor_item_end(encoded + trailer) == len(encoded)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x9f\x01\xff", "indefinite length"),
        (b"\x5f\x41a\xff", "indefinite length"),
        (b"\xff", "indefinite length"),
        (b"\x1c", "reserved CBOR head byte 0x1c"),
        (b"\x19\x01", "inside a CBOR item head"),
        (b"\x44ab", "4-byte string runs past"),
        (b"\x83\x01\x02", "3 more CBOR items are declared but only 2 bytes remain"),
        (b"\x9b" + b"\xff" * 8, "more CBOR items are declared"),
        (b"", "1 more CBOR items are declared but only 0"),
    ],
)
def test_walker_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        cbor_item_end(data)


# --- rejection paths --------------------------------------------------------------------------


def test_hand_built_package_is_valid() -> None:
    """The helper's default must parse, or the rejection tests below prove nothing."""
    parsed = parse_full_modem(package())
    assert (parsed.version, parsed.compat) == (3, 7)
    assert [s.length for s in parsed.segments] == [700, len(BLOB) - 700]


def test_not_a_tag() -> None:
    with pytest.raises(ImageError, match=r"expected CBOR tag 18 .* found major type 4") as info:
        parse_full_modem(cbor2.dumps([1, 2]) + BLOB)
    assert info.value.offset == 0


def test_wrong_tag() -> None:
    with pytest.raises(ImageError, match="found major type 6 with argument 17"):
        parse_full_modem(package(tag=17))


@pytest.mark.parametrize("size", [3, 5])
def test_wrong_cose_array_size(size: int) -> None:
    sign1 = [cbor2.dumps({1: -37}), {}, b"", bytes(256), b""][:size]
    with pytest.raises(ImageError, match=f"COSE_Sign1 array has {size} elements, expected 4"):
        parse_full_modem(package(sign1=sign1))


def test_cose_not_an_array() -> None:
    with pytest.raises(ImageError, match=r"COSE_Sign1 array is a .*, expected an array"):
        parse_full_modem(package(sign1={"a": 1}))


def test_indefinite_length_inside_wrapper() -> None:
    good = wrapper()
    # Replace the definite array(4) head after the tag with an indefinite one plus a break.
    indefinite = good[:1] + b"\x9f" + good[2:] + b"\xff"
    with pytest.raises(ImageError, match="indefinite length"):
        parse_full_modem(indefinite + BLOB)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protected": {1: -37}}, "protected header is a .*, expected a byte string"),
        ({"protected": cbor2.dumps([1])}, "protected header is a .*, expected a map"),
        ({"protected": cbor2.dumps({1: -37}) + b"\x00"}, "protected header has 1 bytes after"),
        ({"protected": b"\x9f\xff"}, "protected header uses an indefinite length"),
        ({"protected": cbor2.dumps({1: 1.5})}, "COSE alg is a float"),
        ({"unprotected": []}, "unprotected header is a .*, expected a map"),
        ({"signature": bytes(255)}, "signature is 255 bytes, expected 256"),
        ({"signature": "sig"}, "signature is a str"),
        ({"manifest": b"\xff"}, "manifest uses an indefinite length"),
        ({"manifest": b"\x1c"}, "manifest has a reserved CBOR head byte"),
        ({"manifest": cbor2.dumps([1, 2, 3])}, "manifest has 3 elements, expected 4"),
        ({"manifest": cbor2.dumps([-1, 1, bytes(32), b""])}, "manifest version is -1"),
        ({"manifest": cbor2.dumps([True, 1, bytes(32), b""])}, "manifest version is True"),
        ({"manifest": cbor2.dumps([1, "x", bytes(32), b""])}, "manifest compat is 'x'"),
        ({"manifest": cbor2.dumps([1, 1, bytes(31), b""])}, "blob_hash is 31 bytes"),
        ({"manifest": cbor2.dumps([1, 1, bytes(32), [0, 1]])}, "segments is a list"),
        ({"segments": cbor2.dumps([])}, "flat array .* got 0"),
        ({"segments": cbor2.dumps([0, 700, 0x1000])}, "flat array .* got 3"),
        ({"segments": cbor2.dumps({0: 1})}, "flat array .* got a "),
        ({"segments": cbor2.dumps([0, -1])}, "segment 0 length is -1"),
        ({"segments": cbor2.dumps([0, 700, "a", 1])}, "segment 1 address is 'a'"),
        ({"segments": cbor2.dumps([0, 700, 2**32, 10])}, "segment 1 address 0x100000000 is beyond"),
        ({"segments": cbor2.dumps([0, 0, 0, len(BLOB)])}, "segment 0 is empty"),
        ({"segments": b""}, "segments is truncated"),
    ],
)
def test_malformed_wrapper(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ImageError, match=message):
        parse_full_modem(package(**kwargs))


def test_invalid_cbor_content_behind_valid_headers() -> None:
    # A text-string key with invalid UTF-8: the walker accepts it, cbor2 does not.
    sign1 = wrapper()[1:]
    bad_unprotected = b"\xa1\x61\xff\x01"
    data = b"\xd2\x84" + cbor2.dumps(cbor2.dumps({1: -37})) + bad_unprotected
    data += cbor2.dumps(cbor2.loads(sign1)[2]) + cbor2.dumps(bytes(256))
    with pytest.raises(ImageError, match="full-modem wrapper is not valid CBOR"):
        parse_full_modem(data + BLOB)


def test_other_algorithm_is_reported_not_rejected(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aiodfu.formats.modem_full"):
        parsed = parse_full_modem(package(protected=cbor2.dumps({1: -7})))
    assert parsed.algorithm == -7
    assert "alg is -7" in caplog.text
    assert "(unusual)" in dict(describe_rows(parsed))["signature alg"]


def test_missing_algorithm() -> None:
    parsed = parse_full_modem(package(protected=cbor2.dumps({})))
    assert parsed.algorithm is None
    assert dict(describe_rows(parsed))["signature alg"].startswith("none given")


def test_blob_truncated() -> None:
    data = package()
    with pytest.raises(ImageError, match="is truncated") as info:
        parse_full_modem(data[:-1])
    assert info.value.offset == len(data) - 1


def test_trailing_bytes_after_blob() -> None:
    data = package()
    with pytest.raises(ImageError, match="has 3 bytes after the blob") as info:
        parse_full_modem(data + b"abc")
    assert info.value.offset == len(data)


def test_wrapper_truncated() -> None:
    with pytest.raises(ImageError, match="full-modem wrapper is truncated"):
        parse_full_modem(package()[:40])


def test_blob_hash_mismatch() -> None:
    data = bytearray(package())
    data[-5] ^= 0x80
    with pytest.raises(ImageIntegrityError, match="does not match the manifest") as info:
        parse_full_modem(bytes(data))
    assert info.value.offset == len(wrapper())
    assert parse_full_modem(bytes(data), verify=False).blob_hash_ok is False


# --- properties -------------------------------------------------------------------------------

SMALL = build_full_modem_package(b"boot" * 10, [(0x1000, b"fw" * 30)])
SMALL_WRAPPER = len(SMALL) - 100


@given(st.integers(min_value=0, max_value=len(SMALL) - 1))
def test_every_truncation_is_rejected(size: int) -> None:
    with pytest.raises(ImageError):
        parse_full_modem(SMALL[:size])


@given(st.integers(min_value=0, max_value=len(SMALL) - 1), st.integers(1, 255))
def test_byte_flip_parses_or_raises_image_error(position: int, mask: int) -> None:
    flipped = bytearray(SMALL)
    flipped[position] ^= mask
    if position >= SMALL_WRAPPER:
        with pytest.raises(ImageIntegrityError):
            parse_full_modem(bytes(flipped))
        return
    try:
        parsed = parse_full_modem(bytes(flipped))
    except ImageError:
        return
    assert parsed.wrapper_length + sum(s.length for s in parsed.segments) == len(flipped)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_behind_the_cose_start(tail: bytes) -> None:
    with contextlib.suppress(ImageError):
        parse_full_modem(b"\xd2\x84" + tail)


@given(cbor_values, st.binary(max_size=50))
def test_random_cbor_items_inside_a_tag_18(value: object, blob: bytes) -> None:
    with contextlib.suppress(ImageError):
        parse_full_modem(cbor2.dumps(cbor2.CBORTag(18, value)) + blob)


any_values = st.recursive(
    st.none() | st.integers() | st.binary(max_size=40) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.integers(-3, 3), children, max_size=3)
        | st.builds(cbor2.CBORTag, st.integers(min_value=0, max_value=300), children)
    ),
    max_leaves=10,
)


@given(st.integers(0, 7), any_values, st.booleans())
def test_any_value_in_any_field(field: int, value: object, encode: bool) -> None:
    """Each field of the wrapper and manifest replaced by any value (or its encoding)."""
    item = cbor2.dumps(value) if encode else value
    fields = ["protected", "unprotected", "manifest", "signature"]
    if field < 4:
        data = package(**{fields[field]: item})
    else:
        manifest = [3, 7, hashlib.sha256(BLOB).digest(), cbor2.dumps([0, 700, 1, len(BLOB) - 700])]
        manifest[field - 4] = item
        data = package(manifest=cbor2.dumps(manifest))
    with contextlib.suppress(ImageError):
        parse_full_modem(data)
