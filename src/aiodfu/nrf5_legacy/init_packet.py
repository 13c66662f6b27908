"""The legacy DFU init packet (``.dat``): its 0.5, 0.6 and 0.7 layouts.

All fields are little-endian and written in this order, only those the
layout has (protocol reference section 5):

====================  =====  ===  ===  ===
field                 type   0.5  0.6  0.7
====================  =====  ===  ===  ===
device_type           u16    x    x    x
device_revision       u16    x    x    x
application_version   u32    x    x    x
softdevice_req        u16 n  x    x    x   (preceded by its u16 count)
ext_packet_id         u32         0    1
firmware_length       u32              x
firmware_hash         32 B             x   (SHA-256 of the .bin)
firmware_crc16        u16    x    x
====================  =====  ===  ===  ===

The 0.8 layout (ECDSA-signed) is recognised and refused: it needs a signing key
and a customised bootloader that this backend does not model.
"""

from __future__ import annotations

import enum
import struct

import attrs

from aiodfu.core import integrity
from aiodfu.core.errors import ImageIntegrityError
from aiodfu.formats.checks import Check
from aiodfu.nrf5_legacy.errors import PackageError

ANY_SOFTDEVICE = 0xFFFE
"""The SoftDevice list entry that accepts any running SoftDevice."""

DEFAULT_DEVICE_TYPE = 0xFFFF
DEFAULT_DEVICE_REVISION = 0xFFFF
DEFAULT_APPLICATION_VERSION = 0xFFFFFFFF

_HEADER = struct.Struct("<HHIH")  # type, revision, app version, SoftDevice count
_EXT_CRC16 = 0
_EXT_HASH = 1
_EXT_ECDSA = 2


class DfuVersion(enum.Enum):
    """The init packet layout, named by the manifest's ``dfu_version``."""

    V0_5 = "0.5"
    V0_6 = "0.6"
    V0_7 = "0.7"

    @classmethod
    def from_manifest(cls, value: object) -> DfuVersion:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise PackageError(f"manifest dfu_version {value!r} is not a number")
        text = f"{float(value):.1f}" if not isinstance(value, str) else value
        for version in cls:
            if version.value == text:
                return version
        if text == "0.8":
            raise PackageError(
                "dfu_version 0.8 (ECDSA-signed init packet) needs a customised bootloader "
                "and is not supported; build the package with dfu_version 0.5"
            )
        raise PackageError(f"unknown manifest dfu_version {value!r} (expected 0.5, 0.6 or 0.7)")

    @property
    def manifest_value(self) -> float:
        return float(self.value)


