"""An image's own integrity, checked on the host: the pull side's verification of last resort.

A pulled image (from an ESP-AT module, a Notecard) may carry a digest of its
own -- an MCUboot image its hash TLV, an ESP-IDF app image its appended
SHA-256 -- that proves the bytes arrived as they were built, even when the
protocol that carried them checks nothing. :func:`check_own_integrity` is
the ``self_check`` the pull engine (:mod:`aiodfu.core.pull`) runs before
``install``.

An image that does not start with MCUboot's magic but is laid out as one (its TLV
area exactly where its header puts it) is an MCUboot image whose first bytes
were damaged on the way: a mismatch, not a raw image with nothing to check.

Only a cryptographic digest counts as verification: an encrypted MCUboot
image (its hash covers the plaintext) and an ESP-IDF image without an
appended SHA-256 (only an 8-bit XOR checksum) are still checked as far as
they can be -- a mismatch is refused -- but leave the image unverified.

An image in memory is parsed whole by :mod:`~aiodfu.formats.mcuboot` /
:mod:`~aiodfu.formats.esp_app`. An image pulled into a file
(:class:`~aiodfu.core.sinks.PulledFile`) is checked without loading it: its
header and TLV area / segment headers are read, and the digests computed over
the file in blocks of :data:`~aiodfu.core.sinks.BLOCK_SIZE`. That streamed
check decides the same way wherever a digest is involved (the differential
tests hold it to that); what follows the signed image -- an MCUboot slot's
padding and trailer, an ESP image's padding or Secure Boot signature sector --
carries no integrity and is not looked at there (``aiodfu inspect`` does).

What the digest does not cover -- an MCUboot image's unprotected TLVs (its
signature) and whatever follows them, what follows an ESP-IDF app image's
appended SHA-256 (a Secure Boot signature block) -- is reported as the
result's :attr:`~aiodfu.core.pull.OwnVerification.uncovered` range, for the
pull engine to read a second time (:func:`aiodfu.core.pull.reread_uncovered`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterator

import attrs

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.core.pull import OwnVerification
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.core.sinks import PulledFile, PulledImage, read_range
from aiodfu.formats import esp_app, identify, mcuboot
from aiodfu.formats.checks import Check, CheckStatus

__all__ = ["check_own_integrity"]

_IDENTIFY_BYTES = 64
"""Enough of an image's start for :func:`aiodfu.formats.identify` (it reads magics only)."""


def check_own_integrity(image: PulledImage) -> Verification | None:
    """The image's own check, ``None`` if it has none; ImageIntegrityError on a mismatch.

    A match is an :class:`~aiodfu.core.pull.OwnVerification`: its ``uncovered``
    is the ``[start, end)`` its digest does not cover (``None``: all of it).
    """
    if isinstance(image, PulledFile):
        return _check_file(image)
    kind = identify(image.data)
    if kind is ImageKind.MCUBOOT:
        parsed = mcuboot.parse_mcuboot(image.data, verify=True)
        matched = [check for check in parsed.checks if check.status is CheckStatus.OK]
        if parsed.hash_tlv is None or not matched:
            return None
        return _mcuboot_matched(parsed.hash_tlv, _hashed_end(parsed.header), len(image.data))
    if kind is ImageKind.ESP_APP:
        return _esp_verified(esp_app.verify(image.data), len(image.data))
    _refuse_damaged_mcuboot(image)
    return None


def _refuse_damaged_mcuboot(image: PulledImage) -> None:
    """An image laid out as MCUboot but without its magic was damaged on the way (its first
    bytes): refused as a mismatch, not passed as a raw image with nothing to check."""
    read = functools.partial(read_range, image)
    if mcuboot.laid_out_as_mcuboot(read, len(image)):
        raise ImageIntegrityError(
            f"the image is laid out as an MCUboot image (its TLV area is where its header "
            f"puts it) but starts {read(0, 4).hex(' ')}, not MCUboot's magic 3d b8 f3 96: "
            "its first bytes were damaged on the way",
            offset=0,
        )


def _hashed_end(header: mcuboot.McubootHeader) -> int:
    """Where an MCUboot image's hash ends: after its header, body and protected TLVs."""
    return header.header_size + header.image_size + header.protected_tlv_size


def _uncovered(start: int, end: int) -> tuple[int, int] | None:
    return (start, end) if start < end else None


def _mcuboot_matched(tlv: mcuboot.Tlv, hashed_end: int, size: int) -> Verification:
    return OwnVerification(
        VerificationMethod.HOST_DIGEST,
        f"its MCUboot {mcuboot.HASH_TLVS[tlv.type][0].upper().replace('SHA', 'SHA-')} TLV "
        f"matched ({tlv.value.hex()[:16]}...)",
        _uncovered(hashed_end, size),
    )


def _esp_verified(app: esp_app.EspAppImage, size: int) -> Verification | None:
    if app.digest is None:
        return None
    return OwnVerification(
        VerificationMethod.HOST_DIGEST, app.verification, _uncovered(app.image_size, size)
    )


def _check_file(image: PulledFile) -> Verification | None:
    kind = identify(image.read(0, _IDENTIFY_BYTES))
    if kind is ImageKind.MCUBOOT:
        return _check_mcuboot_file(image)
    if kind is ImageKind.ESP_APP:
        return _esp_verified(_check_esp_file(image), len(image))
    _refuse_damaged_mcuboot(image)
    return None


def _digest(image: PulledFile, algorithm: str, end: int) -> bytes:
    hasher = hashlib.new(algorithm)
    for block in image.blocks(0, end):
        hasher.update(block)
    return hasher.digest()


