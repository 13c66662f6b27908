"""ESP-IDF application images (``esptool elf2image``, ``idf.py build``), checked on the host.

The layout (ESP-IDF ``esp_image_format.h``): a 24-byte header (magic 0xE9,
segment count, SPI settings, entry point, then the extended header with the
chip id, chip revisions and ``hash_appended``), the segments (8-byte load
address and length, then the data), zero padding to the byte before a 16-byte
boundary, the checksum byte (0xEF XOR every segment data byte) and, when
``hash_appended`` is 1, the SHA-256 of everything before it. An app's first
segment starts with its ``esp_app_desc_t`` (magic 0xABCD5432: version, project,
IDF version), which is reported when present.

After the image a file may carry 0xFF padding (``elf2image --pad-to-size``) or
a Secure Boot signature (v1: 68 bytes; v2: a 4 KiB sector of 0xE7 blocks on a
4 KiB boundary): both are accepted and reported, and signatures are not
verified (that needs the device's key digest). Anything else after the image
is refused.

:func:`verify` is the pull-side check: a host that downloaded an app image
calls it before installing.
"""

from __future__ import annotations

import hashlib
import struct

import attrs

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.formats.checks import Check, CheckStatus

MAGIC = 0xE9
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16
APP_DESC_MAGIC = 0xABCD5432
SIGNATURE_SECTOR = 4096
SECURE_BOOT_V2_BLOCK_MAGIC = 0xE7
SECURE_BOOT_V1_SIZE = 4 + 64

HEADER = struct.Struct("<BBBBI B3sHBHH4sB")
HEADER_SIZE = HEADER.size  # 24
SEGMENT = struct.Struct("<II")
_APP_DESC = struct.Struct("<III4x32s32s16s16s32s32s")

CHIP_NAMES: dict[int, str] = {
    0: "ESP32",
    2: "ESP32-S2",
    5: "ESP32-C3",
    9: "ESP32-S3",
    12: "ESP32-C2",
    13: "ESP32-C6",
    16: "ESP32-H2",
    18: "ESP32-P4",
    20: "ESP32-C61",
    23: "ESP32-C5",
    25: "ESP32-H21",
    28: "ESP32-H4",
}


@attrs.frozen
class EspSegment:
    load_address: int
    offset: int  # of the data, in the file
    length: int


@attrs.frozen
class EspAppDescription:
    """The app's ``esp_app_desc_t`` (strings decoded, NULs dropped)."""

    version: str
    project_name: str
    idf_version: str
    build_time: str
    build_date: str
    secure_version: int
    elf_sha256: bytes = attrs.field(repr=lambda v: v.hex())


@attrs.frozen
class EspAppImage:
    """A parsed ESP-IDF app image; ``checks`` say what matched (see :func:`parse_esp_app`)."""

    chip_id: int
    entry_address: int
    segments: tuple[EspSegment, ...]
    checksum: int
    digest: bytes | None = attrs.field(repr=lambda v: v.hex() if v else "None")
    image_size: int
    app: EspAppDescription | None
    extra: str | None
    checks: tuple[Check, ...]
    min_chip_revision: int = 0
    max_chip_revision: int = 0

    @property
    def chip(self) -> str:
        return CHIP_NAMES.get(self.chip_id, f"chip id {self.chip_id}")

    @property
    def verification(self) -> str:
        """How the image was checked, in one line (what a pull reports as its verification)."""
        if self.digest is not None:
            return (
                f"ESP-IDF app image: XOR checksum 0x{self.checksum:02x} and appended SHA-256 "
                f"{self.digest.hex()} match"
            )
        return (
            f"ESP-IDF app image: XOR checksum 0x{self.checksum:02x} matches "
            "(no appended SHA-256: built without hash_appended, a weak check)"
        )


def is_esp_app(data: bytes) -> bool:
    """True when the header looks like an ESP32-family image (magic, segment count, hash flag)."""
    return (
        len(data) >= HEADER_SIZE
        and data[0] == MAGIC
        and 1 <= data[1] <= MAX_SEGMENTS
        and data[HEADER_SIZE - 1] in (0, 1)
    )


