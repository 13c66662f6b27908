"""The emulated target configured as an Adafruit nRF52 bootloader (BLE OTA DFU).

:func:`adafruit_nrf52` builds a :class:`Nrf5LegacyEmulator` that behaves as
``adafruit/Adafruit_nRF52_Bootloader`` does over BLE (protocol reference,
section 13), in one of two releases:

* :attr:`AdafruitRelease.V0_9` (0.6.0 - 0.9.2, most boards in the field): ATT
  MTU 23, 20-byte Packet writes (write without response only), a receive pool
  of 8, no DFU inactivity timer; a bootloader left without an application
  enters USB DFU after any reset -- silent on the radio;
* :attr:`AdafruitRelease.V0_10` (0.10.0, 2026): MTU up to 247 rounded to 4k + 3
  (244-byte packets), Packet writes with or without response, a pool of 16, a
  360 s inactivity timer; a Reset (or the timer) sends a bootloader that was
  connected to back to BLE DFU, only an error reset ends in USB DFU.

Both: DFU revision 0.8, advertised name ``AdaDFU`` (``name=`` for boards that
override it), a Device Information Service whose Firmware Revision String
names the release, single-bank flash (the application is erased when the size
record is accepted), Start checked when the size record arrives
(``sdk_packet_routing``) and answered after an erase of whole 4 KiB pages,
undirected advertising at the application's address after a buttonless jump
(the application hands over its peer data). Applications reach it through
the legacy buttonless service (Bluefruit's ``BLEDfu``) or the Secure DFU
buttonless characteristic (:data:`MESHTASTIC`)::

    target = adafruit_nrf52(radio, mode="application", application=old,
                            application_profile=MESHTASTIC)
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from aiodfu.nrf5_legacy.adafruit import (
    ADAFRUIT_TARGET_NAME,
    DIS_FIRMWARE_REVISION_UUID,
    DIS_MANUFACTURER_UUID,
    DIS_MODEL_UUID,
)
from aiodfu.testing.ble import BleRadio
from aiodfu.testing.nrf5_legacy.emulator import Nrf5LegacyEmulator
from aiodfu.testing.nrf5_legacy.state import BootloaderConfig

NRF52840_APP_AREA = 0xF4000 - 0x26000 - 10 * 4096
"""Feather nRF52840: bootloader at 0xF4000, S140 6.1.1 up to 0x26000, 10 pages reserved."""
PAGE_ERASE_TIME = 0.085
"""nRF52840 page erase (adafruit-nrfutil uses 0.0897 s, the nRF52832 maximum)."""
FLASH_RATE = 4 / 41e-6
"""Bytes per second of word writes (41 us per word); the SoftDevice's scheduling adds to it."""

_EVERY_RESET = frozenset(
    {
        "reset",
        "inactivity timeout",
        "failed notification",
        "activate in the wrong state",
        "softdevice activated",
    }
)


class AdafruitRelease(enum.Enum):
    V0_9 = "0.9.2"
    V0_10 = "0.10.0"


def adafruit_config(
    release: AdafruitRelease = AdafruitRelease.V0_9, **changes: Any
) -> BootloaderConfig:
    """The :class:`BootloaderConfig` of an Adafruit bootloader ``release``; ``changes``
    override fields (tests shorten ``page_erase_time``, raise ``flash_rate``)."""
    new = release is AdafruitRelease.V0_10
    config = BootloaderConfig(
        bank_size=NRF52840_APP_AREA,  # single bank: every image may use the whole area
        app_area_size=NRF52840_APP_AREA,
        bootloader_region=0xFE000 - 0xF4000 - 2 * 4096,
        uicr_device_type=0x0052,
        # dfu_init.c also wants the board's revision (52840) for SoftDevice and bootloader
        # images only; the emulated prevalidation cannot tell, so it checks none.
        softdevice_fwid=0x00B6,  # S140 6.1.1
        flash_rate=FLASH_RATE,
        page_erase_time=PAGE_ERASE_TIME,
        pool_size=16 if new else 8,
        max_packet=244 if new else 20,
        sdk_packet_routing=True,
        single_bank=True,
        att_mtu=247 if new else 23,
        round_mtu=new,
        packet_write_with_response=new,
        control_point_max=20,
        usb_dfu_after=frozenset({"failed notification"}) if new else _EVERY_RESET,
    )
    return attrs.evolve(config, **changes)


def device_information(
    release: AdafruitRelease = AdafruitRelease.V0_9,
    *,
    manufacturer: str = "Adafruit Industries",
    model: str = "Feather nRF52840 Express",
) -> dict[str, bytes]:
    """The bootloader's DIS: manufacturer, model, ``"<release> s140 6.1.1"``."""
    return {
        DIS_MANUFACTURER_UUID: manufacturer.encode(),
        DIS_MODEL_UUID: model.encode(),
        DIS_FIRMWARE_REVISION_UUID: f"{release.value} s140 6.1.1".encode(),
    }


def adafruit_nrf52(
    radio: BleRadio,
    *,
    release: AdafruitRelease = AdafruitRelease.V0_9,
    name: str = ADAFRUIT_TARGET_NAME,
    config: BootloaderConfig | None = None,
    model: str = "Feather nRF52840 Express",
    **options: Any,
) -> Nrf5LegacyEmulator:
    """An emulated board with the Adafruit bootloader ``release``; ``options`` are
    :class:`Nrf5LegacyEmulator`'s (``mode``, ``application``, ``application_profile``,
    ``faults``...). ``config`` replaces :func:`adafruit_config`'s whole."""
    options.setdefault("peer_data", True)
    options.setdefault("inactivity_timeout", 360.0 if release is AdafruitRelease.V0_10 else None)
    return Nrf5LegacyEmulator(
        radio,
        config=config or adafruit_config(release),
        bootloader_name=name,
        directed_advertising=False,
        device_information=device_information(release, model=model),
        **options,
    )
