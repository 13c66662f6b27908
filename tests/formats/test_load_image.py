from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intelhex import IntelHex

from aiodfu.core.errors import ImageError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.formats import (
    FULL_MODEM_ZIP_MEMBER,
    describe,
    identify,
    load_image,
)
from aiodfu.formats.intel_hex import HexOrigin, hex_to_binary
from aiodfu.formats.mcuboot import McubootImage
from aiodfu.formats.modem_delta import ModemDelta
from aiodfu.formats.modem_full import FullModemPackage
from aiodfu.testing.images import (
    build_full_modem_package,
    build_mcuboot_image,
    build_modem_delta,
    random_firmware,
)

MCUBOOT = build_mcuboot_image(random_firmware(2000, seed=20), version=(1, 2, 3, 4))
DELTA = build_modem_delta(random_firmware(500, seed=21))
FULL = build_full_modem_package(random_firmware(300, seed=22), [(0x1000, random_firmware(900))])
RAW = b"\x00\x10\x00\x20" + random_firmware(1000, seed=23)  # a Cortex-M vector table start


def to_hex(data: bytes, offset: int, start: int | None = None) -> bytes:
    ih = IntelHex()
    ih.frombytes(data, offset=offset)
    if start is not None:
        ih.start_addr = {"EIP": start}
    out = io.StringIO()
    ih.write_hex_file(out)
    return out.getvalue().encode()


def to_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind", "details"),
    [
        (MCUBOOT, ImageKind.MCUBOOT, McubootImage),
        (DELTA, ImageKind.MODEM_DELTA, ModemDelta),
        (FULL, ImageKind.MODEM_FULL, FullModemPackage),
        (RAW, ImageKind.RAW, type(None)),
    ],
)
def test_detects_each_kind(data: bytes, kind: ImageKind, details: type) -> None:
    assert identify(data) is kind
    image = load_image(data)
    assert image.kind is kind
    assert image.data == data
    assert isinstance(image.details, details)
    assert image.converted_from is None
    assert image.source is None


def test_loads_a_path_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "app_update.bin"
    path.write_bytes(MCUBOOT)
    image = load_image(path)
    assert image.kind is ImageKind.MCUBOOT
    assert image.source == str(path)
    assert load_image(str(path), name="app").source == "app"
    assert load_image(MCUBOOT, name="app").source == "app"


def test_empty_file_is_rejected() -> None:
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_forced_kind_that_does_not_fit() -> None:
    with pytest.raises(ImageError, match="not an MCUboot image: magic is 00 00 00 00, expected"):
        load_image(DELTA, kind=ImageKind.MCUBOOT)
    with pytest.raises(ImageError, match="not a modem delta patch"):
        load_image(MCUBOOT, kind=ImageKind.MODEM_DELTA)
    with pytest.raises(ImageError, match="not a full-modem image"):
        load_image(RAW, kind=ImageKind.MODEM_FULL)


def test_forced_raw_keeps_the_bytes_uninterpreted() -> None:
    image = load_image(MCUBOOT, kind=ImageKind.RAW)
    assert image.kind is ImageKind.RAW
    assert image.details is None


def test_detected_kind_is_parsed_strictly() -> None:
    """A file with a known magic but a broken body is an error, not a raw image."""
    with pytest.raises(ImageError, match="trailing"):
        load_image(MCUBOOT + b"\x00")


def test_v1_mcuboot_is_identified_then_rejected() -> None:
    old = b"\x3c\xb8\xf3\x96" + MCUBOOT[4:]
    assert identify(old) is ImageKind.MCUBOOT
    with pytest.raises(ImageError, match="unsupported v1"):
        load_image(old)


# --- Intel HEX --------------------------------------------------------------------------------


def test_intel_hex_of_an_mcuboot_image() -> None:
    image = load_image(to_hex(MCUBOOT, offset=0x10000, start=0x10201))
    assert image.kind is ImageKind.MCUBOOT
    assert image.converted_from == "intel-hex"
    assert image.data == MCUBOOT
    assert isinstance(image.details, McubootImage)
    assert str(image.details.header.version) == "1.2.3+4"


def test_intel_hex_gaps_are_filled_and_addresses_kept() -> None:
    ih = IntelHex()
    ih.frombytes(b"\x01\x02", offset=0x8000)
    ih.frombytes(b"\x03", offset=0x8005)
    ih.start_addr = {"CS": 0x100, "IP": 0x10}
    out = io.StringIO()
    ih.write_hex_file(out)
    image = load_image(out.getvalue().encode())
    assert image.kind is ImageKind.RAW
    assert image.data == b"\x01\x02\xff\xff\xff\x03"
    assert image.details == HexOrigin(base_address=0x8000, start_address=0x1010)
    rows = dict(describe(image))
    assert rows["hex base address"] == "0x00008000"
    assert rows["converted from"] == "intel-hex"


