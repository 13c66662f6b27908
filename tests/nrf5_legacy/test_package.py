"""Packages and init packets: exact bytes, nrfutil compatibility, bounded and typed failures."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.errors import ImageIntegrityError
from aiodfu.nrf5_legacy import package as package_module
from aiodfu.nrf5_legacy.errors import PackageError
from aiodfu.nrf5_legacy.init_packet import DfuVersion, InitPacket
from aiodfu.nrf5_legacy.package import Package
from aiodfu.nrf5_legacy.protocol import ImageType


def test_crc16_examples_from_the_reference() -> None:
    assert InitPacket(DfuVersion.V0_5, firmware_crc16=0x6BBD).encode() == bytes.fromhex(
        "FFFFFFFFFFFFFFFF0100FEFFBD6B"
    )
    assert InitPacket(DfuVersion.V0_6, firmware_crc16=0xBA2C).encode() == bytes.fromhex(
        "FFFFFFFFFFFFFFFF0100FEFF000000002CBA"
    )
    packet = InitPacket(DfuVersion.V0_5, 0x52, 1, 1, (0x88, 0x8C), firmware_crc16=0xBA2C)
    assert packet.encode() == bytes.fromhex("520001000100000002008800 8C002CBA".replace(" ", ""))


@pytest.mark.parametrize(("version", "size"), [("0.5", 14), ("0.6", 18), ("0.7", 52)])
def test_layout_sizes_and_round_trip(version: str, size: int) -> None:
    firmware = bytes(range(256)) * 4
    packet = InitPacket.for_firmware(firmware, DfuVersion(version))
    encoded = packet.encode()
    assert len(encoded) == size
    assert InitPacket.decode(encoded) == packet
    packet.check(firmware)
    with pytest.raises(ImageIntegrityError):
        packet.check(firmware[:-4] + b"\0\0\0\0")


@given(
    st.sampled_from(list(DfuVersion)),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.integers(0, 0xFFFF), max_size=6),
    st.binary(max_size=64),
)
def test_init_packet_round_trip(
    version: DfuVersion, dtype: int, rev: int, app: int, sds: list[int], firmware: bytes
) -> None:
    packet = InitPacket.for_firmware(
        firmware,
        version,
        device_type=dtype,
        device_revision=rev,
        application_version=app,
        softdevice_req=tuple(sds),
    )
    assert InitPacket.decode(packet.encode()) == packet


@given(st.binary(max_size=80))
def test_init_packet_parser_never_fails_untyped(data: bytes) -> None:
    try:
        packet = InitPacket.decode(data)
    except PackageError:
        return
    assert packet.encode() == data


def _nrfutil_package(tmp_path: Path, version: float, **images: bytes) -> bytes:
    from nordicsemi.dfu.package import Package as NrfutilPackage

    paths = {}
    for name, data in images.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        paths[name] = str(path)
    out = tmp_path / "nrfutil.zip"
    NrfutilPackage(dfu_ver=version, **paths).generate_package(str(out))
    return out.read_bytes()


@pytest.mark.parametrize("version", [0.5, 0.6])
@pytest.mark.parametrize("kind", ["app_fw", "bootloader_fw", "softdevice_fw"])
def test_same_bin_and_dat_as_adafruit_nrfutil(tmp_path: Path, version: float, kind: str) -> None:
    firmware = bytes((i * 7 + 3) % 256 for i in range(3000))
    theirs = Package.load(
        _write(tmp_path, "theirs.zip", _nrfutil_package(tmp_path, version, **{kind: firmware}))
    )
    argument = {
        "app_fw": "application",
        "bootloader_fw": "bootloader",
        "softdevice_fw": "softdevice",
    }
    ours = Package.from_images(version=DfuVersion(str(version)), **{argument[kind]: firmware})
    assert len(theirs.parts) == 1
    assert theirs.parts[0].firmware == ours.parts[0].firmware == firmware
    assert theirs.parts[0].init_packet == ours.parts[0].init_packet
    assert theirs.parts[0].image_type is ours.parts[0].image_type
    # and what we write reads back identically
    assert Package.from_zip(ours.to_zip()).parts == ours.parts


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _zip(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_sd_bl_and_app_become_two_sessions_sd_bl_first() -> None:
    package = Package.from_images(
        softdevice=b"\x01" * 400, bootloader=b"\x02" * 120, application=b"\x03" * 64
    )
    assert [p.image_type for p in package] == [
        ImageType.SOFTDEVICE_BOOTLOADER,
        ImageType.APPLICATION,
    ]
    sd_bl = package.parts[0]
    assert sd_bl.sizes() == (400, 120, 0)
    round_trip = Package.from_zip(package.to_zip())
    assert round_trip.parts == package.parts
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(package.to_zip())).read("manifest.json"))
    assert manifest["manifest"]["softdevice_bootloader"]["sd_size"] == 400


def test_manifest_less_zip_with_application_dat_and_system_dat() -> None:
    app, sd, bl = b"\xaa" * 40, b"\xbb" * 80, b"\xcc" * 24
    app_dat = InitPacket.for_firmware(app, application_version=7).encode()
    system_dat = InitPacket.for_firmware(sd + bl, device_type=0x52).encode()
    package = Package.from_zip(
        _zip(
            {
                "application.bin": app,
                "application.dat": app_dat,
                "softdevice.bin": sd,
                "bootloader.bin": bl,
                "system.dat": system_dat,
            }
        )
    )
    assert package.parts[0].init_packet == system_dat
    assert package.parts[0].firmware == sd + bl
    assert package.parts[1].init_packet == app_dat
    package.check()


def test_hex_application_is_converted() -> None:
    from intelhex import IntelHex

    hex_file = IntelHex()
    hex_file.frombytes(bytes(range(32)), offset=0x1C000)
    text = io.StringIO()
    hex_file.write_hex_file(text)
    package = Package.load(text.getvalue().encode())
    assert package.parts[0].firmware == bytes(range(32))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"manifest.json": "{not json"}, "not valid JSON"),
        ({"manifest.json": "[]"}, 'no "manifest" object'),
        ({"manifest.json": '{"manifest": {"dfu_version": 0.5}}'}, "lists no firmware"),
        (
            {"manifest.json": '{"manifest": {"softdevice_bootloader_application": {}}}'},
            "Secure DFU",
        ),
        (
            {"manifest.json": '{"manifest": {"application": {"bin_file": "a.bin"}}}'},
            "bin_file and dat_file",
        ),
        (
            {
                "manifest.json": '{"manifest": {"application": '
                '{"bin_file": "a.bin", "dat_file": "a.dat"}}}'
            },
            "no member 'a.bin'",
        ),
        ({"manifest.json": '{"manifest": {"dfu_version": 0.8, "application": {}}}'}, "0.8"),
        ({"readme.txt": "hello"}, "neither manifest.json"),
    ],
)
def test_malformed_manifests_are_clear_package_errors(
    members: dict[str, bytes | str], message: str
) -> None:
    with pytest.raises(PackageError, match=message):
        Package.from_zip(_zip(members))


def test_corrupt_zip() -> None:
    data = bytearray(Package.from_images(application=b"\x11" * 400).to_zip())
    with pytest.raises(PackageError):
        Package.from_zip(b"PK\x03\x04" + b"\0" * 40)
    index = data.find(b"\x11" * 4)
    data[index + 30 : index + 60] = b"\x00" * 30  # damage compressed data or the directory
    with pytest.raises(PackageError):
        Package.from_zip(bytes(data)).check()


def test_zip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package_module, "MAX_MEMBER_SIZE", 1024)
    bomb = _zip({"application.bin": b"\0" * 100_000})
    with pytest.raises(PackageError, match="limit"):
        Package.from_zip(bomb)


def test_wrong_crc_in_dat_is_found_before_connecting() -> None:
    app = b"\x42" * 64
    bad = InitPacket(DfuVersion.V0_5, firmware_crc16=0x1234).encode()
    package = Package.from_zip(_zip({"application.bin": app, "application.dat": bad}))
    with pytest.raises(ImageIntegrityError, match="CRC-16 0x1234"):
        package.check()


def test_image_not_multiple_of_four_is_refused() -> None:
    with pytest.raises(PackageError, match="multiple of 4"):
        Package.from_images(application=b"\1" * 7, word_pad=False).check()
    # by default an image is padded with 0xFF to the word size, as nrfutil genpkg does
    padded = Package.from_images(application=b"\1" * 7)
    padded.check()
    assert padded.parts[0].firmware == b"\1" * 7 + b"\xff"
    assert padded.parts[0].notes == ("padded with 0xff to a multiple of 4 bytes (1 added)",)


def test_oversize_image_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package_module, "MAX_FILE_SIZE", 1000)
    path = tmp_path / "huge.bin"
    path.write_bytes(bytes(1004))
    with pytest.raises(PackageError, match="1004 bytes"):
        Package.load(path)