def verify(data: bytes) -> EspAppImage:
    """Check a downloaded ESP-IDF app image before it is installed.

    Returns the parsed image (its ``verification`` says what matched); raises
    :class:`ImageIntegrityError` when the checksum or the appended SHA-256 does
    not match, and :class:`ImageError` when the file is not an app image.
    """
    return parse_esp_app(data, verify=True)


def parse_esp_app(data: bytes, *, verify: bool = True) -> EspAppImage:
    """Parse an ESP-IDF app image and check its checksum and appended SHA-256.

    With ``verify=False`` a mismatch is recorded in ``checks`` instead of raised.
    """
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ImageError(
            f"not an ESP-IDF app image: only {len(data)} bytes, the header needs {HEADER_SIZE}",
            offset=0,
        )
    (magic, count, _mode, _speed, entry, _wp, _drv, chip, _rev, min_rev, max_rev, _, hashed) = (
        HEADER.unpack_from(data)
    )
    if magic != MAGIC:
        raise ImageError(
            f"not an ESP-IDF app image: first byte is 0x{magic:02x}, expected 0xe9", offset=0
        )
    if not 1 <= count <= MAX_SEGMENTS:
        raise ImageError(
            f"ESP image header declares {count} segments; the bootloader takes 1 to {MAX_SEGMENTS}",
            offset=1,
        )
    if hashed not in (0, 1):
        raise ImageError(
            f"ESP image hash_appended is {hashed}, expected 0 or 1 (an ESP8266 image, or not "
            "an app image)",
            offset=HEADER_SIZE - 1,
        )
    segments = _segments(data, count)
    end = segments[-1].offset + segments[-1].length
    checksum_at = end + 15 - end % 16
    _need(data, checksum_at + 1, "the checksum byte")
    computed = CHECKSUM_SEED
    for segment in segments:
        computed ^= xor_checksum(memoryview(data)[segment.offset : segment.offset + segment.length])
    stored = data[checksum_at]
    checks = [
        Check.compare(
            "checksum", stored == computed, f"stored 0x{stored:02x}, computed 0x{computed:02x}"
        )
    ]
    image_end = checksum_at + 1
    digest = None
    if hashed:
        _need(data, image_end + 32, "the appended SHA-256")
        digest = data[image_end : image_end + 32]
        actual = hashlib.sha256(memoryview(data)[:image_end]).digest()
        detail = f"stored {digest.hex()}" + (
            "" if actual == digest else f", computed {actual.hex()}"
        )
        checks.append(Check.compare("sha256", actual == digest, detail))
        image_end += 32
    else:
        checks.append(Check.skipped("sha256", "hash_appended is 0: the image carries no SHA-256"))
    if verify:
        raise_mismatch(checks, checksum_at, image_end)
    extra = _extra(data, image_end)
    return EspAppImage(
        chip_id=chip,
        entry_address=entry,
        segments=segments,
        checksum=stored,
        digest=digest,
        image_size=image_end,
        app=_app_description(data, segments[0]),
        extra=extra,
        checks=tuple(checks),
        min_chip_revision=min_rev,
        max_chip_revision=max_rev,
    )


def _segments(data: bytes, count: int) -> tuple[EspSegment, ...]:
    segments = []
    pos = HEADER_SIZE
    for index in range(count):
        _need(data, pos + SEGMENT.size, f"segment {index}'s header")
        address, length = SEGMENT.unpack_from(data, pos)
        if length > len(data) - pos - SEGMENT.size:
            raise ImageError(
                f"ESP image segment {index} declares {length} bytes but only "
                f"{len(data) - pos - SEGMENT.size} follow its header: the segment table lies "
                "or the file is truncated",
                offset=pos,
            )
        if length % 4:
            raise ImageError(
                f"ESP image segment {index} is {length} bytes, not a multiple of 4; the "
                "bootloader refuses it",
                offset=pos + 4,
            )
        segments.append(EspSegment(address, pos + SEGMENT.size, length))
        pos += SEGMENT.size + length
    return tuple(segments)


def xor_checksum(data: memoryview) -> int:
    """XOR of every byte, one C-speed pass per bit (no Python loop over the data)."""
    raw, result = bytes(data), 0
    for bit in range(8):
        if raw.translate(_BIT_TABLES[bit]).count(1) & 1:
            result |= 1 << bit
    return result


