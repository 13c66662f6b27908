"""Build valid firmware files for tests, without a vendor toolchain.

These produce files that :func:`aiodfu.load_image` accepts and the emulators
take, so a test can make the exact image it needs (a size, a version, a
segment layout) in a line. They are **not signed**: signature fields are
zero-filled placeholders of the right size, because aiodfu checks hashes and
structure on the host but leaves signatures to the device. Real devices will
reject them at boot or apply time.

Example::

    from aiodfu.testing.images import build_mcuboot_image, random_firmware

    image = aiodfu.load_image(build_mcuboot_image(random_firmware(40_000), version=(1, 2, 3, 4)))
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

import cbor2

from aiodfu.core import integrity
from aiodfu.formats import mcuboot, modem_delta, modem_full

__all__ = [
    "build_full_modem_package",
    "build_mcuboot_image",
    "build_modem_delta",
    "random_firmware",
]

_FAKE_ECDSA_SIG = (0x22, bytes(64))


def build_mcuboot_image(
    body: bytes,
    *,
    version: tuple[int, int, int, int] = (1, 0, 0, 0),
    header_size: int = 0x200,
    load_address: int = 0,
    flags: int = 0,
    protected_tlvs: Sequence[tuple[int, bytes]] = (),
    extra_tlvs: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """An MCUboot image around ``body`` with a correct SHA-256 TLV and an all-zero ECDSA TLV.

    ``version`` is (major, minor, revision, build). ``protected_tlvs`` go in
    the hashed protected area (created only if given); ``extra_tlvs`` go in
    the unprotected area after the hash and before the placeholder signature.
    """
    major, minor, revision, build = version
    _check_range("version major", major, 0xFF)
    _check_range("version minor", minor, 0xFF)
    _check_range("version revision", revision, 0xFFFF)
    _check_range("version build", build, 0xFFFF_FFFF)
    _check_range("load_address", load_address, 0xFFFF_FFFF)
    _check_range("flags", flags, 0xFFFF_FFFF)
    _check_range("body length", len(body), 0xFFFF_FFFF)
    if not mcuboot.HEADER_SIZE <= header_size <= 0xFFFF:
        raise ValueError(f"header_size must be {mcuboot.HEADER_SIZE}..65535, not {header_size}")
    protected = _tlv_area(mcuboot.PROTECTED_TLV_MAGIC, protected_tlvs) if protected_tlvs else b""
    header = struct.pack(
        "<IIHHIIBBHI4x",
        mcuboot.MAGIC,
        load_address,
        header_size,
        len(protected),
        len(body),
        flags,
        major,
        minor,
        revision,
        build,
    )
    hashed = header.ljust(header_size, b"\x00") + body + protected
    tlvs = [(mcuboot.TLV_SHA256, integrity.sha256(hashed)), *extra_tlvs, _FAKE_ECDSA_SIG]
    return hashed + _tlv_area(mcuboot.TLV_MAGIC, tlvs)


def build_modem_delta(payload: bytes) -> bytes:
    """A delta patch: two zero u16 padding fields, the ``meDu`` magic, then ``payload``."""
    return bytes(4) + modem_delta.MAGIC_BYTES + payload


def build_full_modem_package(
    bootloader: bytes,
    firmware: Sequence[tuple[int, bytes]],
    *,
    bootloader_address: int = 0x0,
    version: int = 1,
    compat: int = 1,
) -> bytes:
    """A full-modem ``.cbor`` image: the COSE_Sign1 wrapper (zero signature), then the blob.

    ``firmware`` is ``(address, data)`` per segment 1..N, in blob order.
    """
    segments = [(bootloader_address, bootloader), *firmware]
    blob = b"".join(data for _, data in segments)
    flat = [value for address, data in segments for value in (address, len(data))]
    manifest = [version, compat, integrity.sha256(blob), cbor2.dumps(flat)]
    sign1 = [
        cbor2.dumps({1: modem_full.ALG_PS256}),
        {},
        cbor2.dumps(manifest),
        bytes(modem_full.SIGNATURE_SIZE),
    ]
    return cbor2.dumps(cbor2.CBORTag(modem_full.COSE_SIGN1_TAG, sign1)) + blob


def random_firmware(size: int, seed: int = 0) -> bytes:
    """``size`` pseudo-random bytes, the same for the same seed (fast: one C call)."""
    return random.Random(seed).randbytes(size)


def _tlv_area(magic: int, tlvs: Sequence[tuple[int, bytes]]) -> bytes:
    for tlv_type, _ in tlvs:
        _check_range("TLV type", tlv_type, 0xFFFF)
    entries = b"".join(struct.pack("<HH", t, len(v)) + v for t, v in tlvs)
    total = 4 + len(entries)
    _check_range("TLV area size", total, 0xFFFF)
    return struct.pack("<HH", magic, total) + entries


def _check_range(what: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{what} must be 0..{maximum}, not {value}")