def _need(image: PulledFile, end: int, what: str, kind: str) -> None:
    if end > len(image):
        raise ImageError(
            f"{kind} image is truncated: {what} needs bytes up to {end}, the file has {len(image)}",
            offset=len(image),
        )


# --- MCUboot: the header, the TLV areas, and the hash over everything before the TLVs --------


def _check_mcuboot_file(image: PulledFile) -> Verification | None:
    header = mcuboot.parse_header(image.read(0, mcuboot.HEADER_SIZE))
    protected_start = header.header_size + header.image_size
    hashed_end = _hashed_end(header)
    tlvs = []
    if header.protected_tlv_size:
        tlvs += _tlv_area(
            image, protected_start, mcuboot.PROTECTED_TLV_MAGIC, header.protected_tlv_size
        )
    tlvs += _tlv_area(image, hashed_end, mcuboot.TLV_MAGIC, None)
    mcuboot.check_encryption_key(header, tlvs)  # else one flipped flag bit skips the hash
    tlv = mcuboot.find_hash_tlv(tlvs)
    if tlv is None or header.flags & mcuboot.FLAGS_ENCRYPTED:
        return None  # a pure signature, or a hash over the plaintext: nothing the host can check
    name = mcuboot.HASH_TLVS[tlv.type][0]
    computed = _digest(image, name, hashed_end)
    if computed != tlv.value:
        raise ImageIntegrityError(
            f"MCUboot {mcuboot.tlv_label(tlv.type)} TLV does not match the image: stored "
            f"{tlv.value.hex()}, computed {computed.hex()}; the file is corrupt or was modified "
            "after signing; sign it again or fetch a good copy",
            offset=tlv.offset,
        )
    return _mcuboot_matched(tlv, hashed_end, len(image))


def _tlv_area(
    image: PulledFile, start: int, magic: int, expected_tot: int | None
) -> list[mcuboot.Tlv]:
    """One TLV area, read on its own and parsed by :mod:`~aiodfu.formats.mcuboot`."""
    what = "TLV area" if expected_tot is None else "protected TLV area"
    _need(image, start + 4, f"the {what}'s info header", "MCUboot")
    size = max(int.from_bytes(image.read(start + 2, 2), "little"), 4)  # tlv_tot: 16 bits
    _need(image, start + size, f"the {what}", "MCUboot")
    area = image.read(start, size)
    with _shifted(start):
        tlvs = mcuboot.parse_tlv_area(area, 0, magic, expected_tot, expected_tot is not None)
    return [attrs.evolve(tlv, offset=tlv.offset + start) for tlv in tlvs]


@contextlib.contextmanager
def _shifted(start: int) -> Iterator[None]:
    """Errors of a parser that saw a piece starting at ``start``, with file offsets."""
    try:
        yield
    except ImageError as exc:
        offset = None if exc.offset is None else exc.offset + start
        raise type(exc)(exc.message, operation=exc.operation, offset=offset) from None


# --- ESP-IDF app: segment headers, the XOR checksum over their data, the appended SHA-256 -----


def _check_esp_file(image: PulledFile) -> esp_app.EspAppImage:
    head = image.read(0, esp_app.HEADER_SIZE)  # identify() saw a whole, plausible header
    fields = esp_app.HEADER.unpack_from(head)
    entry, chip, min_rev, max_rev, hashed = fields[4], fields[7], fields[9], fields[10], fields[12]
    segments = []
    checksum = esp_app.CHECKSUM_SEED
    position = esp_app.HEADER_SIZE
    for index in range(fields[1]):
        _need(image, position + 8, f"segment {index}'s header", "ESP")
        address, length = esp_app.SEGMENT.unpack_from(image.read(position, 8))
        data_start = position + 8
        if data_start + length > len(image):
            raise ImageError(
                f"ESP image segment {index} declares {length} bytes but only "
                f"{len(image) - data_start} follow its header: the segment table lies or the "
                "file is truncated",
                offset=position,
            )
        if length % 4:
            raise ImageError(
                f"ESP image segment {index} is {length} bytes, not a multiple of 4; the "
                "bootloader refuses it",
                offset=position + 4,
            )
        for block in image.blocks(data_start, data_start + length):
            checksum ^= esp_app.xor_checksum(memoryview(block))
        segments.append(esp_app.EspSegment(address, data_start, length))
        position = data_start + length
    checksum_at = position + 15 - position % 16
    _need(image, checksum_at + 1, "the checksum byte", "ESP")
    stored = image.read(checksum_at, 1)[0]
    checks = [
        Check.compare(
            "checksum", stored == checksum, f"stored 0x{stored:02x}, computed 0x{checksum:02x}"
        )
    ]
    image_end = checksum_at + 1
    digest = None
    if hashed:
        _need(image, image_end + 32, "the appended SHA-256", "ESP")
        digest = image.read(image_end, 32)
        actual = _digest(image, "sha256", image_end)
        detail = f"stored {digest.hex()}" + (
            "" if actual == digest else f", computed {actual.hex()}"
        )
        checks.append(Check.compare("sha256", actual == digest, detail))
        image_end += 32
    esp_app.raise_mismatch(checks, checksum_at, image_end)
    return esp_app.EspAppImage(
        chip_id=chip,
        entry_address=entry,
        segments=tuple(segments),
        checksum=stored,
        digest=digest,
        image_size=image_end,
        app=None,
        extra=None,
        checks=tuple(checks),
        min_chip_revision=min_rev,
        max_chip_revision=max_rev,
    )
