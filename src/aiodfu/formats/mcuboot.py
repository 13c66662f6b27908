"""MCUboot signed images (Serial Modem DFU types 0 and 3), checked before any byte is sent.

The device only looks at the magic; MCUboot checks hash and signature at the
next boot, when a bad image costs a reboot cycle. So the host checks what it
can without keys: the header, the TLV areas, that the file is exactly as long
as the header says (or is padded with an MCUboot trailer), and the hash TLV
(SHA-256, SHA-384 or SHA-512, whichever imgtool wrote). Signatures are listed,
not verified. Two cases cannot be checked on the host and are reported so:
an encrypted image (the hash covers the plaintext) and a pure signature
without a hash TLV (the signature covers the image itself).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.formats.checks import Check, CheckStatus
from aiodfu.formats.mcuboot_trailer import McubootTrailer, parse_trailer

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

MAGIC = 0x96F3B83D
MAGIC_V1 = 0x96F3B83C
PROTECTED_TLV_MAGIC = 0x6908
TLV_MAGIC = 0x6907
TLV_SHA256 = 0x10
TLV_SHA384 = 0x11
TLV_SHA512 = 0x12
TLV_SIG_PURE = 0x25
TLV_DECOMP_SIZE = 0x70
FLAGS_ENCRYPTED = 0x04 | 0x08
ENCRYPTION_TLVS = frozenset(range(0x30, 0x35))
"""ENC_RSA2048, ENC_KW, ENC_EC256, ENC_X25519, ENC_X25519_SHA512: the wrapped image key."""
FLAGS_COMPRESSED = 0x200 | 0x400

_HEADER = struct.Struct("<IIHHII BBHI 4x")
HEADER_SIZE = _HEADER.size  # 32: the fixed fields; ``hdr_size`` pads them to the body
_TLV_HEAD = struct.Struct("<HH")

HASH_TLVS: dict[int, tuple[str, Callable[[ReadableBuffer], hashlib._Hash]]] = {
    TLV_SHA256: ("sha256", hashlib.sha256),
    TLV_SHA384: ("sha384", hashlib.sha384),
    TLV_SHA512: ("sha512", hashlib.sha512),
}
"""Hash TLV type -> (name, constructor); imgtool 2.x writes exactly one of them."""

FLAG_NAMES: dict[int, str] = {
    0x01: "PIC",
    0x04: "ENCRYPTED_AES128",
    0x08: "ENCRYPTED_AES256",
    0x10: "NON_BOOTABLE",
    0x20: "RAM_LOAD",
    0x100: "ROM_FIXED",
    0x200: "COMPRESSED_LZMA1",
    0x400: "COMPRESSED_LZMA2",
    0x800: "COMPRESSED_ARM_THUMB",
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
    0x34: "ENC_X25519_SHA512",
    0x40: "DEPENDENCY",
    0x50: "SEC_CNT",
    0x60: "BOOT_RECORD",
    0x70: "DECOMP_SIZE",
    0x71: "DECOMP_SHA",
    0x72: "DECOMP_SIGNATURE",
    0x73: "COMP_DEC_SIZE",
    0x74: "UUID_VID",
    0x75: "UUID_CID",
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

    ``hash_tlv`` is the hash TLV (None for a pure signature without one);
    ``hash_ok`` is False only when parsed with ``verify=False`` and the hash
    does not match (for ``inspect``, which reports a mismatch instead of
    stopping at it), and True when the hash matched or cannot be checked on
    the host (see ``checks``). ``trailer`` describes the padding and trailer
    of an image padded to its slot (``imgtool sign --pad``), else None.
    """

    header: McubootHeader
    tlvs: tuple[Tlv, ...]
    hash_tlv: Tlv | None
    checks: tuple[Check, ...]
    signed_size: int
    trailer: McubootTrailer | None = None

    @property
    def hash_ok(self) -> bool:
        return all(check.status is not CheckStatus.MISMATCH for check in self.checks)

    @property
    def sha256(self) -> bytes:
        """The SHA-256 TLV's value; empty when the image is hashed otherwise (or not at all)."""
        tlv = self.hash_tlv
        return tlv.value if tlv is not None and tlv.type == TLV_SHA256 else b""

    @property
    def encrypted(self) -> bool:
        return bool(self.header.flags & FLAGS_ENCRYPTED)

    @property
    def compressed(self) -> bool:
        return bool(self.header.flags & FLAGS_COMPRESSED)

    @property
    def pure(self) -> bool:
        return any(tlv.type == TLV_SIG_PURE for tlv in self.tlvs)

    @property
    def decompressed_size(self) -> int | None:
        """The DECOMP_SIZE TLV of a compressed image (what MCUboot writes to the slot)."""
        for tlv in self.tlvs:
            if tlv.type == TLV_DECOMP_SIZE and len(tlv.value) == 4:
                return int.from_bytes(tlv.value, "little")
        return None

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
    """Parse and check an MCUboot image (signed, optionally padded to its slot).

    Raises :class:`ImageError` for anything malformed and
    :class:`ImageIntegrityError` when the hash TLV does not match (unless
    ``verify`` is False).
    """
    header = parse_header(data)
    protected_start = header.header_size + header.image_size
    tlvs: list[Tlv] = []
    if header.protected_tlv_size:
        _check_fits(data, protected_start, 4, "protected TLV info header")
        tlvs += parse_tlv_area(
            data, protected_start, PROTECTED_TLV_MAGIC, header.protected_tlv_size, True
        )
    unprotected_start = protected_start + header.protected_tlv_size
    _check_fits(data, unprotected_start, 4, "TLV info header")
    tlvs += parse_tlv_area(data, unprotected_start, TLV_MAGIC, None, False)
    end = unprotected_start + _TLV_HEAD.unpack_from(data, unprotected_start)[1]
    trailer = parse_trailer(data, end) if len(data) > end else None
    check_encryption_key(header, tlvs)
    hash_tlv = find_hash_tlv(tlvs)
    check = _hash_check(data, header, hash_tlv, unprotected_start)
    if verify and check.status is CheckStatus.MISMATCH:
        assert hash_tlv is not None
        raise ImageIntegrityError(
            f"MCUboot {tlv_label(hash_tlv.type)} TLV does not match the image: {check.detail}; "
            "the file is corrupt or was modified after signing; sign it again or fetch a good copy",
            offset=hash_tlv.offset,
        )
    return McubootImage(header, tuple(tlvs), hash_tlv, (check,), end, trailer)