_BIT_TABLES = [bytes((value >> bit) & 1 for value in range(256)) for bit in range(8)]


def raise_mismatch(checks: list[Check], checksum_at: int, digest_at: int) -> None:
    """Raise for the first failed check, naming the offset of the stored value."""
    for check in checks:
        if check.status is CheckStatus.MISMATCH:
            offset = checksum_at if check.name == "checksum" else digest_at - 32
            what = "XOR checksum" if check.name == "checksum" else "appended SHA-256"
            raise ImageIntegrityError(
                f"ESP image {what} does not match ({check.detail}): the file is corrupt or "
                "incomplete; download or build it again",
                offset=offset,
            )


def _extra(data: bytes, end: int) -> str | None:
    """What follows the image: nothing, 0xFF padding or a Secure Boot signature."""
    tail = memoryview(data)[end:]
    if not tail:
        return None
    if not bytes(tail).strip(b"\xff"):
        return f"{len(tail)} bytes of 0xff padding"
    if len(tail) == SECURE_BOOT_V1_SIZE and tail[:4] == bytes(4):
        return "Secure Boot v1 signature (68 bytes, not verified on the host)"
    sector = -(-end // SIGNATURE_SECTOR) * SIGNATURE_SECTOR
    if (
        len(data) - sector == SIGNATURE_SECTOR
        and data[sector] == SECURE_BOOT_V2_BLOCK_MAGIC
        and not data[end:sector].strip(b"\xff")
    ):
        return "Secure Boot v2 signature sector (not verified on the host)"
    raise ImageError(
        f"ESP image ends at {end} but the file has {len(tail)} more bytes that are neither "
        "0xff padding nor a Secure Boot signature; it is not a single app image (a merged "
        "flash image?) - extract the app partition",
        offset=end,
    )


def _app_description(data: bytes, first: EspSegment) -> EspAppDescription | None:
    if first.length < _APP_DESC.size:
        return None
    magic, secure_version, _, version, project, time, date, idf, elf = _APP_DESC.unpack_from(
        data, first.offset
    )
    if magic != APP_DESC_MAGIC:
        return None
    return EspAppDescription(
        version=_text(version),
        project_name=_text(project),
        idf_version=_text(idf),
        build_time=_text(time),
        build_date=_text(date),
        secure_version=secure_version,
        elf_sha256=elf,
    )


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise ImageError(
            f"ESP image is truncated: {what} needs bytes up to {end}, the file has {len(data)}",
            offset=len(data),
        )


def describe_rows(image: EspAppImage) -> list[tuple[str, str]]:
    rows = [
        ("chip", image.chip),
        ("entry address", f"0x{image.entry_address:08x}"),
        ("image size", f"{image.image_size} bytes"),
    ]
    if image.app is not None:
        app = image.app
        rows += [
            ("app version", app.version),
            ("project", app.project_name),
            ("ESP-IDF", app.idf_version),
            ("built", f"{app.build_date} {app.build_time}"),
            ("secure version", str(app.secure_version)),
        ]
    for index, seg in enumerate(image.segments):
        rows.append(
            (
                f"segment {index}",
                f"load 0x{seg.load_address:08x}, {seg.length} bytes at {seg.offset}",
            )
        )
    if image.extra is not None:
        rows.append(("after the image", image.extra))
    return rows + [check.row() for check in image.checks]


def to_json(image: EspAppImage) -> dict[str, object]:
    app = image.app
    return {
        "chip": image.chip,
        "chip_id": image.chip_id,
        "entry_address": image.entry_address,
        "image_size": image.image_size,
        "segments": [
            {"load_address": s.load_address, "offset": s.offset, "length": s.length}
            for s in image.segments
        ],
        "app": None
        if app is None
        else {
            "version": app.version,
            "project_name": app.project_name,
            "idf_version": app.idf_version,
            "build_date": app.build_date,
            "build_time": app.build_time,
            "secure_version": app.secure_version,
            "elf_sha256": app.elf_sha256.hex(),
        },
        "after_image": image.extra,
    }
