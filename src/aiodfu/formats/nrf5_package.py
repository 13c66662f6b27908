"""nRF5 DFU zips for :func:`aiodfu.load_image`: legacy packages (SDK <= 11) and Secure DFU ones.

A legacy package is read by :class:`aiodfu.nrf5_legacy.Package` (its parts,
init packets and CRC/hash checks live with the backend that sends them); a
Secure DFU package by :mod:`aiodfu.formats.nrf5_secure`, which identifies it
and checks its hashes but cannot send it. The ``FirmwareImage`` of either keeps
the zip's bytes, which is what ``Nrf5LegacySession.update`` reads again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from aiodfu.core.errors import ImageError, ImageIntegrityError
from aiodfu.core.image import ImageKind
from aiodfu.formats import nrf5_secure
from aiodfu.formats.checks import Check, CheckStatus
from aiodfu.formats.zipped import BoundedZip

if TYPE_CHECKING:
    from aiodfu.nrf5_legacy.package import Package

MAX_MANIFEST_SIZE = 64 * 1024
MAX_MEMBER_SIZE = 4 * 1024 * 1024
FIXED_NAMES = frozenset(
    f"{stem}.{suffix}"
    for stem in ("application", "softdevice", "bootloader")
    for suffix in ("bin", "hex")
)


def is_nrf5_package(names: set[str]) -> bool:
    """A zip with ``manifest.json`` or the fixed legacy member names."""
    return "manifest.json" in names or bool(names & FIXED_NAMES)


def load_nrf5_package(zipped: BoundedZip, data: bytes, *, verify: bool) -> tuple[ImageKind, object]:
    """``(kind, details)`` of an nRF5 DFU zip; mismatching hashes raise unless ``verify=False``."""
    manifest = _manifest(zipped)
    if manifest is not None and nrf5_secure.is_secure_manifest(manifest, _reader(zipped)):
        secure = nrf5_secure.parse_secure_package(manifest, _reader(zipped), limit=MAX_MEMBER_SIZE)
        if verify:
            _raise_mismatch(secure.checks, "Secure DFU package")
        return ImageKind.NRF5_SECURE_PACKAGE, secure
    from aiodfu.nrf5_legacy.package import Package  # the backend owns legacy packages

    package = Package.from_zip(data)
    package.check(verify=False)
    if verify:
        _raise_mismatch(legacy_checks(package), "legacy DFU package")
    return ImageKind.NRF5_LEGACY_PACKAGE, package


def legacy_checks(package: Package) -> tuple[Check, ...]:
    return tuple(_named(part.integrity(), _part_name(part)) for part in package.parts)


def _named(check: Check, part: str) -> Check:
    return Check(f"{part} {check.name}", check.status, check.detail)


def _part_name(part: object) -> str:
    image_type = getattr(part, "image_type", None)
    return (getattr(image_type, "name", None) or "image").lower()


def _manifest(zipped: BoundedZip) -> Mapping[str, object] | None:
    if "manifest.json" not in zipped.names:
        return None
    try:
        document = json.loads(zipped.read("manifest.json", MAX_MANIFEST_SIZE))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # the legacy reader reports it, with the position
    manifest = document.get("manifest") if isinstance(document, dict) else None
    return manifest if isinstance(manifest, dict) else None


def _reader(zipped: BoundedZip) -> Callable[[str], bytes]:
    return lambda name: zipped.read(name, MAX_MEMBER_SIZE, "not nRF5 firmware")


def _raise_mismatch(checks: tuple[Check, ...], what: str) -> None:
    for check in checks:
        if check.status is CheckStatus.MISMATCH:
            raise ImageIntegrityError(
                f"{what}: {check.name} does not match: {check.detail}; the package is corrupt "
                "or its .dat belongs to another image - rebuild it"
            )


def describe_legacy(package: Package) -> list[tuple[str, str]]:
    rows = [("dfu version", package.dfu_version.value), ("sessions", str(len(package.parts)))]
    for part in package.parts:
        name = _part_name(part)
        sizes = ""
        if part.softdevice_size or part.bootloader_size:
            sizes = f" (SoftDevice {part.softdevice_size} + bootloader {part.bootloader_size})"
        packet = part.parsed_init_packet
        requirements = ", ".join(f"0x{v:04X}" for v in packet.softdevice_req) or "none"
        rows.append(
            (
                f"part {name}",
                f"{len(part.firmware)} bytes{sizes}, device type 0x{packet.device_type:04X}, "
                f"revision 0x{packet.device_revision:04X}, app version "
                f"0x{packet.application_version:08X}, sd_req {requirements}",
            )
        )
    return rows + [check.row() for check in legacy_checks(package)]


def legacy_to_json(package: Package) -> dict[str, object]:
    return {
        "dfu_version": package.dfu_version.value,
        "parts": [
            {
                "type": _part_name(part),
                "size": len(part.firmware),
                "softdevice_size": part.softdevice_size,
                "bootloader_size": part.bootloader_size,
                "init_packet": part.init_packet.hex(),
                **part.parsed_init_packet.manifest_fields(),
            }
            for part in package.parts
        ],
    }


def not_a_known_zip(names: set[str], modem_member: str) -> ImageError:
    listed = ", ".join(sorted(names)[:6]) or "nothing"
    return ImageError(
        f"zip file has 0 members named {modem_member} and no manifest.json or "
        f"application/softdevice/bootloader image (it holds {listed}): it is neither a Nordic "
        "full-modem zip nor an nRF5 DFU package; extract the image and load it directly"
    )
