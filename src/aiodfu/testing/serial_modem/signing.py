"""What the emulated modem accepts as genuine: delta patches and modem bootloaders it can verify.

A real nRF91 modem authenticates what it is given with Nordic's signatures:
it applies a delta patch only if the patch is genuine (and fits its
firmware), runs an uploaded modem bootloader only if its signature holds,
and boots new firmware only if it verifies. The Serial Modem's XDFU path
never sends the full-modem package's signed wrapper to the device (protocols
reference 7.3), so every such check rests on data inside what *is* sent.

The emulator cannot check Nordic's RSA signatures, so it models them with
digests it can check, carried in the same places:

* **Delta patch**: the last 32 bytes are the SHA-256 of everything before
  them (:func:`build_signed_modem_delta`). Any other patch -- a flipped bit,
  a truncated file, or a real Nordic patch -- is refused at activation with
  ``#XFOTA: 5,1,<NRF_MODEM_DFU_RESULT_AUTH_ERROR>``, as the modem refuses a
  patch that fails authentication.
* **Full modem**: the modem bootloader (segment 0) ends with a table of the
  firmware segments it will program -- address, length and SHA-256 of each,
  the digests a package's manifest vouches for -- and a SHA-256 over itself
  (:func:`build_signed_modem_bootloader`). Its apply reports
  ``#XDFU: 2,2,-1`` when that digest fails (the modem will not run an
  unsigned bootloader); after the final apply the new firmware boots only if
  every segment in modem flash matches its table entry, otherwise the device
  comes back as ``Bootloader mode ready`` (reference 5.4).

* **MCUboot signature** (application and bootloader images, when the
  emulator is built with ``mcuboot_signatures=True``, as an nRF Connect SDK
  MCUboot with signature validation is): the ECDSA-P256 TLV must hold the
  modelled signature of the image's hash (:func:`build_signed_mcuboot_image`).
  The hash covers the header, the code and the protected TLVs; only the
  signature covers the bytes after it, so without signature validation a
  corrupted signature goes unnoticed, on the emulator as on a device.

Build test packages with :func:`build_signed_full_modem_package`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from aiodfu.core import integrity
from aiodfu.core.errors import ImageError
from aiodfu.formats.mcuboot import parse_mcuboot
from aiodfu.formats.modem_delta import is_modem_delta
from aiodfu.testing.images import build_full_modem_package, build_mcuboot_image, build_modem_delta

__all__ = [
    "MODEM_DFU_AUTH_ERROR",
    "SegmentDigest",
    "build_signed_full_modem_package",
    "build_signed_mcuboot_image",
    "build_signed_modem_bootloader",
    "build_signed_modem_delta",
    "modem_bootloader_table",
    "verify_mcuboot_signature",
    "verify_modem_delta",
]

MODEM_DFU_AUTH_ERROR = 0x4400003
"""``NRF_MODEM_DFU_RESULT_AUTH_ERROR``, the result for a delta patch the modem rejects."""

_DIGEST = 32
_TABLE_MAGIC = b"aMBL"
_ENTRY = struct.Struct("<II32s")
_FOOTER = struct.Struct("<I4s")  # entry count, magic; then the digest over everything before

_MCUBOOT_KEY = b"aiodfu emulated MCUboot signing key"
_ECDSA_P256 = 0x22

SegmentDigest = tuple[int, int, bytes]
"""``(address, length, sha256)`` of one firmware segment."""


def build_signed_modem_delta(payload: bytes) -> bytes:
    """A delta patch the emulated modem authenticates: the patch, then its SHA-256."""
    patch = build_modem_delta(payload)
    return patch + integrity.sha256(patch)


def verify_modem_delta(patch: bytes) -> bool:
    """Whether the emulated modem takes ``patch`` as a genuine delta."""
    if len(patch) < 8 + _DIGEST or not is_modem_delta(patch):
        return False
    return integrity.sha256(patch[:-_DIGEST]) == patch[-_DIGEST:]


def build_signed_modem_bootloader(code: bytes, firmware: Sequence[tuple[int, bytes]]) -> bytes:
    """A modem bootloader segment that vouches for ``firmware`` ``(address, data)`` segments."""
    table = b"".join(
        _ENTRY.pack(address, len(data), integrity.sha256(data)) for address, data in firmware
    )
    signed = code + table + _FOOTER.pack(len(firmware), _TABLE_MAGIC)
    return signed + integrity.sha256(signed)


def build_signed_full_modem_package(code: bytes, firmware: Sequence[tuple[int, bytes]]) -> bytes:
    """A full-modem ``.cbor`` package the emulated modem installs (see the module docstring)."""
    return build_full_modem_package(build_signed_modem_bootloader(code, firmware), firmware)


def modem_bootloader_table(bootloader: bytes) -> tuple[SegmentDigest, ...] | None:
    """The firmware segments a genuine modem bootloader vouches for; ``None`` if not genuine."""
    end = len(bootloader) - _DIGEST
    if end < _FOOTER.size or integrity.sha256(bootloader[:end]) != bootloader[end:]:
        return None
    count, magic = _FOOTER.unpack_from(bootloader, end - _FOOTER.size)
    start = end - _FOOTER.size - count * _ENTRY.size
    if magic != _TABLE_MAGIC or start < 0:
        return None
    return tuple(_ENTRY.unpack_from(bootloader, start + i * _ENTRY.size) for i in range(count))


def _mcuboot_signature(image_hash: bytes) -> bytes:
    """The modelled ECDSA-P256 signature of an image hash: 64 bytes only the "key" makes."""
    return integrity.sha256(_MCUBOOT_KEY + image_hash) + integrity.sha256(image_hash + _MCUBOOT_KEY)


def build_signed_mcuboot_image(body: bytes, **options: Any) -> bytes:
    """:func:`~aiodfu.testing.build_mcuboot_image` with a signature the emulated MCUboot takes.

    ``options`` are those of ``build_mcuboot_image``; its placeholder signature
    (the last TLV, 64 bytes) is replaced by the modelled one.
    """
    image = build_mcuboot_image(body, **options)
    parsed = parse_mcuboot(image)
    assert parsed.hash_tlv is not None
    return image[:-64] + _mcuboot_signature(parsed.hash_tlv.value)


def verify_mcuboot_signature(image: bytes) -> bool:
    """Whether ``image`` is a valid MCUboot image whose signature TLV is genuine (modelled)."""
    try:
        parsed = parse_mcuboot(image)
    except ImageError:
        return False
    signatures = [tlv.value for tlv in parsed.tlvs if tlv.type == _ECDSA_P256]
    if parsed.hash_tlv is None or len(signatures) != 1:
        return False
    return signatures[0] == _mcuboot_signature(parsed.hash_tlv.value)
