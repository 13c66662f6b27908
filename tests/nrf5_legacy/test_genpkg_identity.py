"""``aiodfu nrf5-legacy pkg`` against the real ``adafruit-nrfutil dfu genpkg`` (its click CLI, in
process): byte-identical .bin and .dat for the files users have -- odd-sized HEX, bootloader HEX
with the UICR record, SoftDevice HEX with the MBR, SD+BL -- for init packet versions 0.5 and 0.6;
0.7 (which genpkg crashes on under Python 3) against nrfutil's own init packet encoder."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from intelhex import IntelHex
from nordicsemi.__main__ import cli as nrfutil
from nordicsemi.dfu.init_packet import Packet, PacketField

from aiodfu import load_image
from aiodfu.cli.nrf5_legacy import command
from aiodfu.core.errors import ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.formats import describe
from aiodfu.nrf5_legacy import DfuVersion, InitPacket, Package, PackageError
from aiodfu.nrf5_legacy.protocol import ImageType
from aiodfu.testing import random_firmware

SD_INFO_MAGIC = (0x51B1E5DB).to_bytes(4, "little")


def write_hex(path: Path, *regions: tuple[int, bytes]) -> Path:
    ih = IntelHex()
    for address, data in regions:
        ih.puts(address, data)
    out = io.StringIO()
    ih.write_hex_file(out)
    path.write_text(out.getvalue())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The images an SDK 11 user has, small: sizes deliberately not multiples of 4."""
    d = tmp_path_factory.mktemp("genpkg")
    mbr = random_firmware(0x1000, seed=1)
    sd_s1x0 = bytearray(random_firmware(0x5000 - 0x1000 - 2, seed=2))
    sd_s1x0[0x2004:0x2008] = SD_INFO_MAGIC  # at 0x3004: nrfutil's "s1x0"
    sd_s132 = bytearray(random_firmware(0x6000 - 0x1000 - 1, seed=3))
    sd_s132[0x3004:0x3008] = SD_INFO_MAGIC  # at 0x4004: nrfutil's "s132", MBR up to 0x3000
    bootloader = random_firmware(0x3001, seed=4)
    uicr = [(0x10001014, (0x3C000).to_bytes(4, "little")), (0x10001018, b"\x00\xe0\x07\x00")]
    return {
        "app_hex": write_hex(d / "app.hex", (0x1C000, random_firmware(1001, seed=5))),
        "app_gap_hex": write_hex(
            d / "app_gap.hex",
            (0x1C000, random_firmware(100, seed=6)),
            (0x1C200, random_firmware(33, seed=7)),
        ),
        "app_bin": _write(d / "app.bin", random_firmware(1002, seed=8)),
        "bl_hex": write_hex(d / "bl.hex", (0x3C000, bootloader), *uicr),
        "sd_hex": write_hex(d / "sd.hex", (0, mbr), (0x1000, bytes(sd_s1x0))),
        "sd132_hex": write_hex(d / "sd132.hex", (0, mbr), (0x1000, bytes(sd_s132))),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def genpkg(out: Path, *args: str) -> dict[str, tuple[bytes, bytes, dict[str, object]]]:
    """Run genpkg; {manifest key: (.bin, .dat, manifest entry)}."""
    result = CliRunner().invoke(nrfutil, ["dfu", "genpkg", str(out), *args])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))["manifest"]
        return {
            key: (archive.read(entry["bin_file"]), archive.read(entry["dat_file"]), entry)
            for key, entry in manifest.items()
            if isinstance(entry, dict)
        }


def ours(out: Path, *args: str) -> Package:
    result = CliRunner().invoke(command, ["pkg", str(out), *args])
    assert result.exit_code == 0, result.output
    return Package.load(out)


CASES = {
    "odd application hex": (["--application", "app_hex"], ["application"]),
    "application hex with a gap": (["--application", "app_gap_hex"], ["application"]),
    "odd application bin": (["--application", "app_bin"], ["application"]),
    "bootloader hex with UICR": (["--bootloader", "bl_hex"], ["bootloader"]),
    "softdevice hex with MBR": (["--softdevice", "sd_hex"], ["softdevice"]),
    "s132 softdevice hex": (["--softdevice", "sd132_hex"], ["softdevice"]),
    "SD+BL with UICR and MBR": (
        ["--softdevice", "sd_hex", "--bootloader", "bl_hex"],
        ["softdevice_bootloader"],
    ),
    "SD+BL and application": (
        ["--softdevice", "sd132_hex", "--bootloader", "bl_hex", "--application", "app_hex"],
        ["softdevice_bootloader", "application"],
    ),
}
FIELDS = ["--dev-type", "0x52", "--dev-revision", "7", "--application-version", "0x1020304"]


