"""ESP-IDF app images written by esptool's own image writer (and signed by espsecure): accepted
with the checksum and SHA-256 esptool wrote, and refused when tampered with."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from esptool.bin_image import ELFSection
from esptool.targets import CHIP_DEFS
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodfu import load_image
from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.formats import describe, esp_app, identify
from aiodfu.formats.checks import CheckStatus
from aiodfu.formats.esp_app import EspAppImage, parse_esp_app
from aiodfu.testing import random_firmware

APP_DESC = struct.pack(
    "<II8x32s32s16s16s32s32s",
    0xABCD5432,
    3,
    b"1.4.2",
    b"thermostat",
    b"12:34:56",
    b"Jan  2 2026",
    b"v5.3.1",
    bytes(range(32)),
).ljust(256, b"\0")


def esptool_image(chip: str = "esp32c3", *, digest: bool = True, body: int = 2000) -> bytes:
    """An app image as ``esptool elf2image`` writes it: a DROM segment with the app
    description first, a RAM data segment, the checksum and (by default) the SHA-256."""
    target = CHIP_DEFS[chip]
    image = target.BOOTLOADER_IMAGE()
    image.entrypoint = 0x40380000
    image.segments = [
        ELFSection(
            b".flash.appdesc",
            target.DROM_MAP_START + 0x20,
            APP_DESC + random_firmware(body, seed=3),
            0,
        ),
        ELFSection(b".dram0.data", 0x3FC88000, random_firmware(301, seed=4), 0),
    ]
    image.append_digest = digest
    saved = image.save(None)
    assert saved is not None
    return saved


IMAGE = esptool_image()


@pytest.mark.parametrize(
    ("chip", "name"), [("esp32", "ESP32"), ("esp32c3", "ESP32-C3"), ("esp32s3", "ESP32-S3")]
)
def test_esptool_images_are_identified_and_checked(chip: str, name: str) -> None:
    data = esptool_image(chip)
    assert identify(data) is ImageKind.ESP_APP
    image = load_image(data)
    assert image.kind is ImageKind.ESP_APP
    parsed = image.details
    assert isinstance(parsed, EspAppImage)
    assert parsed.chip == name
    assert parsed.digest == data[-32:] == hashlib.sha256(data[:-32]).digest()
    assert [c.status for c in parsed.checks] == [CheckStatus.OK, CheckStatus.OK]
    assert parsed.image_size == len(data)
    assert [s.length for s in parsed.segments][-1] == 304  # esptool pads segments to 4 bytes
    assert parsed.app is not None
    assert (parsed.app.version, parsed.app.project_name, parsed.app.idf_version) == (
        "1.4.2",
        "thermostat",
        "v5.3.1",
    )
    assert parsed.app.elf_sha256 == bytes(range(32))
    rows = dict(describe(image))
    assert rows["app version"] == "1.4.2"
    assert rows["sha256 check"] == f"ok (stored {parsed.digest.hex()})"
    assert rows["checksum check"].startswith("ok (stored 0x")


def test_verify_is_the_pull_side_check() -> None:
    checked = esp_app.verify(IMAGE)
    assert checked.verification == (
        f"ESP-IDF app image: XOR checksum 0x{IMAGE[-33]:02x} and appended SHA-256 "
        f"{IMAGE[-32:].hex()} match"
    )
    with pytest.raises(ImageIntegrityError, match="appended SHA-256 does not match") as info:
        esp_app.verify(IMAGE[:-1] + bytes([IMAGE[-1] ^ 1]))
    assert info.value.offset == len(IMAGE) - 32


def test_image_without_appended_hash_has_only_its_checksum() -> None:
    data = esptool_image(digest=False)
    parsed = esp_app.verify(data)
    assert parsed.digest is None
    assert parsed.checks[1].status is CheckStatus.NOT_CHECKED
    assert "weak" in parsed.verification
    corrupt = bytearray(data)
    corrupt[100] ^= 0x10
    with pytest.raises(ImageIntegrityError, match="XOR checksum does not match") as info:
        esp_app.verify(bytes(corrupt))
    assert info.value.offset == len(data) - 1


def test_a_flipped_byte_anywhere_is_caught() -> None:
    for offset in (30, 600, len(IMAGE) - 40):
        corrupt = bytearray(IMAGE)
        corrupt[offset] ^= 0x01
        with pytest.raises(ImageError):
            load_image(bytes(corrupt))
    # verify=False reports instead of raising
    corrupt = bytearray(IMAGE)
    corrupt[600] ^= 0x01
    parsed = parse_esp_app(bytes(corrupt), verify=False)
    assert {c.name: c.status for c in parsed.checks} == {
        "checksum": CheckStatus.MISMATCH,
        "sha256": CheckStatus.MISMATCH,
    }


def test_padding_and_secure_boot_v2_signature(tmp_path: Path) -> None:
    padded = load_image(IMAGE + b"\xff" * 1000)
    assert isinstance(padded.details, EspAppImage)
    assert padded.details.extra == "1000 bytes of 0xff padding"
    unsigned, signed, key = tmp_path / "app.bin", tmp_path / "signed.bin", tmp_path / "key.pem"
    unsigned.write_bytes(IMAGE)
    espsecure = [sys.executable, "-m", "espsecure"]
    subprocess.run(
        [*espsecure, "generate-signing-key", "--version", "2", "--scheme", "ecdsa256", str(key)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *espsecure,
            "sign-data",
            "--version",
            "2",
            "--keyfile",
            str(key),
            "--output",
            str(signed),
            str(unsigned),
        ],
        check=True,
        capture_output=True,
    )
    image = load_image(signed)
    assert isinstance(image.details, EspAppImage)
    assert image.details.extra is not None and "Secure Boot v2" in image.details.extra
    assert image.details.digest == IMAGE[-32:]


def test_trailing_data_that_is_not_padding_or_a_signature() -> None:
    with pytest.raises(ImageError, match="neither 0xff padding nor a Secure Boot") as info:
        load_image(IMAGE + b"\x00" * 64)
    assert info.value.offset == len(IMAGE)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ((1, b"\x11"), "declares 17 segments"),
        ((23, b"\x02"), "hash_appended is 2"),
        ((28, struct.pack("<I", 0x7FFFFFF0)), "segment 0 declares 2147483632 bytes but only"),
        ((28, struct.pack("<I", 2257)), "not a multiple of 4"),
    ],
)
def test_lying_headers(patch: tuple[int, bytes], message: str) -> None:
    offset, value = patch
    data = IMAGE[:offset] + value + IMAGE[offset + len(value) :]
    with pytest.raises(ImageError, match=message):
        parse_esp_app(data)


def test_truncated() -> None:
    with pytest.raises(ImageError, match="truncated: the appended SHA-256"):
        parse_esp_app(IMAGE[:-5])
    with pytest.raises(ImageError, match="only 10 bytes"):
        parse_esp_app(IMAGE[:10])


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_random_bytes_behind_the_header(tail: bytes) -> None:
    with contextlib.suppress(ImageError):
        parse_esp_app(IMAGE[:24] + tail)


@given(st.integers(0, len(IMAGE) - 1), st.integers(1, 255), st.integers(0, len(IMAGE)))
def test_mutations_are_refused_or_reported(position: int, mask: int, cut: int) -> None:
    mutated = bytearray(IMAGE)
    mutated[position] ^= mask
    try:
        parse_esp_app(bytes(mutated[:cut]))
    except ImageError:
        return
    raise AssertionError("a changed or cut image passed its checks")
