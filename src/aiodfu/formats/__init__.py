"""Load firmware files and find out what they are, before any byte reaches a device.

Containers are unwrapped first (Intel HEX is flattened to its binary with
``intelhex``, nRF configuration records removed; a Nordic full-modem zip gives
its ``firmware.update.image.cbor``; an nRF5 DFU package stays a zip, read by
:mod:`aiodfu.formats.nrf5_package`), then the binary is identified by its magic
and parsed by the module for its kind (MCUboot, ESP-IDF app, modem delta, full
modem). A parser that rejects a file raises :class:`~aiodfu.core.errors.ImageError`
saying what is wrong and where; nothing else escapes for malformed input. What
each format's checks cover, and what cannot be checked, is in docs/formats.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeGuard

from aiodfu.core.errors import ImageError, ImageFileNotFoundError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.formats import (
    esp_app,
    intel_hex,
    mcuboot,
    mcuboot_trailer,
    modem_delta,
    modem_full,
    nrf5_package,
    nrf5_secure,
    nrf_hex,
)
from aiodfu.formats.checks import Check
from aiodfu.formats.zipped import ZIP_MAGIC, BoundedZip

if TYPE_CHECKING:
    from aiodfu.nrf5_legacy.package import Package

__all__ = [
    "FULL_MODEM_ZIP_MEMBER",
    "MAX_FILE_SIZE",
    "MAX_ZIP_MEMBER_SIZE",
    "checks_of",
    "describe",
    "describe_json",
    "identify",
    "load_image",
]

FULL_MODEM_ZIP_MEMBER = "firmware.update.image.cbor"
MAX_ZIP_MEMBER_SIZE = 64 * 1024 * 1024  # full modem images are a few MiB; refuse zip bombs
MAX_FILE_SIZE = 256 * 1024 * 1024
"""No firmware file aiodfu reads is larger (Intel HEX of the largest image included)."""
_MCUBOOT_MAGICS = (mcuboot.MAGIC.to_bytes(4, "little"), mcuboot.MAGIC_V1.to_bytes(4, "little"))
_COSE_SIGN1_START = b"\xd2\x84"  # tag 18, array of 4
_PACKAGE_KINDS = (ImageKind.NRF5_LEGACY_PACKAGE, ImageKind.NRF5_SECURE_PACKAGE)


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    kind: ImageKind | None = None,
    name: str | None = None,
    keep_trailer: bool = False,
    verify: bool = True,
) -> FirmwareImage:
    """Read a firmware file (a path, or its bytes) and check it.

    ``kind`` forces the format (the file is rejected if it does not fit);
    otherwise it is detected. Hex and zip containers are always unwrapped,
    except nRF5 DFU packages, whose image keeps the zip's bytes (a package is
    several images, sent in order by :mod:`aiodfu.nrf5_legacy`).
    An MCUboot image padded to its slot (``imgtool sign --pad``) loses the
    padding and trailer unless ``keep_trailer`` is True (its ``details`` say
    which trailer it had). ``verify=False`` loads a file whose hash or CRC
    does not match (the failed check is in ``details``) instead of raising
    :class:`~aiodfu.core.errors.ImageIntegrityError`; malformed files still raise.
    """
    data, name = _read(source, name)
    converted_from: str | None = None
    details: object | None = None
    if data.startswith(ZIP_MAGIC):
        zipped = BoundedZip(data)
        try:
            if not _modem_members(zipped):
                return _load_package(zipped, data, kind, name, verify)
            data, converted_from = _zip_member(zipped), "zip"
        finally:
            zipped.close()
    elif intel_hex.looks_like_intel_hex(data):
        data, details = intel_hex.hex_to_binary(data, strip=nrf_hex.strip_for_image)
        converted_from = "intel-hex"
    kind = identify(data) if kind is None else kind
    parsed = _parse(data, kind, verify=verify)
    if isinstance(parsed, mcuboot.McubootImage) and parsed.trailer and not keep_trailer:
        data = data[: parsed.signed_size]
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
    if esp_app.is_esp_app(data):
        return ImageKind.ESP_APP
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
    try:
        details = _details(image)
    except ImageError as exc:
        return [*rows, ("error", str(exc))]
    return rows + _detail_rows(image, details)


def describe_json(image: FirmwareImage) -> dict[str, object]:
    """What :func:`describe` says, as one JSON-ready object (``aiodfu --json inspect``).

    Keys: ``kind``, ``size``, ``sha256`` (of the bytes that would be sent),
    ``source``, ``converted_from``, ``checks`` (name, status, detail) and
    ``details`` (the format's fields, see docs/formats.md); ``error`` instead
    of the last two when the bytes do not parse as their kind.
    """
    out: dict[str, object] = {
        "kind": image.kind.value,
        "size": len(image),
        "sha256": image.sha256.hex(),
        "source": image.source,
        "converted_from": image.converted_from,
    }
    try:
        details = _details(image)
    except ImageError as exc:
        return {**out, "error": str(exc)}
    out["checks"] = [check.to_json() for check in checks_of(details)]
    out["details"] = _detail_json(image, details)
    return out


def checks_of(details: object) -> tuple[Check, ...]:
    """The integrity checks a parsed ``details`` records (empty when the format has none)."""
    if isinstance(details, mcuboot.McubootImage | esp_app.EspAppImage):
        return details.checks
    if isinstance(details, nrf5_secure.SecurePackage):
        return details.checks
    if isinstance(details, modem_full.FullModemPackage):
        return (modem_full.blob_check(details),)
    if isinstance(details, modem_delta.ModemDelta):
        return (Check.skipped("compatibility", "checked by the modem against its firmware"),)
    if _is_legacy_package(details):
        return nrf5_package.legacy_checks(details)
    return ()


def _details(image: FirmwareImage) -> object | None:
    if image.details is not None or image.kind is ImageKind.RAW:
        return image.details
    return _parse(image.data, image.kind, verify=False)


def _detail_rows(image: FirmwareImage, details: object) -> list[tuple[str, str]]:
    if isinstance(details, mcuboot.McubootImage):
        rows = mcuboot.describe_rows(details)
        if details.trailer is not None:
            kept = len(image.data) == details.trailer.slot_size
            rows += mcuboot_trailer.describe_rows(details.trailer, kept=kept)
        return rows
    if isinstance(details, modem_delta.ModemDelta):
        return modem_delta.describe_rows(details)
    if isinstance(details, modem_full.FullModemPackage):
        return modem_full.describe_rows(details)
    if isinstance(details, intel_hex.HexOrigin):
        return intel_hex.describe_rows(details)
    if isinstance(details, esp_app.EspAppImage):
        return esp_app.describe_rows(details)
    if isinstance(details, nrf5_secure.SecurePackage):
        return nrf5_secure.describe_rows(details)
    if _is_legacy_package(details):
        return nrf5_package.describe_legacy(details)
    return []


def _detail_json(image: FirmwareImage, details: object) -> dict[str, object]:
    if isinstance(details, mcuboot.McubootImage):
        out = mcuboot.to_json(details)
        trailer = details.trailer
        kept = trailer is not None and len(image.data) == trailer.slot_size
        out["trailer"] = trailer and mcuboot_trailer.to_json(trailer, kept=kept)
        return out
    if isinstance(details, modem_delta.ModemDelta):
        return {"patch_size": details.size}
    if isinstance(details, modem_full.FullModemPackage):
        return modem_full.to_json(details)
    if isinstance(details, intel_hex.HexOrigin):
        return {"hex": intel_hex.to_json(details)}
    if isinstance(details, esp_app.EspAppImage):
        return esp_app.to_json(details)
    if isinstance(details, nrf5_secure.SecurePackage):
        return nrf5_secure.to_json(details)
    if _is_legacy_package(details):
        return nrf5_package.legacy_to_json(details)
    return {}


def _is_legacy_package(details: object) -> TypeGuard[Package]:
    # Only a loaded aiodfu.nrf5_legacy.package can have made one; never import it for this.
    module = sys.modules.get("aiodfu.nrf5_legacy.package")
    return module is not None and isinstance(details, module.Package)


def _parse(data: bytes, kind: ImageKind, *, verify: bool = True) -> object | None:
    if kind is ImageKind.MCUBOOT:
        return mcuboot.parse_mcuboot(data, verify=verify)
    if kind is ImageKind.MODEM_DELTA:
        return modem_delta.parse_modem_delta(data)
    if kind is ImageKind.MODEM_FULL:
        return modem_full.parse_full_modem(data, verify=verify)
    if kind is ImageKind.ESP_APP:
        return esp_app.parse_esp_app(data, verify=verify)
    if kind in _PACKAGE_KINDS:
        raise ImageError(f"not a {kind.value}: an nRF5 DFU package is a zip file", offset=0)
    return None


def _read(source: str | os.PathLike[str] | bytes, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(os.fspath(source))
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageFileNotFoundError(
                f"no such firmware file: {path}", operation="load_image"
            ) from None
        if size > MAX_FILE_SIZE:
            raise ImageError(
                f"{path} is {size} bytes, more than {MAX_FILE_SIZE}; it is not a firmware file"
            )
        data = path.read_bytes()
        name = name if name is not None else os.fspath(source)
    if not data:
        raise ImageError("firmware file is empty")
    return data, name


def _modem_members(zipped: BoundedZip) -> list[str]:
    return [n for n in zipped.names if PurePosixPath(n).name == FULL_MODEM_ZIP_MEMBER]


def _load_package(
    zipped: BoundedZip, data: bytes, kind: ImageKind | None, name: str | None, verify: bool
) -> FirmwareImage:
    if not nrf5_package.is_nrf5_package(zipped.names):
        raise nrf5_package.not_a_known_zip(zipped.names, FULL_MODEM_ZIP_MEMBER)
    if kind is not None and kind not in _PACKAGE_KINDS:
        raise ImageError(f"the zip file is an nRF5 DFU package, not a {kind.value} image")
    found, details = nrf5_package.load_nrf5_package(zipped, data, verify=verify)
    if kind is not None and kind is not found:
        raise ImageError(f"the zip file is a {found.value}, not a {kind.value}")
    return FirmwareImage(data=data, kind=found, details=details, source=name)


def _zip_member(zipped: BoundedZip) -> bytes:
    """The full-modem image inside a Nordic zip, read with a bound on its size."""
    members = _modem_members(zipped)
    if len(members) != 1:
        raise ImageError(
            f"zip file has {len(members)} members named {FULL_MODEM_ZIP_MEMBER}, "
            "expected one (a Nordic full-modem zip holds exactly one)"
        )
    return zipped.read(
        members[0], MAX_ZIP_MEMBER_SIZE, "it is not a modem image (or it is a zip bomb)"
    )
