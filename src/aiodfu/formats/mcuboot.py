"""MCUboot signed images (Serial Modem DFU types 0 and 3), checked before any byte is sent.

The device only looks at the magic; MCUboot checks hash and signature at the
next boot, when a bad image costs a reboot cycle. So the host checks what it
can without keys: the header, the TLV areas, that the file is exactly as long
as the header says, and the SHA-256 TLV. Signatures are listed, not verified.
"""

from __future__ import annotations

import struct

import attrs

from aiodfu.core import integrity
from aiodfu.core.errors import ImageError, ImageIntegrityError

MAGIC = 0x96F3B83D
MAGIC_V1 = 0x96F3B83C
PROTECTED_TLV_MAGIC = 0x6908
TLV_MAGIC = 0x6907
TLV_SHA256 = 0x10

_HEADER = struct.Struct("<IIHHII BBHI 4x")
HEADER_SIZE = _HEADER.size  # 32: the fixed fields; ``hdr_size`` pads them to the body
_TLV_HEAD = struct.Struct("<HH")

FLAG_NAMES: dict[int, str] = {
    0x01: "PIC",
    0x04: "ENCRYPTED_AES128",
    0x08: "ENCRYPTED_AES256",
    0x10: "NON_BOOTABLE",
    0x20: "RAM_LOAD",
    0x100: "ROM_FIXED",
}

TLV_NAMES: dict[int, str] = {
    0x01: "KEYHASH",
    0x02: "PUBKEY",
    0x10: "SHA256",
    0x11: "SHA384",
    0x12: "SHA512",
    0x20: "RSA2048_PSS",
    0x21: "ECDSA224",
    0x22: "ECDSA_SIG",
    0x23: "RSA3072_PSS",
    0x24: "ED25519",
    0x25: "SIG_PURE",
    0x30: "ENC_RSA2048",
    0x31: "ENC_KW",
    0x32: "ENC_EC256",
    0x33: "ENC_X25519",
    0x40: "DEPENDENCY",
    0x50: "SEC_CNT",
    0x60: "BOOT_RECORD",
}


@attrs.frozen
class McubootVersion:
    major: int
    minor: int
    revision: int
    build: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}+{self.build}"


@attrs.frozen
class McubootHeader:
    load_address: int
    header_size: int
    protected_tlv_size: int
    image_size: int
    flags: int
    version: McubootVersion


@attrs.frozen
class Tlv:
    type: int
    value: bytes = attrs.field(repr=lambda v: f"<{len(v)} bytes>")
    offset: int  # of the TLV's own 4-byte head, in the file
    protected: bool

    @property
    def name(self) -> str:
        return TLV_NAMES.get(self.type, f"0x{self.type:02x}")


@attrs.frozen
class McubootImage:
    """What the host learnt from an MCUboot image.

    ``hash_ok`` is False only when parsed with ``verify=False`` (for
    ``inspect``, which reports a mismatch instead of stopping at it).
    """

    header: McubootHeader
    tlvs: tuple[Tlv, ...]
    sha256: bytes
    hash_ok: bool

    @property
    def body_range(self) -> tuple[int, int]:
        """File offsets ``[start, end)`` of the image body."""
        start = self.header.header_size
        return start, start + self.header.image_size


def flag_names(flags: int) -> list[str]:
    """Decode ``ih_flags``; bits without a known name are shown in hex."""
    names = [name for bit, name in FLAG_NAMES.items() if flags & bit]
    unknown = flags & ~sum(FLAG_NAMES)
    if unknown:
        names.append(f"0x{unknown:x}")
    return names


def parse_mcuboot(data: bytes, *, verify: bool = True) -> McubootImage:
    """Parse and check an MCUboot image.

    Raises :class:`ImageError` for anything malformed and
    :class:`ImageIntegrityError` when the SHA-256 TLV does not match (unless
    ``verify`` is False).
    """
    header = _parse_header(data)
    protected_start = header.header_size + header.image_size
    tlvs: list[Tlv] = []
    if header.protected_tlv_size:
        _check_fits(data, protected_start, 4, "protected TLV info header")
        tlvs += _parse_area(
            data, protected_start, PROTECTED_TLV_MAGIC, header.protected_tlv_size, True
        )
    unprotected_start = protected_start + header.protected_tlv_size
    _check_fits(data, unprotected_start, 4, "TLV info header")
    unprotected = _parse_area(data, unprotected_start, TLV_MAGIC, None, False)
    end = unprotected_start + _TLV_HEAD.unpack_from(data, unprotected_start)[1]
    if len(data) > end:
        raise ImageError(
            f"MCUboot image has {len(data) - end} trailing bytes: the header and TLV areas "
            f"end at {end}; re-export the signed image without padding",
            offset=end,
        )
    tlvs += unprotected
    stored = _stored_sha256(tlvs)
    computed = integrity.sha256(memoryview(data)[:unprotected_start])
    if verify and computed != stored:
        raise ImageIntegrityError(
            f"MCUboot SHA-256 TLV does not match the image: stored {stored.hex()}, "
            f"computed {computed.hex()}; the file is corrupt or was modified after signing"
        )
    return McubootImage(header=header, tlvs=tuple(tlvs), sha256=stored, hash_ok=computed == stored)


