"""An emulated legacy nRF5 DFU target (SDK 11 bootloader, and an app with buttonless entry).

The target is a GATT server on a :class:`~aiodfu.testing.ble.BleRadio` (Bumble,
a real ATT/GATT stack), so any bleak code reaches it through
:class:`~aiodfu.testing.ble.BumbleBleakClient`::

    async with BleRadio() as radio, Nrf5LegacyEmulator(radio, mode="application") as target:
        await target.start()
        client = BleakClient(target.address, backend=BumbleBleakClient, radio=radio)

Options (constructor):

* ``address`` -- the device's own address (the application's). Entered without
  peer data, the bootloader advertises as ``DfuTarg`` at address + 1 in the last
  octet (:attr:`bootloader_address`); with ``peer_data=True`` it uses the same
  address and advertises directed to the central that triggered the jump.
* ``mode`` -- ``"bootloader"`` (no valid app, DFU mode) or ``"application"``
  (an app with a buttonless entry: the DFU service with revision 0.1, and/or
  the Secure DFU buttonless characteristic, see :class:`ApplicationProfile`).
* ``application`` -- the installed application image (makes the app valid).
* ``config`` -- :class:`BootloaderConfig`: bank sizes, UICR device type and
  revision, running SoftDevice FWID, init packet format (stock template or a
  customised bootloader reading 0.6/0.7), flash write rate, erase time,
  receive-pool size, largest Packet write (20; larger for Adafruit-style
  builds), and the pre-SDK-7 v1 protocol.
* ``revision`` -- the bootloader's DFU revision (``0x0008``), or ``None`` for
  a target without the revision characteristic.
* ``inactivity_timeout`` -- the 120 s DFU timer (restarted by Start, init
  writes, data packets and Validate only); on expiry the target resets.
* ``faults`` -- :class:`LegacyDfuFaults`: drop Packet writes, drop the link
  after N data packets or on an opcode, delay notifications, and whether a
  notification that cannot be sent resets the chip (the SDK 11 error handler).
* ``bootloader_name``, ``directed_advertising``, ``device_information`` -- how
  the bootloader presents itself (``DfuTarg``, directed to the central after a
  jump with peer data, no DIS: the stock SDK 11 bootloader).

:func:`adafruit_nrf52` configures all of it as an Adafruit nRF52 bootloader
(:class:`AdafruitRelease` 0.9.x or 0.10); :data:`MESHTASTIC` is an application
that enters it through the Secure DFU buttonless characteristic. A bootloader
that would run USB DFU (no application, after the resets its release sends
there) is :attr:`Mode.USB_DFU`: silent on the radio.

Inspection: :attr:`mode`, :attr:`machine` (the bootloader's RAM state:
``state``, ``received``, ``prn_target``...), :attr:`application`,
:attr:`softdevice`, :attr:`bootloader`, :attr:`application_version`,
:attr:`boots`, :attr:`pool_overflows`, :attr:`control_point_log` (every
request with the mode it reached), :attr:`failures` (emulator bugs).

Faithful details: Control Point writes are refused with ATT error 0xFD while
its CCCD is off and with 0x82 when longer than a single write can be (a
prepared write); the CCCD is per connection, so it is lost with the link
while the bootloader's state is kept; PRNs carry cumulative byte counts and
never follow the final packet; ``10 03 01`` goes out after the final packet's
flash write.

Modules: :mod:`~aiodfu.testing.nrf5_legacy.emulator` (the device: its
personalities, resets, faults), :mod:`~aiodfu.testing.nrf5_legacy.state` (the
bootloader's state machine, without I/O, reading requests with the host's own
codec :mod:`aiodfu.nrf5_legacy.protocol`) and
:mod:`~aiodfu.testing.nrf5_legacy.gatt` (the GATT tables) and
:mod:`~aiodfu.testing.nrf5_legacy.faults`.

Needs the ``emulators`` extra (Bumble): without it, importing this package
raises an :class:`ImportError` that names ``aiodfu[emulators]``.
"""

# First: aiodfu.testing.ble checks for Bumble and names the extra before anything imports it.
from aiodfu.testing.ble import BleRadio
from aiodfu.testing.nrf5_legacy.adafruit import (
    AdafruitRelease,
    adafruit_config,
    adafruit_nrf52,
)
from aiodfu.testing.nrf5_legacy.emulator import DEFAULT_ADDRESS, Mode, Nrf5LegacyEmulator
from aiodfu.testing.nrf5_legacy.faults import LegacyDfuFaults
from aiodfu.testing.nrf5_legacy.gatt import MESHTASTIC, ApplicationProfile
from aiodfu.testing.nrf5_legacy.state import (
    BootloaderConfig,
    BootloaderMachine,
    InitFormat,
    State,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "MESHTASTIC",
    "AdafruitRelease",
    "ApplicationProfile",
    "BleRadio",
    "BootloaderConfig",
    "BootloaderMachine",
    "InitFormat",
    "LegacyDfuFaults",
    "Mode",
    "Nrf5LegacyEmulator",
    "State",
    "adafruit_config",
    "adafruit_nrf52",
]
