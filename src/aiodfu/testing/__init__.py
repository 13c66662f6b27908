"""Emulated devices, link models, fault injection and fixtures for testing DFU code.

Public API: the emulators are how aiodfu tests itself, and how you can test
your own code -- over an in-memory link (:meth:`Emulator.connect`) or a
pseudo-terminal any serial program can open (:func:`serve_pty`).
"""

from aiodfu.testing.drogue import BootMagic, BootOutcome, DrogueEmulator, DrogueFaults
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.images import (
    build_full_modem_package,
    build_mcuboot_image,
    build_modem_delta,
    random_firmware,
)
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults
from aiodfu.testing.notecard import Storage as NotecardStorage
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.rainmaker import HostJob, RainMakerEmulator, RainMakerFaults
from aiodfu.testing.rainmaker_http import FirmwareServer, HttpFaults
from aiodfu.testing.serial_modem import (
    FirmwareGeneration,
    SerialModemEmulator,
    SerialModemFaults,
    UrcOrder,
)
from aiodfu.transports.memory import LinkFaults, LinkModel

__all__ = [
    "BootMagic",
    "BootOutcome",
    "DrogueEmulator",
    "DrogueFaults",
    "Emulator",
    "FirmwareGeneration",
    "FirmwareServer",
    "HostJob",
    "HttpFaults",
    "LinkFaults",
    "LinkModel",
    "NotecardEmulator",
    "NotecardFaults",
    "NotecardStorage",
    "RainMakerEmulator",
    "RainMakerFaults",
    "SerialModemEmulator",
    "SerialModemFaults",
    "UrcOrder",
    "build_full_modem_package",
    "build_mcuboot_image",
    "build_modem_delta",
    "random_firmware",
    "serve_pty",
]
