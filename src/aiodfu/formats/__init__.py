"""Load firmware files and find out what they are, before any byte reaches a device.

Containers are unwrapped first (Intel HEX is flattened to its binary with
``intelhex``; a Nordic full-modem zip gives its ``firmware.update.image.cbor``),
then the binary is identified by its magic and parsed by the module for its
kind. A parser that rejects a file raises :class:`~aiodfu.core.errors.ImageError`
saying what is wrong and where; nothing else escapes for malformed input.
"""

from __future__ import annotations

import io
import lzma
import os
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from aiodfu.core.errors import ImageError, ImageFileNotFoundError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.formats import intel_hex, mcuboot, modem_delta, modem_full

__all__ = ["FULL_MODEM_ZIP_MEMBER", "MAX_ZIP_MEMBER_SIZE", "describe", "identify", "load_image"]

FULL_MODEM_ZIP_MEMBER = "firmware.update.image.cbor"
MAX_ZIP_MEMBER_SIZE = 64 * 1024 * 1024  # full modem images are a few MiB; refuse zip bombs
_ZIP_MAGIC = b"PK\x03\x04"
_MCUBOOT_MAGICS = (mcuboot.MAGIC.to_bytes(4, "little"), mcuboot.MAGIC_V1.to_bytes(4, "little"))
_COSE_SIGN1_START = b"\xd2\x84"  # tag 18, array of 4
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    kind: ImageKind | None = None,
    name: str | None = None,
) -> FirmwareImage:
    """Read a firmware file (a path, or its bytes) and check it.

    ``kind`` forces the format (the file is rejected if it does not fit);
    otherwise it is detected. Hex and zip containers are always unwrapped.
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = os.fspath(source)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ImageFileNotFoundError(
                f"no such firmware file: {path}", operation="load_image"
            ) from None
        name = name if name is not None else path
    if not data:
        raise ImageError("firmware file is empty")
    converted_from: str | None = None
    details: object | None = None
    if data.startswith(_ZIP_MAGIC):
        data, converted_from = _zip_member(data), "zip"
    elif intel_hex.looks_like_intel_hex(data):
        data, details = intel_hex.hex_to_binary(data)
        converted_from = "intel-hex"
    kind = identify(data) if kind is None else kind
    parsed = _parse(data, kind)
    if parsed is not None:  # a hex file's origin is kept only when the binary has no format
        details = parsed
    return FirmwareImage(
        data=data, kind=kind, details=details, source=name, converted_from=converted_from
    )


def identify(data: bytes) -> ImageKind:
    """The kind of a binary image, from its magic alone (``load_image`` parses it fully).

    An old v1 MCUboot magic counts as MCUboot so that loading it fails with a
    clear message instead of passing as a raw image.
    """
    if data[:4] in _MCUBOOT_MAGICS:
        return ImageKind.MCUBOOT
    if modem_delta.is_modem_delta(data):
        return ImageKind.MODEM_DELTA
    if data.startswith(_COSE_SIGN1_START):
        return ImageKind.MODEM_FULL
    return ImageKind.RAW


def describe(image: FirmwareImage) -> list[tuple[str, str]]:
    """Metadata rows (label, value) for ``aiodfu inspect``; a bad hash is shown, not raised."""
    rows = [
        ("kind", image.kind.value),
        ("size", f"{len(image)} bytes"),
        ("sha256", image.sha256.hex()),
    ]
    if image.source is not None:
        rows.append(("source", image.source))
    if image.converted_from is not None:
        rows.append(("converted from", image.converted_from))
    details = image.details
    if details is None and image.kind is not ImageKind.RAW:
        try:
            details = _parse(image.data, image.kind, verify=False)
        except ImageError as exc:
            return [*rows, ("error", str(exc))]
    return rows + _detail_rows(details)


def _detail_rows(details: object) -> list[tuple[str, str]]:
    if isinstance(details, mcuboot.McubootImage):
        return mcuboot.describe_rows(details)
    if isinstance(details, modem_delta.ModemDelta):
        return modem_delta.describe_rows(details)
    if isinstance(details, modem_full.FullModemPackage):
        return modem_full.describe_rows(details)
    if isinstance(details, intel_hex.HexOrigin):
        return intel_hex.describe_rows(details)
    return []


def _parse(data: bytes, kind: ImageKind, *, verify: bool = True) -> object | None:
    if kind is ImageKind.MCUBOOT:
        return mcuboot.parse_mcuboot(data, verify=verify)
    if kind is ImageKind.MODEM_DELTA:
        return modem_delta.parse_modem_delta(data)
    if kind is ImageKind.MODEM_FULL:
        return modem_full.parse_full_modem(data, verify=verify)
    return None


def _zip_member(data: bytes) -> bytes:
    """The full-modem image inside a Nordic zip, read with a bound on its size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if PurePosixPath(info.filename).name == FULL_MODEM_ZIP_MEMBER
            ]
            if len(members) != 1:
                raise ImageError(
                    f"zip file has {len(members)} members named {FULL_MODEM_ZIP_MEMBER}, "
                    "expected one (only Nordic full-modem zips are loaded this way; "
                    "extract other images and load them directly)"
                )
            info = members[0]
            if info.file_size > MAX_ZIP_MEMBER_SIZE:
                raise _too_big(info.file_size)
            with archive.open(info) as member:
                content = member.read(MAX_ZIP_MEMBER_SIZE + 1)
    except ImageError:
        raise
    except _ZIP_ERRORS as exc:
        raise ImageError(f"cannot read zip file: {exc}") from exc
    if len(content) > MAX_ZIP_MEMBER_SIZE:
        raise _too_big(len(content))
    return content


def _too_big(size: int) -> ImageError:
    return ImageError(
        f"zip member {FULL_MODEM_ZIP_MEMBER} decompresses to {size} bytes, more than the "
        f"{MAX_ZIP_MEMBER_SIZE}-byte limit; it is not a modem image (or a zip bomb)"
    )
