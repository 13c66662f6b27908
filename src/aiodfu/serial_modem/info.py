"""What a Serial Modem says about itself: mode, versions, DFU types, bootloader slot.

Kept apart from the session because it is read-only and tolerant: a build
that refuses one query (an older SM without ``AT#XBOOTINFO``, a bootloader
without ``#XSMVER``) still answers the others, and the field is ``None``.
"""

from __future__ import annotations

import logging

import attrs

from aiodfu.core.errors import CommandRejectedError
from aiodfu.serial_modem.device import SerialModemDevice
from aiodfu.serial_modem.protocol import Mode, UpdateType

log = logging.getLogger("aiodfu.serial_modem")

__all__ = ["DeviceInfo", "read_info"]


@attrs.frozen
class DeviceInfo:
    """A Serial Modem's own account of itself (``None``: the device did not say)."""

    mode: Mode
    application: str | None
    """The SM application version, from ``#XSMVER: "<app>","<ncs>"``."""
    modem_firmware: str | None
    """``AT%SHORTSWVER``, e.g. ``nrf9160_1.3.5``."""
    supported_types: tuple[UpdateType | int, ...]
    """The DFU types ``AT#XDFUINIT=?`` lists (an unknown number stays an ``int``)."""
    bootloader_slot: int | None
    """The active MCUboot bootloader slot (``AT#XBOOTINFO=1``), on builds that update it."""

    @property
    def note(self) -> str | None:
        """What a person should know about this state, if anything."""
        if self.mode is Mode.BOOTLOADER:
            return "bootloader mode: only a full modem update (or AT#XRESET) can run"
        return None


async def read_info(device: SerialModemDevice) -> DeviceInfo:
    """Ask ``device`` (synchronised, connected) for its :class:`DeviceInfo`."""
    if device.mode is Mode.BOOTLOADER:
        return DeviceInfo(Mode.BOOTLOADER, None, None, (UpdateType.MODEM_FULL,), None)
    version = await _query(device, "AT#XSMVER")
    application = version.split(",", 1)[0].strip().strip('"') if version else None
    modem_firmware = await _query(device, "AT%SHORTSWVER")
    listed = await device.robustly(device.supported_types, "AT#XDFUINIT=?")
    known = {member.value: member for member in UpdateType}
    types = tuple(known.get(value, value) for value in sorted(listed))
    slot = None
    if UpdateType.MCUBOOT_BOOTLOADER in listed:  # else AT#XBOOTINFO answers ERROR
        line = await _query(device, "AT#XBOOTINFO=1")
        slot = int(line) if line is not None and line.isdigit() else None
    return DeviceInfo(Mode.NORMAL, application, modem_firmware, types, slot)


async def _query(device: SerialModemDevice, command: str) -> str | None:
    """The first information line of ``command``, or ``None`` where this build refuses it."""
    try:
        return await device.robustly(lambda: device.query_line(command), command)
    except CommandRejectedError:
        log.info("%s: not supported by this build", command)
        return None
