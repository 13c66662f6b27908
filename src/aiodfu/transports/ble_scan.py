"""Finding BLE peripherals again: by address, advertised name or service, through bleak.

DFU over BLE keeps losing sight of its device: a buttonless jump reboots an
application into a bootloader that may advertise at another address, a reset
boots the application back, an activation ends the bootloader. Every BLE
backend needs the same three answers, written once here:

* :func:`scan_for` -- an advertiser matching a :class:`Wanted` (addresses,
  local names, 128-bit service UUIDs) within a time, or ``None``. An address
  match wins at once; a device that matches only by name or service (another
  board's bootloader in range advertises the same) is taken only if no
  address match turns up before the time is over;
* :func:`locate` -- scan in short windows, and between them connect to a
  ``probe`` address directly: directed advertising (a bootloader that knows
  its central) is invisible to many scanners, yet connectable. Raises
  :class:`~aiodfu.core.errors.DfuTimeoutError` when nothing answers in time;
* :func:`reachable` -- whether one address can be connected to at all.

``scanner_options`` go to :class:`bleak.BleakScanner` and ``client_options``
to :class:`bleak.BleakClient` (e.g. ``backend=`` and ``radio=`` for the
emulated radio of :mod:`aiodfu.testing.ble`). A platform that cannot scan
(no adapter, scanning refused) degrades to the direct probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import attrs
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from aiodfu.core.errors import DfuError, DfuTimeoutError
from aiodfu.transports.gatt import GattLink

log = logging.getLogger("aiodfu.transports.ble_scan")

SCAN_WINDOW = 1.0
"""Seconds of scanning between two direct probes in :func:`locate`."""


def _upper(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(value.upper() for value in values)


def _lower(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(value.lower() for value in values)


@attrs.frozen
class Wanted:
    """What a scan looks for: any of these addresses, local names or advertised services."""

    addresses: tuple[str, ...] = attrs.field(default=(), converter=_upper)
    names: tuple[str, ...] = ()
    service_uuids: tuple[str, ...] = attrs.field(default=(), converter=_lower)

    def matches(self, address: str, advertisement: AdvertisementData) -> bool:
        return self.by_address(address) or self.by_content(advertisement)

    def by_address(self, address: str) -> bool:
        return address.upper() in self.addresses

    def by_content(self, advertisement: AdvertisementData) -> bool:
        """Whether the advertisement's name or services are wanted (any device may send them)."""
        if advertisement.local_name is not None and advertisement.local_name in self.names:
            return True
        advertised = {uuid.lower() for uuid in advertisement.service_uuids or ()}
        return not advertised.isdisjoint(self.service_uuids)

    def describe(self) -> str:
        parts = [*self.addresses, *(repr(name) for name in self.names)]
        parts += [f"service {uuid}" for uuid in self.service_uuids]
        return ", ".join(parts) or "nothing"


async def scan_for(
    wanted: Wanted, *, timeout: float, scanner_options: Mapping[str, Any] | None = None
) -> str | None:
    """The address ``wanted`` matches within ``timeout``, else ``None``.

    A wanted address is returned as soon as it is seen; otherwise the first
    advertiser matching by name or service, once ``timeout`` is over. Raises
    :class:`bleak.exc.BleakError` (or :class:`OSError`, e.g. no D-Bus for
    BlueZ) when the platform cannot scan.
    """
    loop = asyncio.get_running_loop()
    found: asyncio.Future[str] = loop.create_future()
    lookalikes: list[str] = []

    def seen(device: BLEDevice, advertisement: AdvertisementData) -> None:
        if found.done():
            return
        if wanted.by_address(device.address):
            found.set_result(device.address.upper())
        elif not lookalikes and wanted.by_content(advertisement):
            lookalikes.append(device.address.upper())

    async with BleakScanner(seen, **dict(scanner_options or {})):
        done, _ = await asyncio.wait({found}, timeout=timeout)
    if not done:
        found.cancel()
        return lookalikes[0] if lookalikes else None
    return found.result()


async def reachable(
    address: str, *, timeout: float, client_options: Mapping[str, Any] | None = None
) -> bool:
    """Whether a connection to ``address`` succeeds within ``timeout`` (it is closed again)."""
    try:
        link = await GattLink.connect(address, timeout=timeout, **dict(client_options or {}))
    except (DfuError, TimeoutError) as exc:
        log.debug("%s is not reachable: %s", address, exc)
        return False
    await link.aclose()
    return True


async def locate(
    wanted: Wanted,
    *,
    timeout: float,
    probe: str | None = None,
    probe_timeout: float = 1.0,
    scanner_options: Mapping[str, Any] | None = None,
    client_options: Mapping[str, Any] | None = None,
    what: str = "find the device",
) -> str:
    """Where ``wanted`` advertises (or ``probe`` connects) within ``timeout`` seconds.

    Scans in windows of :data:`SCAN_WINDOW`; after each window without a match
    the ``probe`` address, if any, is connected to directly.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    can_scan = True
    while True:
        left = give_up - loop.time()
        if left <= 0:
            break
        if can_scan:
            try:
                address = await scan_for(
                    wanted, timeout=min(SCAN_WINDOW, left), scanner_options=scanner_options
                )
            except (BleakError, OSError) as exc:  # no adapter, no BlueZ, refused: probe only
                log.debug("scanning failed (%s): connecting directly", exc)
                can_scan = False
            else:
                if address is not None:
                    return address
        if probe is not None:
            left = give_up - loop.time()
            if left > 0 and await reachable(
                probe, timeout=min(probe_timeout, left), client_options=client_options
            ):
                return probe.upper()
        elif not can_scan:
            break
    raise DfuTimeoutError(
        f"nothing found within {timeout:g} s (looked for {wanted.describe()})", operation=what
    )
