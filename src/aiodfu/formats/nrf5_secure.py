"""Nordic Secure DFU packages (nRF5 SDK >= 12, ``nrfutil pkg generate``): identified, not sent.

Their init packet (``.dat``) is a protobuf ``dfu.Packet`` (pc-nrfutil
``dfu-cc.proto``) where the legacy one is a fixed little-endian record. aiodfu
does not update Secure DFU bootloaders yet, so such a package is recognised,
described and its firmware hash checked -- and every path that would send it
says why it cannot instead of calling it malformed.

The protobuf is read with a few lines of wire-format walking (no protobuf
dependency for one message); every length is bounded by the bytes left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

import attrs

from aiodfu.core.errors import ImageError
from aiodfu.formats.checks import Check

NOT_SUPPORTED = (
    "this package is for Secure DFU (SDK >= 12), which aiodfu does not update yet; "
    "use nrfutil for it, or build a legacy package (aiodfu nrf5-legacy pkg) for a legacy "
    "bootloader"
)
SECURE_ONLY_KEYS = (
    "bootloader_application",
    "softdevice_application",
    "softdevice_bootloader_application",
)
FW_TYPES = {0: "application", 1: "softdevice", 2: "bootloader", 3: "softdevice_bootloader"}
HASH_TYPES = {0: "none", 1: "CRC", 2: "SHA128", 3: "SHA256", 4: "SHA512"}
SIGNATURE_TYPES = {0: "ECDSA_P256_SHA256", 1: "ED25519"}
MAX_DAT_SIZE = 512

_Fields = dict[int, list[int | bytes]]


@attrs.frozen
class SecureInitCommand:
    """The fields of a Secure DFU init command that say what the firmware is."""

    fw_type: str
    fw_version: int
    hw_version: int
    sd_req: tuple[int, ...]
    sd_size: int
    bl_size: int
    app_size: int
    hash_type: str
    hash: bytes = attrs.field(repr=lambda h: h.hex())
    signature_type: str | None
    is_debug: bool


@attrs.frozen
class SecurePart:
    manifest_key: str
    bin_file: str
    size: int
    init: SecureInitCommand
    check: Check


@attrs.frozen
class SecurePackage:
    parts: tuple[SecurePart, ...]

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(part.check for part in self.parts)


def is_secure_init_packet(dat: bytes) -> bool:
    """True when ``dat`` parses as a ``dfu.Packet`` carrying an init command."""
    try:
        decode_init_packet(dat)
    except ImageError:
        return False
    return True


def is_secure_manifest(manifest: Mapping[str, object], read: Callable[[str], bytes]) -> bool:
    """Whether a package manifest is a Secure DFU one (``read`` gives a member's bytes).

    Legacy manifests (nrfutil <= 0.5) carry ``dfu_version``; Secure ones do
    not, and their ``.dat`` files are protobuf.
    """
    if any(key in manifest for key in SECURE_ONLY_KEYS):
        return True
    if "dfu_version" in manifest:
        return False
    for entry in manifest.values():
        if isinstance(entry, Mapping) and isinstance(entry.get("dat_file"), str):
            try:
                dat = read(entry["dat_file"])
            except ImageError:
                return False  # the legacy reader reports the missing member
            return is_secure_init_packet(dat)
    return False


def decode_init_packet(dat: bytes) -> SecureInitCommand:
    """Decode a Secure DFU ``.dat``; raise :class:`ImageError` if it is not one."""
    if len(dat) > MAX_DAT_SIZE:
        raise ImageError(f"Secure DFU init packet is {len(dat)} bytes, over {MAX_DAT_SIZE}")
    packet = _message(dat, "init packet")
    signature_type = None
    if 2 in packet:
        signed = _message(_bytes(packet, 2, "signed_command"), "signed command")
        command = _message(_bytes(signed, 1, "command"), "command")
        signature_type = SIGNATURE_TYPES.get(_int(signed, 2), "unknown")
    else:
        command = _message(_bytes(packet, 1, "command"), "command")
    init = _message(_bytes(command, 2, "init command"), "init command")
    digest = _message(_bytes(init, 8, "hash"), "hash")
    sd_req: list[int] = []
    for value in init.get(3, []):
        sd_req += [value] if isinstance(value, int) else _packed(value)
    return SecureInitCommand(
        fw_type=FW_TYPES.get(_int(init, 4), "unknown"),
        fw_version=_int(init, 1),
        hw_version=_int(init, 2),
        sd_req=tuple(sd_req),
        sd_size=_int(init, 5),
        bl_size=_int(init, 6),
        app_size=_int(init, 7),
        hash_type=HASH_TYPES.get(_int(digest, 1), "unknown"),
        hash=_bytes(digest, 2, "hash value"),
        signature_type=signature_type,
        is_debug=bool(_int(init, 9)),
    )


def parse_secure_package(
    manifest: Mapping[str, object], read: Callable[[str], bytes], *, limit: int
) -> SecurePackage:
    """The parts of a Secure DFU package, each firmware checked against its init packet hash."""
    parts = []
    for key, entry in manifest.items():
        if not isinstance(entry, Mapping):
            continue
        bin_file, dat_file = entry.get("bin_file"), entry.get("dat_file")
        if not isinstance(bin_file, str) or not isinstance(dat_file, str):
            raise ImageError(f"Secure DFU manifest {key!r} needs string bin_file and dat_file")
        init = decode_init_packet(read(dat_file)[: MAX_DAT_SIZE + 1])
        firmware = read(bin_file)
        check = _hash_check(f"{key} init packet", init, firmware)
        parts.append(SecurePart(key, bin_file, len(firmware), init, check))
    if not parts:
        raise ImageError("Secure DFU manifest lists no firmware")
    return SecurePackage(tuple(parts))


def _hash_check(name: str, init: SecureInitCommand, firmware: bytes) -> Check:
    if init.hash_type != "SHA256":
        return Check.skipped(f"{name} hash", f"hash type {init.hash_type} is not checked")
    computed = hashlib.sha256(firmware).digest()[::-1]  # nrfutil stores it little-endian
    detail = f"stored {init.hash.hex()} (little-endian)"
    if computed != init.hash:
        detail += f", computed {computed.hex()}"
    return Check.compare(f"{name} SHA-256", computed == init.hash, detail)


# --- protobuf wire format ---------------------------------------------------------------------


def _message(data: bytes, what: str) -> _Fields:
    fields: _Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ImageError(f"Secure DFU {what}: field number 0", offset=pos)
        if wire == 0:
            value, pos = _varint(data, pos, what)
            fields.setdefault(number, []).append(value)
        elif wire == 2:
            size, pos = _varint(data, pos, what)
            if size > len(data) - pos:
                raise ImageError(f"Secure DFU {what}: a {size}-byte field runs past the end")
            fields.setdefault(number, []).append(data[pos : pos + size])
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise ImageError(f"Secure DFU {what}: a fixed-size field runs past the end")
        else:
            raise ImageError(f"Secure DFU {what}: unsupported wire type {wire}")
    return fields


def _varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    value = shift = 0
    for index in range(pos, min(pos + 10, len(data))):
        value |= (data[index] & 0x7F) << shift
        if not data[index] & 0x80:
            return value, index + 1
        shift += 7
    raise ImageError(f"Secure DFU {what}: a varint is truncated or longer than 10 bytes")


def _packed(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos, "sd_req")
        values.append(value)
    return values


def _int(fields: _Fields, number: int) -> int:
    values = fields.get(number)
    if not values:
        return 0
    value = values[-1]
    if not isinstance(value, int):
        raise ImageError(f"Secure DFU field {number} is not a number")
    return value


def _bytes(fields: _Fields, number: int, what: str) -> bytes:
    values = fields.get(number)
    if not values:
        raise ImageError(f"Secure DFU init packet has no {what}")
    value = values[-1]
    if not isinstance(value, bytes):
        raise ImageError(f"Secure DFU {what} is not a length-delimited field")
    return value


def describe_rows(package: SecurePackage) -> list[tuple[str, str]]:
    rows = [("update", f"not supported: {NOT_SUPPORTED}")]
    for part in package.parts:
        init = part.init
        signed = f", signed {init.signature_type}" if init.signature_type else ", unsigned"
        rows.append(
            (
                f"part {part.manifest_key}",
                f"{part.bin_file}, {part.size} bytes, {init.fw_type} version {init.fw_version}, "
                f"hw {init.hw_version}, sd_req "
                f"{', '.join(f'0x{v:04X}' for v in init.sd_req) or 'none'}{signed}",
            )
        )
        rows.append(part.check.row())
    return rows


def to_json(package: SecurePackage) -> dict[str, object]:
    return {
        "supported": False,
        "reason": NOT_SUPPORTED,
        "parts": [
            {
                "manifest_key": part.manifest_key,
                "bin_file": part.bin_file,
                "size": part.size,
                "fw_type": part.init.fw_type,
                "fw_version": part.init.fw_version,
                "hw_version": part.init.hw_version,
                "sd_req": list(part.init.sd_req),
                "hash_type": part.init.hash_type,
                "signature_type": part.init.signature_type,
                "is_debug": part.init.is_debug,
            }
            for part in package.parts
        ],
    }
