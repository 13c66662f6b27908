"""nRF5 DFU zips through load_image: legacy packages of every layout, Secure DFU packages
identified (and refused for sending with the reason), malformed zips bounded and typed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodfu import load_image
from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.formats import describe, describe_json
from aiodfu.formats.nrf5_secure import (
    NOT_SUPPORTED,
    SecurePackage,
    decode_init_packet,
    is_secure_init_packet,
)
from aiodfu.nrf5_legacy import InitPacket, Package, PackageError
from aiodfu.testing import random_firmware

APP = random_firmware(2000, seed=40)


def to_zip(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- a Secure DFU init packet, encoded as nrfutil pkg generate writes it (dfu-cc.proto) -------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def secure_dat(firmware: bytes, *, signed: bool = True, fw_type: int = 0) -> bytes:
    digest = field(1, 3) + field(2, hashlib.sha256(firmware).digest()[::-1])
    init = (
        field(1, 5)  # fw_version
        + field(2, 52)  # hw_version
        + field(3, varint(0xAF) + varint(0xB7))  # sd_req, packed
        + field(4, fw_type)
        + field(7, len(firmware))
        + field(8, digest)
    )
    command = field(1, 1) + field(2, init)  # op_code INIT
    if signed:
        return field(2, field(1, command) + field(2, 0) + field(3, bytes(64)))
    return field(1, command)


def secure_zip(firmware: bytes = APP, **options: bool) -> bytes:
    manifest = {"manifest": {"application": {"bin_file": "app.bin", "dat_file": "app.dat"}}}
    return to_zip(
        {
            "manifest.json": json.dumps(manifest),
            "app.bin": firmware,
            "app.dat": secure_dat(APP, **options),
        }
    )


@pytest.mark.parametrize("signed", [True, False])
def test_secure_dfu_package_is_identified_and_checked(signed: bool) -> None:
    image = load_image(secure_zip(signed=signed))
    assert image.kind is ImageKind.NRF5_SECURE_PACKAGE
    assert isinstance(image.details, SecurePackage)
    (part,) = image.details.parts
    assert (part.init.fw_version, part.init.hw_version, part.init.sd_req) == (5, 52, (0xAF, 0xB7))
    assert part.init.signature_type == ("ECDSA_P256_SHA256" if signed else None)
    rows = dict(describe(image))
    assert rows["update"] == f"not supported: {NOT_SUPPORTED}"
    assert rows["application init packet SHA-256 check"].startswith("ok (stored ")
    record = describe_json(image)
    assert record["details"]["supported"] is False  # type: ignore[index]


def test_secure_dfu_package_is_refused_for_sending_with_the_reason() -> None:
    with pytest.raises(PackageError, match=r"Secure DFU \(SDK >= 12\), which aiodfu does not"):
        Package.load(secure_zip())


def test_tampered_secure_package() -> None:
    tampered = secure_zip(APP[:-1] + b"\x00")
    with pytest.raises(ImageIntegrityError, match="init packet SHA-256 does not match"):
        load_image(tampered)
    rows = dict(describe(load_image(tampered, verify=False)))
    assert rows["application init packet SHA-256 check"].startswith("MISMATCH")


def test_legacy_init_packets_are_not_protobuf() -> None:
    assert is_secure_init_packet(secure_dat(APP))
    for version in ("0.5", "0.6", "0.7"):
        from aiodfu.nrf5_legacy import DfuVersion

        assert not is_secure_init_packet(InitPacket.for_firmware(APP, DfuVersion(version)).encode())


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_secure_init_packet_parser_is_total(data: bytes) -> None:
    with contextlib.suppress(ImageError):
        decode_init_packet(data)


@given(st.integers(0, len(secure_dat(APP)) - 1), st.integers(1, 255))
def test_mutated_secure_init_packet(position: int, mask: int) -> None:
    dat = bytearray(secure_dat(APP))
    dat[position] ^= mask
    with contextlib.suppress(ImageError):
        decode_init_packet(bytes(dat))


# --- legacy packages --------------------------------------------------------------------------


def test_manifest_less_legacy_zip() -> None:
    app = random_firmware(400, seed=41)
    zipped = to_zip(
        {"application.bin": app, "application.dat": InitPacket.for_firmware(app).encode()}
    )
    image = load_image(zipped)
    assert image.kind is ImageKind.NRF5_LEGACY_PACKAGE
    assert image.data == zipped  # the session reads the package again from these bytes
    assert isinstance(image.details, Package)
    assert image.details.parts[0].firmware == app
    record = describe_json(image)
    assert record["checks"][0]["status"] == "ok"  # type: ignore[index]
    assert record["details"]["parts"][0]["size"] == 400  # type: ignore[index]


def test_forced_kind_on_a_package() -> None:
    zipped = Package.from_images(application=APP).to_zip()
    assert load_image(zipped, kind=ImageKind.NRF5_LEGACY_PACKAGE).kind is (
        ImageKind.NRF5_LEGACY_PACKAGE
    )
    with pytest.raises(ImageError, match="is an nRF5 DFU package, not a mcuboot image"):
        load_image(zipped, kind=ImageKind.MCUBOOT)
    with pytest.raises(ImageError, match="is a nrf5-legacy-package, not a nrf5-secure-package"):
        load_image(zipped, kind=ImageKind.NRF5_SECURE_PACKAGE)
    with pytest.raises(ImageError, match="an nRF5 DFU package is a zip file"):
        load_image(APP, kind=ImageKind.NRF5_LEGACY_PACKAGE)


def test_zip_bomb_member_is_refused_before_inflating() -> None:
    bomb = to_zip(
        {
            "application.bin": bytes(5 * 1024 * 1024),
            "application.dat": InitPacket.for_firmware(b"").encode(),
        }
    )
    assert len(bomb) < 10_000
    with pytest.raises(PackageError, match="decompresses to 5242880 bytes, more than the"):
        load_image(bomb)


def test_too_many_members() -> None:
    crowded = to_zip({f"application.{i}": b"" for i in range(40)} | {"application.bin": b"1234"})
    with pytest.raises(ImageError, match="zip has 41 members"):
        load_image(crowded)


LEGACY = Package.from_images(
    softdevice=random_firmware(200, seed=42),
    bootloader=random_firmware(80, seed=43),
    application=random_firmware(120, seed=44),
).to_zip()
SECURE = secure_zip(random_firmware(64, seed=45))


@settings(max_examples=150)
@given(st.sampled_from([LEGACY, SECURE]), st.data())
def test_mutated_package_zips_are_refused_or_loaded_never_crash(
    container: bytes, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(container) - 1))
    mutated = bytearray(container)
    mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(position + 1, len(container)))
    try:
        image = load_image(bytes(mutated[:cut]))
    except ImageError:
        return
    describe(image)
    describe_json(image)


@settings(max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(["application", "bootloader", "softdevice", "softdevice_bootloader", "x"]),
        st.dictionaries(
            st.sampled_from(["bin_file", "dat_file", "sd_size", "bl_size", "init_packet_data"]),
            st.one_of(st.text(max_size=8), st.integers(-2, 2**33), st.none()),
            max_size=5,
        ),
        max_size=4,
    ),
    st.one_of(st.none(), st.sampled_from([0.5, 0.6, 0.7, 0.8, "0.5", 1, True])),
)
def test_random_manifests_are_package_errors(manifest: dict[str, object], version: object) -> None:
    if version is not None:
        manifest["dfu_version"] = version
    zipped = to_zip(
        {"manifest.json": json.dumps({"manifest": manifest}), "a.bin": APP[:8], "a.dat": b"\0" * 14}
    )
    with contextlib.suppress(ImageError):
        load_image(zipped)
