"""Emulated devices, link models, fault injection and fixtures for testing DFU code.

Public API: the emulators are how aiodfu tests itself, and how you can test
your own code -- over an in-memory link (:meth:`Emulator.connect`) or a
pseudo-terminal any serial program can open (:func:`serve_pty`), and for BLE
targets over Bumble's in-process link, driven through bleak's own
``BleakClient``. The BLE names need the ``emulators`` extra (Bumble) and are
imported on first use.
"""

from typing import Any

from aiodfu.testing.drogue import BootMagic, BootOutcome, DrogueEmulator, DrogueFaults
from aiodfu.testing.emulator import Emulator, FaultyFirstLink
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
    "FaultyFirstLink",
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

_BLE_NAMES = {
    "BleLinkModel": "aiodfu.testing.ble",
    "BlePeripheral": "aiodfu.testing.ble",
    "BleRadio": "aiodfu.testing.ble",
    "BumbleBleakClient": "aiodfu.testing.ble",
    "BumbleBleakScanner": "aiodfu.testing.ble",
    "ApplicationProfile": "aiodfu.testing.nrf5_legacy",
    "BootloaderConfig": "aiodfu.testing.nrf5_legacy",
    "LegacyDfuFaults": "aiodfu.testing.nrf5_legacy",
    "Nrf5LegacyEmulator": "aiodfu.testing.nrf5_legacy",
}


def __getattr__(name: str) -> Any:
    """Import the BLE emulators (which need Bumble) only when one is asked for."""
    module = _BLE_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'aiodfu.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