@pytest.mark.parametrize("version", ["0.5", "0.6"])
@pytest.mark.parametrize("case", list(CASES))
def test_byte_identical_to_genpkg(
    files: dict[str, Path], tmp_path: Path, case: str, version: str
) -> None:
    options, keys = CASES[case]
    args = [str(files[a]) if a in files else a for a in options]
    args += [*FIELDS, "--sd-req", "0x88,0x8C", "--dfu-ver", version]
    theirs = genpkg(tmp_path / "theirs.zip", *args)
    package = ours(tmp_path / "ours.zip", *args)
    assert sorted(theirs) == sorted(keys)  # their manifest order; ours is the session order
    assert len(package.parts) == len(keys)
    for part, key in zip(package.parts, keys, strict=True):
        bin_, dat, entry = theirs[key]
        assert part.firmware == bin_, f"{case}: .bin differs"
        assert part.init_packet == dat, f"{case}: .dat differs"
        assert len(part.firmware) % 4 == 0
        if key == "softdevice_bootloader":
            assert (part.softdevice_size, part.bootloader_size) == (
                entry["sd_size"],
                entry["bl_size"],
            )
        part.check()
    # and their package loads through the door every update goes through, with its CRC checked
    image = load_image(tmp_path / "theirs.zip")
    assert image.kind is ImageKind.NRF5_LEGACY_PACKAGE
    assert isinstance(image.details, Package)
    assert [p.firmware for p in image.details.parts] == [p.firmware for p in package.parts]
    rows = dict(describe(image))
    assert all(rows[f"{k} init packet CRC-16 check"].endswith("matches)") for k in _types(package))


def _types(package: Package) -> list[str]:
    return [(p.image_type.name or "").lower() for p in package.parts]


def test_uicr_and_mbr_removal_is_reported(files: dict[str, Path]) -> None:
    package = Package.from_images(
        softdevice=files["sd_hex"].read_bytes(), bootloader=files["bl_hex"].read_bytes()
    )
    notes = "\n".join(package.parts[0].notes)
    assert "removed 0x10001014..0x1000101b (8 bytes): nRF UICR BOOTLOADERADDR" in notes
    assert "NRFFW[1] (MBR parameter page)" in notes
    assert "removed 0x00000000..0x00000fff (4096 bytes): nRF MBR" in notes
    assert "padded with 0xff to a multiple of 4 bytes (2 added)" in notes
    # the CLI prints them
    result = CliRunner().invoke(
        command,
        [
            "pkg",
            "/dev/null",
            "--softdevice",
            str(files["sd_hex"]),
            "--bootloader",
            str(files["bl_hex"]),
        ],
    )
    assert "BOOTLOADERADDR" in result.output


def test_load_image_strips_uicr_from_a_bootloader_hex(files: dict[str, Path]) -> None:
    """The issue's failure: 'Intel HEX data spans 268193816 bytes from 0x3c000'."""
    image = load_image(files["bl_hex"])
    assert image.kind is ImageKind.RAW
    assert len(image) == 0x3001
    rows = dict(describe(image))
    assert "BOOTLOADERADDR" in rows["hex removed"]
    softdevice = load_image(files["sd132_hex"])
    assert dict(describe(softdevice))["hex base address"] == "0x00003000"


def test_0_7_follows_the_sdk_layout_as_nrfutil_encodes_it(files: dict[str, Path]) -> None:
    package = Package.from_images(
        application=files["app_hex"].read_bytes(),
        version=DfuVersion.V0_7,
        device_type=0x52,
        softdevice_req=(0x88,),
    )
    firmware = package.parts[0].firmware
    packet = InitPacket.decode(package.parts[0].init_packet)
    assert packet.firmware_length == len(firmware) == 1004
    theirs = Packet(
        {
            PacketField.DEVICE_TYPE: 0x52,
            PacketField.DEVICE_REVISION: 0xFFFF,
            PacketField.APP_VERSION: 0xFFFFFFFF,
            PacketField.REQUIRED_SOFTDEVICES_ARRAY: [0x88],
            PacketField.NORDIC_PROPRIETARY_OPT_DATA_EXT_PACKET_ID: 1,
            PacketField.NORDIC_PROPRIETARY_OPT_DATA_FIRMWARE_LENGTH: len(firmware),
            PacketField.NORDIC_PROPRIETARY_OPT_DATA_FIRMWARE_HASH: packet.firmware_hash,
        }
    ).generate_packet()
    assert package.parts[0].init_packet == theirs


def test_tampered_packages_are_refused(files: dict[str, Path], tmp_path: Path) -> None:
    genpkg(tmp_path / "p.zip", "--application", str(files["app_hex"]))
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["app.bin"] = members["app.bin"][:-1] + b"\x00"
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ImageIntegrityError, match="application init packet CRC-16 does not match"):
        load_image(tampered)
    loaded = load_image(tampered, verify=False)
    assert dict(describe(loaded))["application init packet CRC-16 check"].startswith("MISMATCH")
    with pytest.raises(ImageIntegrityError, match="CRC-16 0x"):
        Package.load(tampered).check()


def test_odd_binary_in_a_loaded_package_is_refused_with_what_to_do() -> None:
    part = Package.from_images(application=b"\x01" * 7, word_pad=False).parts[0]
    assert part.image_type is ImageType.APPLICATION
    with pytest.raises(PackageError, match=r"rebuild the package .* pads it with 0xFF"):
        part.check()
