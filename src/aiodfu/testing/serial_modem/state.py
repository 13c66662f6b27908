"""What the emulated Serial Modem keeps about DFU, and its rules, free of I/O.

:class:`SerialModemState` is the device minus its UART: the DFU targets
(MCUboot stream, modem delta area, modem bootloader and flash), what is
persisted across reboots and what a reboot loses, and what activation does.
:class:`~aiodfu.testing.serial_modem.SerialModemEmulator` adds the AT
interface, timing and faults on top. Bytes are moved with bulk ``bytearray``
operations only: a 1 MiB image must stay cheap.
"""

from __future__ import annotations

import re
from typing import Literal

from aiodfu.core import integrity
from aiodfu.core.errors import ImageError
from aiodfu.formats.mcuboot import parse_mcuboot
from aiodfu.serial_modem.protocol import FOTA_COMPLETE, FotaUrc, Mode, banner_for
from aiodfu.testing.at_device import info
from aiodfu.testing.serial_modem.signing import (
    MODEM_DFU_AUTH_ERROR,
    SegmentDigest,
    modem_bootloader_table,
    verify_mcuboot_signature,
    verify_modem_delta,
)
from aiodfu.testing.serial_modem.targets import (
    DELTA_OFFSET_DIRTY,
    DataChunk,
    DeltaArea,
    ModemFlash,
)

__all__ = [
    "DELTA_OFFSET_DIRTY",
    "MODEM_DFU_AUTH_ERROR",
    "DataChunk",
    "DeltaArea",
    "ModemFlash",
    "SerialModemState",
    "bump_version",
]

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def bump_version(version: str) -> str:
    """The version an activated modem update reports: the last number plus one."""
    match = _LAST_NUMBER.search(version)
    if match is None:
        return version + ".1"
    return f"{version[: match.start()]}{int(match.group(1)) + 1}{version[match.end() :]}"


def _banner(mode: Mode) -> bytes:
    """A boot banner, framed as ``main.c`` prints it: no leading CRLF."""
    return banner_for(mode).encode() + b"\r\n"


def _valid_mcuboot(data: bytes) -> bool:
    try:
        parse_mcuboot(data)
    except ImageError:
        return False
    return True


