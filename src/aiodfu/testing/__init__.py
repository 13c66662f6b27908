"""Emulated devices, link models, fault injection and fixtures for testing DFU code.

Public API: the emulators are how aiodfu tests itself, and how you can test
your own code -- over an in-memory link (:meth:`Emulator.connect`) or a
pseudo-terminal any serial program can open (:func:`serve_pty`), and for BLE
targets over Bumble's in-process link, driven through bleak's own
``BleakClient``. The BLE names need the ``emulators`` extra (Bumble) and are
imported on first use.
"""

from typing import Any

from aiodfu.testing.device_faults import (
    DEVICE_FAULT_KINDS,
    AfterSeconds,
    AtOffset,
    DeviceFault,
    DeviceFaults,
    ErrorReply,
    FiredDeviceFault,
    Latency,
    OnCommand,
    Reboot,
    Silence,
    Unsolicited,
)
from aiodfu.testing.drogue import BootMagic, BootOutcome, DrogueEmulator, DrogueFaults
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.faults import (
    LINK_FAULT_KINDS,
    FaultVocabulary,
    FaultyFirstLink,
    FaultyLinks,
    LinkPlan,
    random_device_fault,
    random_link_plan,
)
from aiodfu.testing.faulty_device import FaultyDevice
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel, I2cFaults, PeripheryI2c
from aiodfu.testing.images import (
    build_full_modem_package,
    build_mcuboot_image,
    build_modem_delta,
    random_firmware,
)
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults, notecard_i2c_bus
from aiodfu.testing.notecard import Storage as NotecardStorage
from aiodfu.testing.nrf5_legacy_serial import (
    FEATHER_NRF52832,
    FEATHER_NRF52840,
    AdafruitBoard,
    AdafruitSerialEmulator,
    AdafruitSerialFaults,
)
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.rainmaker import (
    FirmwareServer,
    HostJob,
    HttpFaults,
    RainMakerEmulator,
    RainMakerFaults,
)
from aiodfu.testing.serial_modem import (
    FirmwareGeneration,
    SerialModemEmulator,
    SerialModemFaults,
    UrcOrder,
)
from aiodfu.testing.serial_modem.signing import (
    build_signed_full_modem_package,
    build_signed_mcuboot_image,
    build_signed_modem_bootloader,
    build_signed_modem_delta,
)
from aiodfu.transports.memory import FiredFault, LinkFaults, LinkModel

__all__ = [
    "DEVICE_FAULT_KINDS",
    "FEATHER_NRF52832",
    "FEATHER_NRF52840",
    "LINK_FAULT_KINDS",
    "AdafruitBoard",
    "AdafruitSerialEmulator",
    "AdafruitSerialFaults",
    "AfterSeconds",
    "AtOffset",
    "BootMagic",
    "BootOutcome",
    "DeviceFault",
    "DeviceFaults",
    "DrogueEmulator",
    "DrogueFaults",
    "EmulatedI2cBus",
    "Emulator",
    "ErrorReply",
    "FaultVocabulary",
    "FaultyDevice",
    "FaultyFirstLink",
    "FaultyLinks",
    "FiredDeviceFault",
    "FiredFault",
    "FirmwareGeneration",
    "FirmwareServer",
    "HostJob",
    "HttpFaults",
    "I2cBusModel",
    "I2cFaults",
    "Latency",
    "LinkFaults",
    "LinkModel",
    "LinkPlan",
    "NotecardEmulator",
    "NotecardFaults",
    "NotecardStorage",
    "OnCommand",
    "PeripheryI2c",
    "RainMakerEmulator",
    "RainMakerFaults",
    "Reboot",
    "SerialModemEmulator",
    "SerialModemFaults",
    "Silence",
    "Unsolicited",
    "UrcOrder",
    "build_full_modem_package",
    "build_mcuboot_image",
    "build_modem_delta",
    "build_signed_full_modem_package",
    "build_signed_mcuboot_image",
    "build_signed_modem_bootloader",
    "build_signed_modem_delta",
    "notecard_i2c_bus",
    "random_device_fault",
    "random_firmware",
    "random_link_plan",
    "serve_pty",
]

_BLE_NAMES = {
    "BLE_LINK_FAULT_KINDS": "aiodfu.testing.ble",
    "BleLinkModel": "aiodfu.testing.ble",
    "FiredGattFault": "aiodfu.testing.ble",
    "GattLinkFaults": "aiodfu.testing.ble",
    "GattLinkPlan": "aiodfu.testing.ble",
    "random_gatt_plan": "aiodfu.testing.ble",
    "BlePeripheral": "aiodfu.testing.ble",
    "BleRadio": "aiodfu.testing.ble",
    "BumbleBleakClient": "aiodfu.testing.ble",
    "BumbleBleakScanner": "aiodfu.testing.ble",
    "ApplicationProfile": "aiodfu.testing.nrf5_legacy",
    "BootloaderConfig": "aiodfu.testing.nrf5_legacy",
    "DrogueGattFaults": "aiodfu.testing.drogue.gatt",
    "DrogueGattHost": "aiodfu.testing.drogue.gatt",
    "LegacyDfuFaults": "aiodfu.testing.nrf5_legacy",
    "Nrf5LegacyEmulator": "aiodfu.testing.nrf5_legacy",
}


__all__ += sorted(_BLE_NAMES)  # they need the ``emulators`` extra (Bumble): imported on first use


def __getattr__(name: str) -> Any:
    """Import the BLE emulators (which need Bumble) only when one is asked for."""
    module = _BLE_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'aiodfu.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