@attrs.frozen
class InitPacket:
    """A parsed init packet; :meth:`encode` gives back the exact ``.dat`` bytes."""

    version: DfuVersion
    device_type: int = DEFAULT_DEVICE_TYPE
    device_revision: int = DEFAULT_DEVICE_REVISION
    application_version: int = DEFAULT_APPLICATION_VERSION
    softdevice_req: tuple[int, ...] = (ANY_SOFTDEVICE,)
    firmware_crc16: int | None = None
    firmware_length: int | None = None
    firmware_hash: bytes | None = attrs.field(default=None, repr=lambda h: h.hex() if h else "")

    @classmethod
    def for_firmware(
        cls,
        firmware: bytes,
        version: DfuVersion = DfuVersion.V0_5,
        *,
        device_type: int = DEFAULT_DEVICE_TYPE,
        device_revision: int = DEFAULT_DEVICE_REVISION,
        application_version: int = DEFAULT_APPLICATION_VERSION,
        softdevice_req: tuple[int, ...] = (ANY_SOFTDEVICE,),
    ) -> InitPacket:
        """The init packet that describes ``firmware`` (what ``nrfutil dfu genpkg`` writes)."""
        common = {
            "version": version,
            "device_type": device_type,
            "device_revision": device_revision,
            "application_version": application_version,
            "softdevice_req": tuple(softdevice_req),
        }
        if version is DfuVersion.V0_7:
            return cls(
                **common,  # type: ignore[arg-type]
                firmware_length=len(firmware),
                firmware_hash=integrity.sha256(firmware),
            )
        return cls(**common, firmware_crc16=integrity.crc16_ccitt_false(firmware))  # type: ignore[arg-type]

    def encode(self) -> bytes:
        _check_range("device_type", self.device_type, 0xFFFF)
        _check_range("device_revision", self.device_revision, 0xFFFF)
        _check_range("application_version", self.application_version, 0xFFFFFFFF)
        for entry in self.softdevice_req:
            _check_range("softdevice_req entry", entry, 0xFFFF)
        out = bytearray(
            _HEADER.pack(
                self.device_type,
                self.device_revision,
                self.application_version,
                len(self.softdevice_req),
            )
        )
        out += struct.pack(f"<{len(self.softdevice_req)}H", *self.softdevice_req)
        if self.version is DfuVersion.V0_7:
            if self.firmware_length is None or self.firmware_hash is None:
                raise PackageError("a 0.7 init packet needs firmware_length and firmware_hash")
            if len(self.firmware_hash) != 32:
                raise PackageError("firmware_hash must be 32 bytes (SHA-256)")
            out += struct.pack("<II", _EXT_HASH, self.firmware_length) + self.firmware_hash
            return bytes(out)
        if self.firmware_crc16 is None:
            raise PackageError(f"a {self.version.value} init packet needs firmware_crc16")
        _check_range("firmware_crc16", self.firmware_crc16, 0xFFFF)
        if self.version is DfuVersion.V0_6:
            out += struct.pack("<I", _EXT_CRC16)
        out += struct.pack("<H", self.firmware_crc16)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes, version: DfuVersion | None = None) -> InitPacket:
        """Parse ``data``; with ``version=None`` the layout is told from the extended bytes."""
        if len(data) < _HEADER.size:
            raise PackageError(f"init packet is {len(data)} bytes; at least 10 are needed")
        device_type, revision, app_version, count = _HEADER.unpack_from(data)
        sd_end = _HEADER.size + 2 * count
        if len(data) < sd_end:
            raise PackageError(
                f"init packet lists {count} SoftDevice(s) but is only {len(data)} bytes"
            )
        softdevices = struct.unpack_from(f"<{count}H", data, _HEADER.size)
        ext = data[sd_end:]
        common = {
            "device_type": device_type,
            "device_revision": revision,
            "application_version": app_version,
            "softdevice_req": tuple(softdevices),
        }
        layout = version or _guess_layout(ext)
        expected = {DfuVersion.V0_5: 2, DfuVersion.V0_6: 6, DfuVersion.V0_7: 40}[layout]
        if len(ext) != expected:
            raise PackageError(
                f"a {layout.value} init packet has {expected} extended bytes after the "
                f"SoftDevice list, this one {len(ext)}"
            )
        if layout is DfuVersion.V0_5:
            return cls(layout, **common, firmware_crc16=int.from_bytes(ext, "little"))
        ext_id = int.from_bytes(ext[:4], "little")
        if layout is DfuVersion.V0_6:
            if ext_id != _EXT_CRC16:
                raise PackageError(f"0.6 init packet has ext_packet_id {ext_id}, expected 0")
            return cls(layout, **common, firmware_crc16=int.from_bytes(ext[4:], "little"))
        if ext_id != _EXT_HASH:
            raise PackageError(f"0.7 init packet has ext_packet_id {ext_id}, expected 1")
        return cls(
            layout,
            **common,
            firmware_length=int.from_bytes(ext[4:8], "little"),
            firmware_hash=bytes(ext[8:40]),
        )

    def check(self, firmware: bytes) -> None:
        """Raise :class:`ImageIntegrityError` unless this packet describes ``firmware``."""

        if self.version is DfuVersion.V0_7:
            if self.firmware_length != len(firmware):
                raise ImageIntegrityError(
                    f"init packet says the firmware is {self.firmware_length} bytes, "
                    f"the image is {len(firmware)}"
                )
            if self.firmware_hash != integrity.sha256(firmware):
                raise ImageIntegrityError(
                    "init packet SHA-256 does not match the image: wrong .dat for this .bin"
                )
            return
        actual = integrity.crc16_ccitt_false(firmware)
        if self.firmware_crc16 != actual:
            raise ImageIntegrityError(
                f"init packet CRC-16 0x{self.firmware_crc16:04X} does not match the image's "
                f"0x{actual:04X}: wrong .dat for this .bin"
            )

    def integrity(self, firmware: bytes) -> Check:
        """:meth:`check` as a verdict instead of an exception (for ``inspect``)."""
        name = "init packet SHA-256" if self.version is DfuVersion.V0_7 else "init packet CRC-16"
        try:
            self.check(firmware)
        except ImageIntegrityError as exc:
            return Check.compare(name, False, exc.message)
        if self.version is DfuVersion.V0_7:
            return Check.compare(name, True, f"{(self.firmware_hash or b'').hex()} matches")
        return Check.compare(name, True, f"0x{self.firmware_crc16:04X} matches")

    def manifest_fields(self) -> dict[str, object]:
        """The ``init_packet_data`` object nrfutil writes into ``manifest.json``."""
        fields: dict[str, object] = {
            "application_version": self.application_version,
            "device_revision": self.device_revision,
            "device_type": self.device_type,
            "softdevice_req": list(self.softdevice_req),
        }
        if self.version is DfuVersion.V0_7:
            fields["ext_packet_id"] = _EXT_HASH
            fields["firmware_length"] = self.firmware_length
            fields["firmware_hash"] = (self.firmware_hash or b"").hex()
        else:
            if self.version is DfuVersion.V0_6:
                fields["ext_packet_id"] = _EXT_CRC16
            fields["firmware_crc16"] = self.firmware_crc16
        return fields


def _guess_layout(ext: bytes) -> DfuVersion:
    if len(ext) == 2:
        return DfuVersion.V0_5
    if len(ext) >= 4 and int.from_bytes(ext[:4], "little") == _EXT_ECDSA:
        raise PackageError("init packet is ECDSA-signed (0.8), which is not supported")
    if len(ext) == 6:
        return DfuVersion.V0_6
    if len(ext) == 40:
        return DfuVersion.V0_7
    raise PackageError(
        f"init packet has {len(ext)} extended bytes after the SoftDevice list; "
        "0.5 has 2, 0.6 has 6, 0.7 has 40"
    )


def _check_range(name: str, value: int, limit: int) -> None:
    if not 0 <= value <= limit:
        raise PackageError(f"init packet {name} {value} is out of range 0..{limit}")
