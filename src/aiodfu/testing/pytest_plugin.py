"""pytest fixtures for testing code against aiodfu's emulated devices.

Installed with aiodfu (the ``pytest11`` entry point ``aiodfu``), so a project
that depends on aiodfu gets these fixtures without any configuration. They are
async fixtures and need **pytest-asyncio** (without it, each fails with a
message saying so); the BLE ones need the ``emulators`` extra (Bumble).

The fixtures live in :mod:`aiodfu.testing.fixtures`: the shared ones in
``shared``, and one module per backend, named by the backend's entry in
:mod:`aiodfu.registry` -- a new backend brings its fixtures with its registry line.

* ``aiodfu_emulators`` -- register emulators you build with options of your
  own; each is closed at teardown, and the test fails if one of them crashed
  while serving (an emulator bug, never a mere link loss).
* ``serial_modem_emulator`` / ``serial_modem_pty`` -- a Nordic Serial Modem with
  default options, and the path of a pseudo-terminal serving it.
* ``drogue_emulator`` / ``drogue_pty`` -- the same for a Drogue device
  (embedded-update on embassy-boot); ``drogue_gatt_host`` serves that same
  device's BLE firmware service on ``ble_radio``.
* ``notecard_emulator`` / ``notecard_pty`` -- a Blues Notecard offering a
  64 KiB host firmware image; ``notecard_i2c_bus`` -- that card at 0x17 on an
  emulated 400 kHz I2C bus (pass it to ``aiodfu.notecard.open_i2c``).
* ``ble_radio`` / ``nrf5_legacy_target`` -- Bumble's in-process BLE link and
  a legacy nRF5 DFU target advertising on it; connect with
  ``BleakClient(address, backend=BumbleBleakClient, radio=...)``;
  ``adafruit_ble_board`` -- a board with the Adafruit nRF52 bootloader, running
  an application with the Secure DFU buttonless entry (Meshtastic's).
* ``adafruit_serial_emulator`` / ``adafruit_serial_pty`` -- an Adafruit nRF52
  bootloader taking legacy DFU over a serial port.
* ``rainmaker_emulator`` / ``rainmaker_pty`` -- an ESP-AT RainMaker module with
  a pending host-MCU OTA job served from its own loopback HTTP server;
  ``rainmaker_server`` -- a bare loopback :class:`FirmwareServer`.
"""

from __future__ import annotations

from aiodfu.registry import BACKENDS
from aiodfu.testing.fixtures.shared import EmulatorRegistry

__all__ = ["EmulatorRegistry"]

pytest_plugins = [
    "aiodfu.testing.fixtures.shared",
    *(backend.fixtures for backend in BACKENDS if backend.fixtures is not None),
]
