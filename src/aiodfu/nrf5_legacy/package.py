"""Legacy DFU packages: zips with or without ``manifest.json``, and plain images.

A :class:`Package` is an ordered list of :class:`Part` objects, one per DFU
session: a SoftDevice+bootloader+application package is two parts (SD+BL
first, the application in a second connection), because the target refuses
an application together with SD or BL in one Start DFU (reference 10.1).

Zips come from users and the internet, so reading one is bounded: the member
count, each member's decompressed size and the manifest size are capped, and
a member is read with a limit rather than trusting its header.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping

import attrs

from aiodfu.core.errors import ImageError
from aiodfu.formats.intel_hex import hex_to_binary, looks_like_intel_hex
from aiodfu.nrf5_legacy.errors import PackageError
from aiodfu.nrf5_legacy.init_packet import DfuVersion, InitPacket
from aiodfu.nrf5_legacy.protocol import ImageType

MAX_MEMBER_SIZE = 4 * 1024 * 1024
"""No nRF5 flash is larger than 1 MiB; a member that inflates beyond this is not firmware."""
MAX_FILE_SIZE = 4 * MAX_MEMBER_SIZE
"""A .hex file is about 2.8 times its binary; a zip holds a few images."""
MAX_MEMBERS = 32
MAX_MANIFEST_SIZE = 64 * 1024
MBR_END = 0x1000
"""A SoftDevice .hex starts with the MBR, which DFU never sends (nrfutil and Android skip it)."""

_SECURE_DFU_KEYS = (
    "bootloader_application",
    "softdevice_application",
    "softdevice_bootloader_application",
)
_MANIFEST_KEYS = {
    "application": ImageType.APPLICATION,
    "bootloader": ImageType.BOOTLOADER,
    "softdevice": ImageType.SOFTDEVICE,
    "softdevice_bootloader": ImageType.SOFTDEVICE_BOOTLOADER,
}
_SESSION_ORDER = (
    ImageType.SOFTDEVICE_BOOTLOADER,
    ImageType.SOFTDEVICE,
    ImageType.BOOTLOADER,
    ImageType.APPLICATION,
)


@attrs.frozen
class Part:
    """One image sent in one DFU session, with its init packet.

    For SD+BL, ``firmware`` is the SoftDevice followed by the bootloader and
    ``softdevice_size``/``bootloader_size`` split it.
    """

    image_type: ImageType
    firmware: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    init_packet: bytes = attrs.field(repr=lambda d: d.hex())
    softdevice_size: int = 0
    bootloader_size: int = 0

    @property
    def parsed_init_packet(self) -> InitPacket:
        return InitPacket.decode(self.init_packet)

    def sizes(self) -> tuple[int, int, int]:
        """The size record's (SoftDevice, bootloader, application) triple."""
        if self.image_type is ImageType.SOFTDEVICE_BOOTLOADER:
            return self.softdevice_size, self.bootloader_size, 0
        if self.image_type is ImageType.SOFTDEVICE:
            return len(self.firmware), 0, 0
        if self.image_type is ImageType.BOOTLOADER:
            return 0, len(self.firmware), 0
        return 0, 0, len(self.firmware)

    def check(self) -> None:
        """Check everything the target would refuse, before connecting."""
        name = self.image_type.name or str(int(self.image_type))
        if not self.firmware:
            raise PackageError(f"{name.lower()} image is empty")
        if len(self.firmware) % 4:
            raise PackageError(
                f"{name.lower()} image is {len(self.firmware)} bytes, not a multiple of 4: "
                "the target refuses it (NOT_SUPPORTED); pad it with 0xFF"
            )
        if self.image_type is ImageType.SOFTDEVICE_BOOTLOADER:
            if self.softdevice_size + self.bootloader_size != len(self.firmware):
                raise PackageError(
                    f"sd_size {self.softdevice_size} + bl_size {self.bootloader_size} != "
                    f"{len(self.firmware)} bytes of the SD+BL image"
                )
            if self.softdevice_size % 4 or self.bootloader_size % 4:
                raise PackageError("sd_size and bl_size must be multiples of 4")
        try:
            packet = self.parsed_init_packet
        except PackageError as exc:
            raise PackageError(f"{name.lower()} init packet: {exc.message}") from None
        packet.check(self.firmware)