def test_hex_to_binary_without_start_address() -> None:
    assert hex_to_binary(to_hex(b"abc", offset=0)) == (b"abc", HexOrigin(0, None))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":0300000061626399\n:00000001FF\n", "malformed Intel HEX"),  # bad checksum
        (":03000000616263\n:00000001FF\n", "malformed Intel HEX"),  # short record
        (":03000000616263D7\n", "end-of-file record"),  # truncated file
        (":00000001FF\n", "no data records"),
        (":020000040000FA\n:0100000001FE\n:02000004FFFFFC\n:0100000001FE\n:00000001FF\n", "spans"),
    ],
)
def test_malformed_hex(text: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(text.encode())


def test_non_ascii_hex() -> None:
    with pytest.raises(ImageError, match="non-ASCII byte 0xe9") as info:
        load_image(b":03000000616263D7\n:00000001FF\n\xe9")
    assert info.value.offset == 30


# --- zip --------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", [FULL_MODEM_ZIP_MEMBER, f"mfw_2.0.0/{FULL_MODEM_ZIP_MEMBER}"])
def test_full_modem_zip(member: str) -> None:
    image = load_image(to_zip({member: FULL, "manifest.json": b"{}"}))
    assert image.kind is ImageKind.MODEM_FULL
    assert image.data == FULL
    assert image.converted_from == "zip"


def test_zip_without_the_member() -> None:
    with pytest.raises(ImageError, match=r"0 members named firmware\.update\.image\.cbor"):
        load_image(to_zip({"app_update.bin": MCUBOOT}))


def test_zip_with_two_members() -> None:
    zipped = to_zip({FULL_MODEM_ZIP_MEMBER: FULL, f"a/{FULL_MODEM_ZIP_MEMBER}": FULL})
    with pytest.raises(ImageError, match="2 members"):
        load_image(zipped)


def test_corrupt_zip() -> None:
    with pytest.raises(ImageError, match="cannot read zip file"):
        load_image(b"PK\x03\x04" + bytes(100))


def test_zip_member_crc_mismatch() -> None:
    zipped = bytearray(to_zip({FULL_MODEM_ZIP_MEMBER: b"x" * 1000}))
    zipped[30 + len(FULL_MODEM_ZIP_MEMBER) + 5] ^= 0xFF  # 30-byte local header, name, data
    with pytest.raises(ImageError, match="cannot read zip file"):
        load_image(bytes(zipped))


def test_oversize_zip_member_is_refused() -> None:
    huge = bytes(64 * 1024 * 1024 + 1)
    with pytest.raises(ImageError, match="decompresses to 67108865 bytes, more than"):
        load_image(to_zip({FULL_MODEM_ZIP_MEMBER: huge}))


def test_zip_member_lying_about_its_size() -> None:
    """A member declaring 10 bytes but holding 5000 never yields more than it declared."""
    zipped = bytearray(to_zip({FULL_MODEM_ZIP_MEMBER: bytes(5000)}))
    local, central = 0, zipped.index(b"PK\x01\x02")
    zipped[local + 22 : local + 26] = (10).to_bytes(4, "little")
    zipped[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(ImageError, match="cannot read zip file"):
        load_image(bytes(zipped))


def test_zip_member_over_a_lowered_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aiodfu.formats.MAX_ZIP_MEMBER_SIZE", len(FULL) - 1)
    with pytest.raises(ImageError, match=f"decompresses to {len(FULL)} bytes"):
        load_image(to_zip({FULL_MODEM_ZIP_MEMBER: FULL}))


# --- describe ---------------------------------------------------------------------------------


def test_describe_common_rows() -> None:
    image = load_image(MCUBOOT, name="app.bin")
    rows = dict(describe(image))
    assert rows["kind"] == "mcuboot"
    assert rows["size"] == f"{len(MCUBOOT)} bytes"
    assert rows["sha256"] == image.sha256.hex()
    assert rows["source"] == "app.bin"
    assert rows["version"] == "1.2.3+4"


def test_describe_each_kind_has_format_rows() -> None:
    assert dict(describe(load_image(DELTA)))["patch size"] == f"{len(DELTA)} bytes"
    assert "segment 1 (firmware)" in dict(describe(load_image(FULL)))
    assert [label for label, _ in describe(load_image(RAW))] == ["kind", "size", "sha256"]


def test_describe_reports_a_bad_hash_instead_of_raising() -> None:
    corrupt = bytearray(MCUBOOT)
    corrupt[0x300] ^= 1
    rows = dict(describe(FirmwareImage(data=bytes(corrupt), kind=ImageKind.MCUBOOT)))
    assert rows["sha256 check"].startswith("MISMATCH")


def test_describe_reports_an_unparsable_image() -> None:
    rows = dict(describe(FirmwareImage(data=b"junk", kind=ImageKind.MODEM_DELTA)))
    assert "not a modem delta patch" in rows["error"]


# --- properties -------------------------------------------------------------------------------

kinds = st.sampled_from([None, *ImageKind])


def load_or_image_error(data: bytes, kind: ImageKind | None) -> None:
    try:
        image = load_image(data, kind=kind)
    except ImageError:
        return
    assert image.kind is (kind or identify(image.data))
    describe(image)


@settings(max_examples=300)
@given(st.binary(max_size=300), kinds)
def test_random_bytes(data: bytes, kind: ImageKind | None) -> None:
    load_or_image_error(data, kind)


@given(
    st.sampled_from([b"PK\x03\x04", b":", b":00000001FF\n", b"\xd2\x84", b"\x3d\xb8\xf3\x96"]),
    st.binary(max_size=200),
    kinds,
)
def test_random_bytes_behind_each_magic(prefix: bytes, tail: bytes, kind: ImageKind | None) -> None:
    load_or_image_error(prefix + tail, kind)


ZIPPED = to_zip({FULL_MODEM_ZIP_MEMBER: FULL})
HEXED = to_hex(MCUBOOT[:400], offset=0x1000)


@given(st.sampled_from([ZIPPED, HEXED]), st.data())
def test_mutated_containers(container: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(container) - 1))
    mutated = bytearray(container)
    mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(position + 1, len(container)))
    load_or_image_error(bytes(mutated[:cut]), None)