def check_encryption_key(header: McubootHeader, tlvs: list[Tlv]) -> None:
    """An encrypted image carries its wrapped key; a header that says so without one is corrupt.

    This matters because an encrypted image's hash cannot be checked on the
    host: without this, one flipped flag bit would switch the hash check off.
    """
    if header.flags & FLAGS_ENCRYPTED and not any(tlv.type in ENCRYPTION_TLVS for tlv in tlvs):
        raise ImageError(
            f"MCUboot header flags 0x{header.flags:x} say the image is encrypted, but it has no "
            "encryption key TLV (0x30-0x34): the header is corrupt",
            offset=16,
        )


def _hash_check(data: bytes, header: McubootHeader, tlv: Tlv | None, hashed_end: int) -> Check:
    if tlv is None:  # hash_tlv allows this only with a pure signature
        return Check.skipped(
            "signature",
            "pure signature over the image and no hash TLV: only the public key can check it",
        )
    name, algorithm = HASH_TLVS[tlv.type]
    if header.flags & FLAGS_ENCRYPTED:
        return Check.skipped(
            name,
            f"encrypted image: the {name} TLV covers the plaintext, which only the device "
            "can decrypt",
        )
    computed = algorithm(memoryview(data)[:hashed_end]).digest()
    if computed == tlv.value:
        return Check.compare(name, True, f"stored {tlv.value.hex()}")
    return Check.compare(name, False, f"stored {tlv.value.hex()}, computed {computed.hex()}")


def tlv_label(tlv_type: int) -> str:
    """The hash TLV's name as people write it (``SHA-256``)."""
    return HASH_TLVS[tlv_type][0].upper().replace("SHA", "SHA-")