@attrs.frozen
class Package:
    """The parts of a legacy DFU update, in the order they must be sent."""

    parts: tuple[Part, ...]
    dfu_version: DfuVersion = DfuVersion.V0_5
    source: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.parts:
            raise PackageError("package holds no firmware")

    def __iter__(self) -> Iterator[Part]:
        return iter(self.parts)

    @property
    def total_size(self) -> int:
        return sum(len(part.firmware) for part in self.parts)

    def check(self) -> None:
        for part in self.parts:
            part.check()

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, source: str | os.PathLike[str] | bytes) -> Package:
        """A package from a ``.zip``, ``.hex`` or ``.bin`` path, or from its bytes.

        A plain image becomes a one-part application package with a default
        0.5 init packet; use :meth:`from_images` to choose the type and fields.
        """
        name = None
        if isinstance(source, bytes):
            data = source
        else:
            name = os.fspath(source)
            size = os.path.getsize(name)
            if size > MAX_FILE_SIZE:
                raise PackageError(
                    f"{name} is {size} bytes; no legacy DFU package or image is over "
                    f"{MAX_FILE_SIZE}"
                )
            with open(name, "rb") as file:
                data = file.read()
        if data[:4] == b"PK\x03\x04":
            return cls.from_zip(data, source=name)
        return cls.from_images(application=data, source=name)

    @classmethod
    def from_images(
        cls,
        *,
        application: bytes | None = None,
        bootloader: bytes | None = None,
        softdevice: bytes | None = None,
        version: DfuVersion = DfuVersion.V0_5,
        source: str | None = None,
        **fields: object,
    ) -> Package:
        """Build a package in memory from images (``.hex`` text or binaries).

        ``fields`` are the init packet's ``device_type``, ``device_revision``,
        ``application_version`` and ``softdevice_req``, as ``nrfutil dfu genpkg``
        takes them. SoftDevice and bootloader together become one SD+BL part.
        """
        parts: list[Part] = []
        sd = _to_binary(softdevice, "softdevice", skip_mbr=True) if softdevice else None
        bl = _to_binary(bootloader, "bootloader") if bootloader else None
        if sd is not None and bl is not None:
            combined = sd + bl
            packet = InitPacket.for_firmware(combined, version, **fields)  # type: ignore[arg-type]
            parts.append(
                Part(ImageType.SOFTDEVICE_BOOTLOADER, combined, packet.encode(), len(sd), len(bl))
            )
        else:
            for image_type, image in ((ImageType.SOFTDEVICE, sd), (ImageType.BOOTLOADER, bl)):
                if image is not None:
                    packet = InitPacket.for_firmware(image, version, **fields)  # type: ignore[arg-type]
                    parts.append(Part(image_type, image, packet.encode()))
        if application is not None:
            app = _to_binary(application, "application")
            packet = InitPacket.for_firmware(app, version, **fields)  # type: ignore[arg-type]
            parts.append(Part(ImageType.APPLICATION, app, packet.encode()))
        return cls(tuple(parts), version, source)

    @classmethod
    def from_zip(cls, data: bytes, *, source: str | None = None) -> Package:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise PackageError(f"not a readable zip file: {exc}") from None
        with archive:
            members = _ZipMembers(archive)
            if "manifest.json" in members.names:
                manifest = _parse_manifest(members.read("manifest.json", MAX_MANIFEST_SIZE))
                return _from_manifest(manifest, members, source)
            return _from_fixed_names(members, source)

    # --- writing ------------------------------------------------------------------------------

    def to_zip(self) -> bytes:
        """The package as nrfutil 0.5 writes it: ``manifest.json`` plus ``.bin``/``.dat`` pairs."""
        manifest: dict[str, object] = {}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in self.parts:
                key, stem = _manifest_key(part.image_type)
                entry: dict[str, object] = {
                    "bin_file": f"{stem}.bin",
                    "dat_file": f"{stem}.dat",
                    "init_packet_data": part.parsed_init_packet.manifest_fields(),
                }
                if part.image_type is ImageType.SOFTDEVICE_BOOTLOADER:
                    entry["sd_size"] = part.softdevice_size
                    entry["bl_size"] = part.bootloader_size
                manifest[key] = entry
                archive.writestr(f"{stem}.bin", part.firmware)
                archive.writestr(f"{stem}.dat", part.init_packet)
            manifest["dfu_version"] = self.dfu_version.manifest_value
            text = json.dumps({"manifest": manifest}, indent=4, sort_keys=True)
            archive.writestr("manifest.json", text)
        return buffer.getvalue()


