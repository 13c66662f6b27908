"""Legacy DFU packages: zips with or without ``manifest.json``, and plain images.

A :class:`Package` is an ordered list of :class:`Part` objects, one per DFU
session: a SoftDevice+bootloader+application package is two parts (SD+BL
first, the application in a second connection), because the target refuses
an application together with SD or BL in one Start DFU (reference 10.1).

Zips come from users and the internet, so reading one is bounded
(:class:`~aiodfu.formats.zipped.BoundedZip`): the member count, each member's
decompressed size and the manifest size are capped.

Images given as files are converted as ``adafruit-nrfutil dfu genpkg`` does, so
the ``.bin`` and ``.dat`` are byte-identical to its: a ``.hex`` loses its UICR
records and everything below the MBR's end
(:func:`~aiodfu.formats.nrf_hex.strip_like_nrfutil`), and every image is padded
with 0xFF to a multiple of 4 bytes (the bootloader refuses other sizes). What
was removed or added is kept in :attr:`Part.notes`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping

import attrs

from aiodfu.core.errors import ImageError
from aiodfu.formats import nrf5_secure
from aiodfu.formats.checks import Check
from aiodfu.formats.intel_hex import flatten, looks_like_intel_hex, read_hex
from aiodfu.formats.nrf_hex import strip_like_nrfutil
from aiodfu.formats.zipped import BoundedZip
from aiodfu.nrf5_legacy.errors import PackageError
from aiodfu.nrf5_legacy.init_packet import DfuVersion, InitPacket
from aiodfu.nrf5_legacy.protocol import ImageType

MAX_MEMBER_SIZE = 4 * 1024 * 1024
"""No nRF5 flash is larger than 1 MiB; a member that inflates beyond this is not firmware."""
MAX_FILE_SIZE = 4 * MAX_MEMBER_SIZE
"""A .hex file is about 2.8 times its binary; a zip holds a few images."""
MAX_MEMBERS = 32
MAX_MANIFEST_SIZE = 64 * 1024
WORD_SIZE = 4
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
    notes: tuple[str, ...] = attrs.field(default=(), eq=False)
    """What converting the source files changed (UICR/MBR removed, word padding added)."""

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

    def check(self, *, verify: bool = True) -> None:
        """Check everything the target would refuse, before connecting.

        ``verify=False`` skips only the init packet's CRC/hash comparison
        (see :meth:`integrity` for its verdict).
        """
        name = self.image_type.name or str(int(self.image_type))
        if not self.firmware:
            raise PackageError(f"{name.lower()} image is empty")
        if len(self.firmware) % 4:
            raise PackageError(
                f"{name.lower()} image is {len(self.firmware)} bytes, not a multiple of 4: "
                "the target refuses it (NOT_SUPPORTED); rebuild the package from the .hex or "
                ".bin with aiodfu nrf5-legacy pkg (or Package.from_images), which pads it with "
                "0xFF as nrfutil does"
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
        if verify:
            packet.check(self.firmware)

    def integrity(self) -> Check:
        """The init packet's CRC-16 or SHA-256 against the firmware, as a verdict."""
        return self.parsed_init_packet.integrity(self.firmware)


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

    def check(self, *, verify: bool = True) -> None:
        for part in self.parts:
            part.check(verify=verify)

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
        word_pad: bool = True,
        **fields: object,
    ) -> Package:
        """Build a package in memory from images (``.hex`` text or binaries).

        ``fields`` are the init packet's ``device_type``, ``device_revision``,
        ``application_version`` and ``softdevice_req``, as ``nrfutil dfu genpkg``
        takes them. SoftDevice and bootloader together become one SD+BL part.
        Images are converted as genpkg does (module doc); ``word_pad=False``
        keeps a binary's length as given (:meth:`Part.check` then refuses an
        odd one).
        """
        parts: list[Part] = []
        pad = WORD_SIZE if word_pad else 1
        sd = _to_binary(softdevice, "softdevice", pad) if softdevice else None
        bl = _to_binary(bootloader, "bootloader", pad) if bootloader else None
        if sd is not None and bl is not None:
            combined = sd[0] + bl[0]
            packet = InitPacket.for_firmware(combined, version, **fields)  # type: ignore[arg-type]
            notes = sd[1] + bl[1]
            parts.append(
                Part(
                    ImageType.SOFTDEVICE_BOOTLOADER,
                    combined,
                    packet.encode(),
                    len(sd[0]),
                    len(bl[0]),
                    notes,
                )
            )
        else:
            for image_type, image in ((ImageType.SOFTDEVICE, sd), (ImageType.BOOTLOADER, bl)):
                if image is not None:
                    packet = InitPacket.for_firmware(image[0], version, **fields)  # type: ignore[arg-type]
                    parts.append(Part(image_type, image[0], packet.encode(), notes=image[1]))
        if application is not None:
            app, notes = _to_binary(application, "application", pad)
            packet = InitPacket.for_firmware(app, version, **fields)  # type: ignore[arg-type]
            parts.append(Part(ImageType.APPLICATION, app, packet.encode(), notes=notes))
        return cls(tuple(parts), version, source)

    @classmethod
    def from_zip(cls, data: bytes, *, source: str | None = None) -> Package:
        """A package from a zip with ``manifest.json``, or with the fixed member names.

        A Secure DFU package (SDK >= 12) is refused with a message saying so.
        """
        members = BoundedZip(data, max_members=MAX_MEMBERS, error=PackageError)
        try:
            if "manifest.json" in members.names:
                manifest = _parse_manifest(_read_manifest(members))
                if nrf5_secure.is_secure_manifest(manifest, lambda n: _read(members, n)):
                    raise PackageError(nrf5_secure.NOT_SUPPORTED)
                return _from_manifest(manifest, members, source)
            return _from_fixed_names(members, source)
        finally:
            members.close()

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