def _parse_header(data: bytes) -> McubootHeader:
    if len(data) < 4:
        raise ImageError(f"not an MCUboot image: only {len(data)} bytes", offset=0)
    magic = int.from_bytes(data[:4], "little")
    if magic == MAGIC_V1:
        raise ImageError(
            "unsupported v1 MCUboot image (magic 3c b8 f3 96); sign it with a current imgtool",
            offset=0,
        )
    if magic != MAGIC:
        raise ImageError(
            f"not an MCUboot image: magic is {data[:4].hex(' ')}, expected 3d b8 f3 96", offset=0
        )
    _check_fits(data, 0, HEADER_SIZE, "MCUboot header")
    _, load, hdr_size, prot_size, img_size, flags, major, minor, rev, build = _HEADER.unpack_from(
        data
    )
    if hdr_size < HEADER_SIZE:
        raise ImageError(
            f"MCUboot header size {hdr_size} is smaller than the {HEADER_SIZE}-byte header",
            offset=8,
        )
    version = McubootVersion(major, minor, rev, build)
    return McubootHeader(load, hdr_size, prot_size, img_size, flags, version)


def _parse_area(
    data: bytes, start: int, magic: int, expected_tot: int | None, protected: bool
) -> list[Tlv]:
    """TLVs of one area; the area's ``tlv_tot`` includes its 4-byte info header."""
    what = "protected TLV area" if protected else "TLV area"
    found_magic, tlv_tot = _TLV_HEAD.unpack_from(data, start)
    if found_magic != magic:
        raise ImageError(
            f"MCUboot {what} magic is 0x{found_magic:04x}, expected 0x{magic:04x}; the header's "
            "image or protected TLV size does not match the file",
            offset=start,
        )
    if expected_tot is not None and tlv_tot != expected_tot:
        raise ImageError(
            f"MCUboot {what} size {tlv_tot} differs from the header's protected TLV size "
            f"{expected_tot}",
            offset=start,
        )
    if tlv_tot < _TLV_HEAD.size:
        raise ImageError(f"MCUboot {what} size {tlv_tot} is smaller than its header", offset=start)
    end = start + tlv_tot
    _check_fits(data, start, tlv_tot, what)
    tlvs = []
    pos = start + _TLV_HEAD.size
    while pos < end:
        if end - pos < _TLV_HEAD.size:
            raise ImageError(f"MCUboot {what} ends inside a TLV header", offset=pos)
        tlv_type, length = _TLV_HEAD.unpack_from(data, pos)
        if pos + _TLV_HEAD.size + length > end:
            raise ImageError(
                f"MCUboot TLV 0x{tlv_type:02x} of {length} bytes runs past the end of the {what}",
                offset=pos,
            )
        value = bytes(data[pos + _TLV_HEAD.size : pos + _TLV_HEAD.size + length])
        tlvs.append(Tlv(tlv_type, value, pos, protected))
        pos += _TLV_HEAD.size + length
    return tlvs


def _stored_sha256(tlvs: list[Tlv]) -> bytes:
    # The hash covers the protected area, so it can only live in the unprotected one.
    hashes = [t for t in tlvs if t.type == TLV_SHA256 and not t.protected]
    if not hashes:
        raise ImageError(
            "MCUboot image has no SHA-256 TLV (0x10); sign it with imgtool so the image "
            "can be checked before sending"
        )
    if len(hashes) > 1:
        raise ImageError("MCUboot image has more than one SHA-256 TLV", offset=hashes[1].offset)
    if len(hashes[0].value) != 32:
        raise ImageError(
            f"MCUboot SHA-256 TLV is {len(hashes[0].value)} bytes, expected 32",
            offset=hashes[0].offset,
        )
    return hashes[0].value


def _check_fits(data: bytes, start: int, size: int, what: str) -> None:
    if start + size > len(data):
        raise ImageError(
            f"MCUboot image is truncated: the {what} needs bytes {start}..{start + size}, "
            f"the file has {len(data)}",
            offset=len(data),
        )


def describe_rows(image: McubootImage) -> list[tuple[str, str]]:
    """Human-readable rows for ``aiodfu inspect``."""
    h = image.header
    rows = [
        ("version", str(h.version)),
        ("load address", f"0x{h.load_address:08x}"),
        ("header size", f"0x{h.header_size:x}"),
        ("image size", f"{h.image_size} bytes"),
        ("protected TLV size", f"{h.protected_tlv_size} bytes"),
        ("flags", f"0x{h.flags:x} ({' | '.join(flag_names(h.flags)) or 'none'})"),
    ]
    for tlv in image.tlvs:
        where = "protected " if tlv.protected else ""
        rows.append((f"{where}TLV {tlv.name}", f"type 0x{tlv.type:02x}, {len(tlv.value)} bytes"))
    verdict = "ok" if image.hash_ok else "MISMATCH"
    rows.append(("sha256 check", f"{verdict} (stored {image.sha256.hex()})"))
    return rows