class _ZipMembers:
    """Bounded access to a zip's members."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise PackageError(f"zip has {len(infos)} members; a DFU package has at most a few")
        self.archive = archive
        self.names = {info.filename for info in infos if not info.is_dir()}

    def read(self, name: str, limit: int | None = None) -> bytes:
        limit = MAX_MEMBER_SIZE if limit is None else limit
        if name not in self.names:
            raise PackageError(f"zip has no member {name!r}")
        info = self.archive.getinfo(name)
        if info.file_size > limit:
            raise PackageError(
                f"zip member {name!r} decompresses to {info.file_size} bytes, over the "
                f"{limit}-byte limit"
            )
        try:
            with self.archive.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise PackageError(f"zip member {name!r} is corrupt: {exc}") from None
        except NotImplementedError as exc:
            raise PackageError(f"zip member {name!r} uses an unsupported feature: {exc}") from None
        if len(data) > limit:
            raise PackageError(f"zip member {name!r} decompresses beyond the {limit}-byte limit")
        return data


def _parse_manifest(raw: bytes) -> Mapping[str, object]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("manifest"), dict):
        raise PackageError('manifest.json has no "manifest" object')
    manifest: dict[str, object] = document["manifest"]
    secure = [key for key in _SECURE_DFU_KEYS if key in manifest]
    if secure:
        raise PackageError(
            f"manifest lists {secure[0]!r}: this is a Secure DFU package (SDK 12+), "
            "which a legacy bootloader cannot take"
        )
    return manifest


def _from_manifest(
    manifest: Mapping[str, object], members: _ZipMembers, source: str | None
) -> Package:
    version = DfuVersion.from_manifest(manifest.get("dfu_version", 0.5))
    if "softdevice" in manifest and "bootloader" in manifest:
        raise PackageError(
            "manifest lists softdevice and bootloader separately; a legacy package must "
            "combine them as softdevice_bootloader"
        )
    unknown = set(manifest) - set(_MANIFEST_KEYS) - {"dfu_version"}
    if unknown:
        raise PackageError(f"manifest has unknown key(s) {sorted(unknown)}")
    by_type: dict[ImageType, Part] = {}
    for key, image_type in _MANIFEST_KEYS.items():
        entry = manifest.get(key)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise PackageError(f"manifest {key!r} is not an object")
        bin_name, dat_name = entry.get("bin_file"), entry.get("dat_file")
        if not isinstance(bin_name, str) or not isinstance(dat_name, str):
            raise PackageError(f"manifest {key!r} needs string bin_file and dat_file")
        sd_size = bl_size = 0
        if image_type is ImageType.SOFTDEVICE_BOOTLOADER:
            sd_value, bl_value = entry.get("sd_size"), entry.get("bl_size")
            if not isinstance(sd_value, int) or not isinstance(bl_value, int):
                raise PackageError("manifest softdevice_bootloader needs integer sd_size, bl_size")
            sd_size, bl_size = sd_value, bl_value
        firmware = members.read(bin_name)
        by_type[image_type] = Part(image_type, firmware, members.read(dat_name), sd_size, bl_size)
    if not by_type:
        raise PackageError("manifest lists no firmware")
    parts = tuple(by_type[t] for t in _SESSION_ORDER if t in by_type)
    for part in parts:
        packet = part.parsed_init_packet
        if packet.version is not version:
            raise PackageError(
                f"manifest says dfu_version {version.value} but the {part.image_type.name} "
                f"init packet has the {packet.version.value} layout"
            )
    return Package(parts, version, source)


def _from_fixed_names(members: _ZipMembers, source: str | None) -> Package:
    """Compatibility mode: ``application.hex|bin`` (+``.dat``), ``softdevice``/``bootloader``."""

    def find(stem: str) -> bytes | None:
        for suffix in (".bin", ".hex"):
            if stem + suffix in members.names:
                return members.read(stem + suffix)
        return None

    application, softdevice, bootloader = (
        find("application"),
        find("softdevice"),
        find("bootloader"),
    )
    if application is None and softdevice is None and bootloader is None:
        raise PackageError(
            "zip has neither manifest.json nor application/softdevice/bootloader .bin|.hex"
        )
    built = Package.from_images(
        application=application, softdevice=softdevice, bootloader=bootloader, source=source
    )
    parts = []
    for part in built.parts:
        dat_name = "application.dat" if part.image_type is ImageType.APPLICATION else "system.dat"
        if dat_name in members.names:
            part = attrs.evolve(part, init_packet=members.read(dat_name, 1024))
        parts.append(part)
    version = parts[0].parsed_init_packet.version
    return Package(tuple(parts), version, source)


def _to_binary(data: bytes, what: str, *, skip_mbr: bool = False) -> bytes:
    if not looks_like_intel_hex(data):
        if len(data) > MAX_MEMBER_SIZE:
            raise PackageError(f"{what} image is {len(data)} bytes, over {MAX_MEMBER_SIZE}")
        return data
    try:
        binary, origin = hex_to_binary(data)
    except ImageError as exc:
        raise PackageError(f"{what} hex: {exc.message}", offset=exc.offset) from None
    if skip_mbr and origin.base_address < MBR_END:
        binary = binary[MBR_END - origin.base_address :]
    return binary


def _manifest_key(image_type: ImageType) -> tuple[str, str]:
    for key, value in _MANIFEST_KEYS.items():
        if value is image_type:
            stem = "sd_bl" if value is ImageType.SOFTDEVICE_BOOTLOADER else key
            return key, stem
    raise PackageError(f"no manifest key for image type {image_type!r}")