class SerialModemState:
    """The device's DFU state and rules; attributes are the emulator's inspection API.

    Persisted (flash, settings, what runs): ``mode`` after the last boot,
    ``active_app``, ``active_bootloader_slot``, ``bootloader_version``,
    ``modem_version``, ``full_modem_phase``, ``applied``, the delta area and
    the modem flash. Lost at a reboot (RAM): open MCUboot/delta targets and
    what they received since ``INIT``, and the uploaded modem bootloader.
    """

    def __init__(
        self,
        *,
        slot_size: int,
        delta_area_size: int,
        app_image: bytes | None,
        modem_version: str,
        mcuboot_signatures: bool = False,
    ) -> None:
        self.slot_size = slot_size
        self.mcuboot_signatures = mcuboot_signatures
        """Whether MCUboot (and NSIB) also check each image's signature (modelled: see
        :mod:`~aiodfu.testing.serial_modem.signing`), or only its hash."""
        self.delta_area_size = delta_area_size
        self.mode = Mode.NORMAL
        self.active_app = app_image
        self.active_bootloader_slot = 0
        self.bootloader_version = 1
        """The NSIB monotonic counter ``AT#XBOOTINFO=0`` reports; +1 per activated type 3."""
        self.modem_version = modem_version
        self.full_modem_phase: Literal["bootloader", "firmware"] = "bootloader"
        self.applied: dict[int, bytes] = {}
        self.boots = 0
        self._received: dict[int, bytearray] = {}
        self._pending: dict[int, bytes] = {}  # applied, activated at the next boot/modem restart
        self._running: bytes | None = app_image  # the image of the update that last took effect
        self._bootloader_requested = False
        self._modem_usable = True
        self._delta = DeltaArea()
        self._flash = ModemFlash()
        self._modem_bootloader_image = b""
        self._vouched: tuple[SegmentDigest, ...] = ()  # what the running modem bootloader takes
        self._lose_ram()

    def _lose_ram(self) -> None:
        self._mcuboot_session: int | None = None  # type (0 or 3) of the open MCUboot stream
        self._delta_session = False
        self._modem_bootloader_upload = bytearray()
        self._modem_bootloader_running = False  # the upload was applied in this boot

    # --- inspection --------------------------------------------------------------------------

    @property
    def received(self) -> dict[int, bytes]:
        """Per DFU type, the bytes its target stored since that type's last ``INIT``."""
        return {dfu_type: bytes(data) for dfu_type, data in self._received.items()}

    @property
    def modem_flash(self) -> dict[int, bytes]:
        """Type-2 firmware written to modem flash: start address -> contiguous bytes."""
        return dict(self._flash.segments())

    def modem_firmware_segments(self) -> list[tuple[int, bytes]]:
        """Type-2 firmware as ``(address, bytes)`` runs in address order, writes merged."""
        return self._flash.segments()

    @property
    def delta_offset(self) -> int:
        """The modem's delta area offset (``2621440`` when dirty), as ``AT#XFOTA=7`` reports it."""
        return self._delta.offset

    @property
    def image(self) -> bytes | None:
        """What the device runs from its latest update that took effect (``--save-image``).

        The application it booted (``app_image`` until an update is swapped in),
        or a newer activated update: the delta patch the modem applied, the
        MCUboot bootloader NSIB now boots, the full-modem blob (bootloader, then
        firmware by address) the modem booted. An image that was only applied,
        or that MCUboot or the modem refused, is never it.
        """
        return self._running

    # --- INIT --------------------------------------------------------------------------------

    def open_mcuboot(self, dfu_type: int) -> None:
        """Open the MCUboot stream; an open one is aborted, so the image restarts at byte 0."""
        self._mcuboot_session = dfu_type
        self._received[dfu_type] = bytearray()

    @property
    def delta_dirty(self) -> bool:
        return self._delta.dirty

    def open_delta(self) -> None:
        """Open the delta target (erase it first when dirty); a partial patch is kept."""
        if self._delta.dirty:
            self._delta.erase()
        self._delta_session = True
        self._received[1] = bytearray()

    def erase_delta(self) -> None:
        self._delta.erase()

    def request_bootloader_mode(self) -> None:
        """``AT#XDFUINIT=2``: persist the request and restart the phase; a reboot must follow."""
        self._bootloader_requested = True
        self.full_modem_phase = "bootloader"
        self._received[2] = bytearray()

    # --- data --------------------------------------------------------------------------------

    def store(self, chunk: DataChunk, data: bytearray) -> int:
        """Hand ``data`` to the chunk's DFU target; how many bytes it took (all or none)."""
        if chunk.type in (0, 3):
            session = self._mcuboot_session
            if session is None or len(self._received[session]) + len(data) > self.slot_size:
                return 0
            self._received[session] += data
        elif chunk.type == 1:
            area = self._delta
            if not self._delta_session or len(area.data) + len(data) > self.delta_area_size:
                return 0
            area.data += data
            self._received[1] += data
        elif self.mode is not Mode.BOOTLOADER:
            return 0
        elif self.full_modem_phase == "bootloader":
            self._modem_bootloader_upload += data
            self._received.setdefault(2, bytearray()).extend(data)
        else:
            if not self._modem_bootloader_running:
                return 0  # the persisted phase survived a reset, the modem bootloader did not
            self._flash.write(chunk.addr, data)
            chunk.addr += len(data)
            self._modem_usable = False  # past the point of no return until the final apply
        return len(data)

    # --- APPLY -------------------------------------------------------------------------------

    def apply(self, dfu_type: int) -> bool:
        """Close a type 0/1/3 target, scheduling its image for activation; False if none is open."""
        if dfu_type == 1:
            if not self._delta_session or not self._delta.data:
                return False
            self._delta_session = False
            self._schedule(1, bytes(self._delta.data))
            return True
        if self._mcuboot_session is None:
            return False
        session, self._mcuboot_session = self._mcuboot_session, None
        self._schedule(session, bytes(self._received[session]))
        return True

    def _schedule(self, dfu_type: int, image: bytes) -> None:
        self._pending[dfu_type] = image
        self.applied[dfu_type] = image

    def apply_modem_bootloader(self) -> bool:
        """Bootloader-phase apply: run the uploaded modem bootloader, go to the firmware phase."""
        if self.mode is not Mode.BOOTLOADER or not self._modem_bootloader_upload:
            return False
        table = modem_bootloader_table(bytes(self._modem_bootloader_upload))
        if table is None:
            return False  # the modem does not run a bootloader whose signature fails
        self._vouched = table
        self.full_modem_phase = "firmware"
        self._modem_bootloader_running = True
        self._modem_bootloader_image = bytes(self._modem_bootloader_upload)
        self._flash.clear()
        return True

    def apply_modem_firmware(self) -> bool:
        """Final apply; True when it succeeded and the device must reboot.

        The modem boots the new firmware only if every segment its bootloader
        vouches for is in flash with the right digest; otherwise (or when no
        firmware was written at all) it is left unusable, and the reboot lands
        in bootloader mode again.
        """
        if self.mode is not Mode.BOOTLOADER or not self._modem_bootloader_running:
            return False
        self.full_modem_phase = "bootloader"
        self._modem_usable = bool(self._flash) and self._firmware_verifies()
        if self._modem_usable:
            blob = b"".join(data for _, data in self._flash.segments())
            self.applied[2] = self._running = self._modem_bootloader_image + blob
            self.modem_version = bump_version(self.modem_version)
        return True

    def _firmware_verifies(self) -> bool:
        for address, length, digest in self._vouched:
            data = self._flash.read(address, length)
            if data is None or integrity.sha256(data) != digest:
                return False
        return True

    # --- activation --------------------------------------------------------------------------

    def boot(self) -> bytes:
        """A cold reboot's effect on the state; returns the banner and any ``#XFOTA`` results."""
        self.boots += 1
        if self._mcuboot_session is not None:
            self._received[self._mcuboot_session] = bytearray()
        if self._delta_session:
            self._received[1] = bytearray()
        self._lose_ram()
        results = self._swap_mcuboot_images()
        if self._bootloader_requested or not self._modem_usable:
            # The request is cleared as bootloader mode starts; a corrupt modem re-arms it.
            self._bootloader_requested = False
            self.mode = Mode.BOOTLOADER
            return _banner(Mode.BOOTLOADER)
        self.mode = Mode.NORMAL
        if 1 in self._pending:
            results += self.restart_modem()
        return _banner(Mode.NORMAL) + results

    def _swap_mcuboot_images(self) -> bytes:
        """MCUboot swaps in a valid pending image at boot and ignores an invalid one."""
        results = b""
        app = self._pending.pop(0, None)
        if app is not None and self._boots(app):
            self.active_app = self._running = app
            results += info(FOTA_COMPLETE.format())
        bootloader = self._pending.pop(3, None)
        if bootloader is not None and self._boots(bootloader):
            self.active_bootloader_slot ^= 1
            self.bootloader_version += 1
            self._running = bootloader
        return results

    def _boots(self, image: bytes) -> bool:
        """Whether the bootloader takes ``image``: its hash, and its signature if it checks one."""
        if self.mcuboot_signatures:
            return verify_mcuboot_signature(image)
        return _valid_mcuboot(image)

    def restart_modem(self) -> bytes:
        """The modem library restarts: a scheduled delta is applied; its ``#XFOTA`` result."""
        self._delta_session = False
        patch = self._pending.pop(1, None)
        if patch is None:
            return b""
        self._delta.dirty = True
        if not verify_modem_delta(patch):
            return info(FotaUrc(5, 1, MODEM_DFU_AUTH_ERROR).format())
        self.modem_version = bump_version(self.modem_version)
        self._running = patch
        return info(FOTA_COMPLETE.format())

    def app_version(self) -> str:
        """What ``AT#XSMVER`` reports: the running MCUboot image's version, else ``1.0.0``."""
        if self.active_app is not None:
            try:
                return str(parse_mcuboot(self.active_app).header.version)
            except ImageError:
                pass
        return "1.0.0"