def laid_out_as_mcuboot(read: Callable[[int, int], bytes], size: int) -> bool:
    """Whether ``size`` bytes, read through ``read(offset, count)``, are laid out as an MCUboot
    image whatever their first four bytes are.

    The header's sizes must put a TLV info header -- and a protected one, if the header
    declares protected TLVs -- exactly where MCUboot looks for them, inside the image. Bytes
    that fit but do not start with the magic are an MCUboot image whose magic was damaged
    (identifying by magic alone would take it for a raw image with nothing to check); for
    anything else the chance of fitting is about one in 2^16 times the odds that random
    size fields land inside the image.
    """
    head = read(0, HEADER_SIZE)
    if len(head) < HEADER_SIZE:
        return False
    _, _, hdr_size, prot_size, img_size, *_ = _HEADER.unpack_from(head)
    if hdr_size < HEADER_SIZE:
        return False
    protected_start = hdr_size + img_size
    if prot_size and not _info_fits(read, size, protected_start, PROTECTED_TLV_MAGIC, prot_size):
        return False
    return _info_fits(read, size, protected_start + prot_size, TLV_MAGIC, None)


def _info_fits(
    read: Callable[[int, int], bytes], size: int, start: int, magic: int, total: int | None
) -> bool:
    """A TLV info header with ``magic`` at ``start``, its area (``total`` long) in the image."""
    if start + _TLV_HEAD.size > size:
        return False
    found, tlv_tot = _TLV_HEAD.unpack(read(start, _TLV_HEAD.size))
    fits = tlv_tot >= _TLV_HEAD.size and start + tlv_tot <= size
    return found == magic and fits and (total is None or tlv_tot == total)


def parse_header(data: bytes) -> McubootHeader:
    """The fixed header fields of an MCUboot image (the streamed self-check reads them too)."""
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


def parse_tlv_area(
    data: bytes, start: int, magic: int, expected_tot: int | None, protected: bool
) -> list[Tlv]:
    """The TLVs of one area (protected or not) at ``start``, checked against ``magic``.

    The area's ``tlv_tot`` includes its 4-byte info header.
    """
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


def find_hash_tlv(tlvs: list[Tlv]) -> Tlv | None:
    """The image hash TLV (SHA-256/384/512), if the image carries one."""
    # The hash covers the protected area, so it can only live in the unprotected one.
    hashes = [t for t in tlvs if t.type in HASH_TLVS and not t.protected]
    if not hashes:
        if any(t.type == TLV_SIG_PURE for t in tlvs):
            return None
        raise ImageError(
            "MCUboot image has no SHA-256 TLV (0x10), nor SHA-384 (0x11) or SHA-512 (0x12), "
            "and no pure signature (SIG_PURE, 0x25); sign it with imgtool so the image can be "
            "checked before sending"
        )
    first = hashes[0]
    if len(hashes) > 1:
        second = hashes[1]
        what = (
            tlv_label(first.type)
            if first.type == second.type
            else f"hash TLV ({tlv_label(first.type)} and {tlv_label(second.type)})"
        )
        raise ImageError(
            f"MCUboot image has more than one {what} TLV; MCUboot uses one", offset=second.offset
        )
    size = HASH_TLVS[first.type][1](b"").digest_size
    if len(first.value) != size:
        raise ImageError(
            f"MCUboot {tlv_label(first.type)} TLV is {len(first.value)} bytes, expected {size}",
            offset=first.offset,
        )
    return first


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
    if image.encrypted:
        rows.append(("encrypted", "yes: sendable; the device decrypts it while installing"))
    if image.compressed:
        size = image.decompressed_size
        rows.append(("decompressed size", "unknown" if size is None else f"{size} bytes"))
    for tlv in image.tlvs:
        where = "protected " if tlv.protected else ""
        rows.append((f"{where}TLV {tlv.name}", f"type 0x{tlv.type:02x}, {len(tlv.value)} bytes"))
    rows += [check.row() for check in image.checks]
    rows.append(("signature", "not verified on the host (MCUboot checks it at boot)"))
    return rows


def to_json(image: McubootImage) -> dict[str, object]:
    h = image.header
    return {
        "version": str(h.version),
        "load_address": h.load_address,
        "header_size": h.header_size,
        "image_size": h.image_size,
        "protected_tlv_size": h.protected_tlv_size,
        "signed_size": image.signed_size,
        "flags": flag_names(h.flags),
        "encrypted": image.encrypted,
        "compressed": image.compressed,
        "decompressed_size": image.decompressed_size,
        "pure_signature": image.pure,
        "tlvs": [
            {"type": t.type, "name": t.name, "length": len(t.value), "protected": t.protected}
            for t in image.tlvs
        ],
    }