def _read_manifest(members: BoundedZip) -> bytes:
    return members.read("manifest.json", MAX_MANIFEST_SIZE)


def _read(members: BoundedZip, name: str, limit: int | None = None) -> bytes:
    # MAX_MEMBER_SIZE is read at call time, so a test (or a caller) can lower it.
    return members.read(name, MAX_MEMBER_SIZE if limit is None else limit, "not nRF5 firmware")


def _parse_manifest(raw: bytes) -> Mapping[str, object]:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("manifest"), dict):
        raise PackageError('manifest.json has no "manifest" object')
    manifest: dict[str, object] = document["manifest"]
    return manifest


def _from_manifest(
    manifest: Mapping[str, object], members: BoundedZip, source: str | None
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
        firmware = _read(members, bin_name)
        by_type[image_type] = Part(
            image_type, firmware, _read(members, dat_name, 1024), sd_size, bl_size
        )
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


def _from_fixed_names(members: BoundedZip, source: str | None) -> Package:
    """Compatibility mode: ``application.hex|bin`` (+``.dat``), ``softdevice``/``bootloader``."""

    def find(stem: str) -> bytes | None:
        for suffix in (".bin", ".hex"):
            if stem + suffix in members.names:
                return _read(members, stem + suffix)
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
            part = attrs.evolve(part, init_packet=_read(members, dat_name, 1024))
        parts.append(part)
    version = parts[0].parsed_init_packet.version
    return Package(tuple(parts), version, source)


def _to_binary(data: bytes, what: str, word_size: int) -> tuple[bytes, tuple[str, ...]]:
    """An image file's binary as genpkg makes it, and notes on what the conversion changed."""
    if not looks_like_intel_hex(data):
        if len(data) > MAX_MEMBER_SIZE:
            raise PackageError(f"{what} image is {len(data)} bytes, over {MAX_MEMBER_SIZE}")
        padding = -len(data) % word_size
        if not padding:
            return data, ()
        return data + b"\xff" * padding, (_padded(word_size, padding),)
    try:
        hex_file = read_hex(data)
        removed = strip_like_nrfutil(hex_file)
        binary, origin = flatten(hex_file, word_size=word_size, removed=tuple(removed))
    except ImageError as exc:
        raise PackageError(f"{what} hex: {exc.message}", offset=exc.offset) from None
    notes = [f"hex from 0x{origin.base_address:08x}"]
    notes += [f"removed {item}" for item in origin.removed]
    if origin.padding:
        notes.append(_padded(word_size, origin.padding))
    return binary, tuple(notes)


def _padded(word_size: int, padding: int) -> str:
    return f"padded with 0xff to a multiple of {word_size} bytes ({padding} added)"


def _manifest_key(image_type: ImageType) -> tuple[str, str]:
    for key, value in _MANIFEST_KEYS.items():
        if value is image_type:
            stem = "sd_bl" if value is ImageType.SOFTDEVICE_BOOTLOADER else key
            return key, stem
    raise PackageError(f"no manifest key for image type {image_type!r}")
