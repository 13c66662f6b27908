"""The legacy DFU target across its connections (a :class:`~aiodfu.core.link.DeviceLink`).

Each connection is a :class:`~aiodfu.nrf5_legacy.target.LegacyDfuTarget`;
:class:`Nrf5LegacyDevice` decides where the next one goes (the bootloader
after a link loss, the device found again after it rebooted, the bootloader
after a buttonless jump), resets the target, and releases it clean.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice

from aiodfu.core.errors import DfuTimeoutError, LinkLostError, UnsupportedError
from aiodfu.core.link import DeviceLink
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.adafruit import BOOTLOADER_NAMES, BootloaderInfo
from aiodfu.nrf5_legacy.protocol import OpCode
from aiodfu.nrf5_legacy.target import LegacyDfuTarget
from aiodfu.nrf5_legacy.timeouts import Timeouts
from aiodfu.transports.ble_scan import Wanted, locate
from aiodfu.transports.gatt import GattLink, GattTransport

log = logging.getLogger("aiodfu.nrf5_legacy")

__all__ = ["LegacyDfuTarget", "Nrf5LegacyDevice"]


class Nrf5LegacyDevice(DeviceLink[LegacyDfuTarget]):
    """The target across its connections: always opened in DFU mode, wherever it is.

    Opening (:meth:`reopen`) connects to the bootloader, whichever personality
    the device runs: the cached bootloader address after a mere link loss (the
    bootloader keeps advertising); otherwise wherever the device is seen --
    its application (then the buttonless jump, and the bootloader at the same
    address or address + 1), or a bootloader already running. After a Reset or
    an activation of ours the device reboots into what it has, so it is looked
    for again rather than dialled at its old address.

    :meth:`on_release` (run when a session ends by an error or a cancel) sends
    Reset to a bootloader holding a half-done DFU, so the device boots what it
    has -- its application, or a fresh DFU mode -- instead of waiting out the
    120 s inactivity timer in a state a third-party host cannot resume. An
    Adafruit bootloader that accepted a Start is left as it is instead: it
    erased the application at Start (single bank), and without an application
    a reset sends releases up to 0.9.x to USB DFU, out of reach over BLE; left
    alone it keeps advertising with the bytes it has, and the next session
    continues from them (opcode 7).

    ``bootloader_names`` are the names the bootloader may advertise after a
    buttonless jump, besides ``DfuTarg`` and ``AdaDFU`` (boards override it:
    ``4631_DFU``, ``XIAO_DFU``...); its address and the DFU service UUID are
    looked for as well.
    """

    def __init__(
        self,
        target: str | BLEDevice | BleakClient,
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        client_options: Mapping[str, Any] | None = None,
        scanner_options: Mapping[str, Any] | None = None,
        bootloader_names: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            self._open_dfu_target,
            retry=retry,
            open_timeout=timeouts.open_limit,
            release_timeout=timeouts.release,
        )
        self.timeouts = timeouts
        self.client_options = dict(client_options or {})
        self.scanner_options = dict(scanner_options or {})
        self._given_client = target if isinstance(target, BleakClient) else None
        if isinstance(target, BleakClient):
            address = str(target.address)
        elif isinstance(target, BLEDevice):
            address = target.address
        else:
            address = target
        self.address = address.upper()
        """The address the caller named (the application's, or a bootloader's)."""
        self.dfu_address: str | None = None
        """Where the bootloader was last found (the address itself, address + 1, a scan result)."""
        self.revision: int | None = None
        self.bootloader: BootloaderInfo | None = None
        """What an Adafruit bootloader says about itself (its DIS), once one was opened."""
        self.bootloader_names = (*BOOTLOADER_NAMES, *bootloader_names)
        self.started = False
        """A Start DFU was accepted by the bootloader now running (set by the transfer)."""
        self._homes = (self.address, protocol.next_bootloader_address(self.address))
        """Where the device may be found: its address, and address + 1 (a bootloader entered
        without peer data). A bootloader named by the caller resets to an application whose
        address is not known, so the caller should name the application."""
        self._rebooted = False
        self._application_seen: str | None = None

    @property
    def application_address(self) -> str | None:
        """Where the application advertises, when this session knows it: it was seen there
        (buttonless entry), or the caller named an address other than the one the bootloader
        answered at (address + 1, a scan result). ``None`` when the caller named the
        bootloader itself."""
        if self._application_seen is not None:
            return self._application_seen
        if self.dfu_address is not None and self.dfu_address != self.address:
            return self.address
        return None

    # --- DeviceLink hooks ---------------------------------------------------------------------

    def is_alive(self, link: LegacyDfuTarget) -> bool:
        return link.link.is_connected

    async def detach(self, link: LegacyDfuTarget) -> None:
        await link.link.aclose()

    async def on_release(self) -> None:
        target = self.link
        if not target.has_dfu_service or target.in_application:
            return
        if target.is_adafruit and self.started:
            log.info(
                "leaving the Adafruit bootloader at %s in DFU mode: it erased its application "
                "at Start, and the next session continues from the bytes it holds",
                target.link.address,
            )
            return
        log.info("leaving %s: resetting the bootloader out of the unfinished DFU", self.address)
        await self.reset()

    # --- resets -------------------------------------------------------------------------------

    async def reset(self, op: OpCode = OpCode.RESET, target: LegacyDfuTarget | None = None) -> None:
        """Reset (or Activate & Reset) the target; it reboots, so it is looked for afresh.

        ``target`` is a connection of :meth:`open_at`; by default the device's own link.
        """
        self._rebooted = True
        self.started = False
        try:
            await (target or self.link).reset(op)
        finally:
            await self.aclose()

    async def open_at(self, address: str) -> LegacyDfuTarget:
        """A connection to whatever answers at ``address``, as it is (no jump); close it after."""
        return await self._open(address)

    @property
    def homes(self) -> tuple[str, ...]:
        """Every address the device was or may be seen at (bootloader first, once known)."""
        known = (self.dfu_address,) if self.dfu_address else ()
        return (*known, *(a for a in self._homes if a not in known))

    # --- opening ------------------------------------------------------------------------------

    async def _open_dfu_target(self) -> LegacyDfuTarget:
        target = await self._open_anywhere()
        if target.in_application:
            application = self._application_seen = target.link.address.upper()
            await self._enter_bootloader(target)
            address = await self.locate(
                Wanted(
                    addresses=(application, protocol.next_bootloader_address(application)),
                    names=self.bootloader_names,
                    service_uuids=(protocol.SERVICE_UUID,),
                ),
                probe=application,
                what="find the bootloader",
            )
            target = await self._open(address)
            if target.in_application:
                await target.link.aclose()
                raise UnsupportedError(
                    "the device is still running its application after the buttonless jump",
                    operation="enter bootloader",
                )
        self.dfu_address = target.link.address.upper()
        self.revision = target.revision
        self.bootloader = target.bootloader_info
        self._rebooted = False
        return target

    async def _open_anywhere(self) -> LegacyDfuTarget:
        """Connect to the device in whatever personality it runs now."""
        client, self._given_client = self._given_client, None
        if client is not None and client.is_connected:
            return await self._opened(GattLink.wrap(client))
        if not self._rebooted:
            # After a mere link loss the bootloader advertises where it was.
            address = self.dfu_address or self.address
            try:
                return await self._open(address)
            except (LinkLostError, DfuTimeoutError) as exc:
                log.info("%s does not answer (%s): looking for the device", address, exc)
        address = await self.locate(Wanted(addresses=self.homes), probe=self.address)
        return await self._open(address)

    async def _open(self, address: str) -> LegacyDfuTarget:
        link = await GattLink.connect(address, timeout=self.timeouts.connect, **self.client_options)
        return await self._opened(link)

    async def _opened(self, link: GattTransport) -> LegacyDfuTarget:
        target = LegacyDfuTarget(link, self.timeouts)
        try:
            await target.open()
        except BaseException:
            await link.aclose()
            raise
        return target

    async def locate(
        self,
        wanted: Wanted,
        *,
        probe: str,
        timeout: float | None = None,
        what: str = "find the device",
    ) -> str:
        """Where ``wanted`` advertises (or ``probe`` connects), within ``bootloader_search``."""
        return await locate(
            wanted,
            timeout=self.timeouts.bootloader_search if timeout is None else timeout,
            probe=probe,
            probe_timeout=min(self.timeouts.connect, 1.0),
            scanner_options=self.scanner_options,
            client_options=self.client_options,
            what=what,
        )

    async def _enter_bootloader(self, target: LegacyDfuTarget) -> None:
        """Buttonless entry (legacy or Secure DFU buttonless), then the app drops the link."""
        log.info("%s runs its application: jumping to the bootloader", target.link.address)
        await target.enter_bootloader()
