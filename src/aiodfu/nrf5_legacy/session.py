"""Update an nRF5 SDK <= 11 device over BLE with legacy DFU, through bleak.

>>> async with aiodfu.nrf5_legacy.connect("C0:FF:EE:00:00:01") as session:
...     result = await session.update(Package.load("app_dfu_package.zip"))

The session finds the bootloader (a buttonless jump from an application with
revision 0.1 first, then the same address, address + 1, ``DfuTarg`` or the DFU
service by scanning), sends each part of the package in its own DFU session,
and resumes after a link loss where the target kept its state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import attrs
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from aiodfu.core.errors import (
    DfuError,
    DfuTimeoutError,
    LinkLostError,
    UnsupportedError,
    UsageError,
)
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, Progress, ProgressCallback, ProgressTracker
from aiodfu.core.session import UpdateResult, UpdateSession, Verification, VerificationMethod
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.device import LegacyDfuTarget
from aiodfu.nrf5_legacy.package import Package
from aiodfu.nrf5_legacy.protocol import DEFAULT_PACKET_SIZE, OpCode
from aiodfu.nrf5_legacy.timeouts import Timeouts
from aiodfu.nrf5_legacy.transfers import PartTransfer
from aiodfu.transports.gatt import GattLink

log = logging.getLogger("aiodfu.nrf5_legacy")

DEFAULT_PRN = 4
"""Packets per receipt: small enough that two receipts fit in the 8-buffer pool."""
DEFAULT_WINDOW = 8
"""Packets in flight beyond the last confirmed count: the target's receive pool size."""

PackageSource = Package | bytes | str | os.PathLike[str]
Target = str | BLEDevice | BleakClient


class Nrf5LegacySession(UpdateSession):
    """An update session with one legacy DFU target (or an application that can jump to one).

    ``client_options`` go to every :class:`bleak.BleakClient` the session opens
    (e.g. ``backend=``), ``scanner_options`` to :class:`bleak.BleakScanner`
    when looking for the bootloader. ``packet_size`` above 20 is only for
    bootloaders that accept larger writes (Adafruit builds, after an MTU
    exchange); it must be a multiple of 4. ``prn`` 0 disables receipts (and
    with them flow control: only for targets you know to be fast enough).
    ``resume=True`` continues after a link loss from the target's own count
    (opcode 7); the default restarts the part (Reset, then Start) the way Nordic's
    tools do, as the protocol reference recommends: opcode-7 resume is documented
    by the profile but no public client exercised it against real SDK 11 targets.
    ``max_rate`` (bytes per second) caps the packet rate for targets whose flash
    is slower than the link: receipts cannot reveal a slow flash, so without it
    such a target's receive pool overflows.
    """

    def __init__(
        self,
        target: Target,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        prn: int = DEFAULT_PRN,
        window: int = DEFAULT_WINDOW,
        packet_size: int = DEFAULT_PACKET_SIZE,
        resume: bool = False,
        max_rate: float | None = None,
        client_options: Mapping[str, Any] | None = None,
        scanner_options: Mapping[str, Any] | None = None,
    ) -> None:
        if packet_size <= 0 or packet_size % 4:
            raise UsageError(f"packet size {packet_size} must be a positive multiple of 4")
        if not 0 <= prn <= 0xFFFF or window < 1:
            raise UsageError("prn must be 0..65535 and window at least 1")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy(attempts=4, initial_delay=0.2)
        self.prn = prn
        self.window = window
        self.packet_size = packet_size
        if max_rate is not None and max_rate <= 0:
            raise UsageError("max_rate must be positive (bytes per second)")
        self.resume = resume
        self.max_rate = max_rate
        self.client_options = dict(client_options or {})
        self.scanner_options = dict(scanner_options or {})
        self._given_client = target if isinstance(target, BleakClient) else None
        if isinstance(target, BleakClient):
            self.address = str(target.address)
        elif isinstance(target, BLEDevice):
            self.address = target.address
        else:
            self.address = target
        self.dfu_address: str | None = None
        """Where the bootloader was found (the address itself, address + 1, or a scan result)."""
        self.revision: int | None = None
        self._links: list[GattLink] = []

    async def aclose(self) -> None:
        for link in self._links:
            await link.aclose()
        self._links.clear()

    # --- the update ---------------------------------------------------------------------------

    async def update(
        self, package: PackageSource | FirmwareImage, *, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Send every part of ``package``; raise a :class:`DfuError` on failure.

        Progress is reported per part (``total`` is the part's size; the
        message names the part).
        """
        if isinstance(package, FirmwareImage):
            package = Package.load(package.data)
        elif not isinstance(package, Package):
            package = Package.load(package)
        package.check()  # CRC/hash against the image, sizes: before touching the radio
        started = asyncio.get_running_loop().time()
        moved = attempts = 0
        details: dict[str, str] = {}
        for index, part in enumerate(package.parts):
            name = (part.image_type.name or "image").lower()
            tracker = ProgressTracker(len(part.firmware), _labelled(progress, name))
            tracker.set_phase(Phase.CONNECTING, f"{name}: connecting")
            transfer = PartTransfer(
                part,
                self._open_target,
                packet_size=self.packet_size,
                prn=self.prn,
                window=self.window,
                resume=self.resume,
                max_rate=self.max_rate,
            )
            await run_transfer(transfer, tracker, self.retry, what=f"{name} DFU")
            tracker.set_phase(Phase.ACTIVATING, f"{name}: activating")
            target = transfer.target
            if target is not None:
                await target.reset_and_wait(OpCode.ACTIVATE_AND_RESET)
            tracker.set_phase(Phase.DONE, f"{name}: done")
            moved += tracker.moved
            attempts += tracker.attempt
            details[f"part{index + 1}"] = (
                f"{name} {len(part.firmware)} bytes, attempts {tracker.attempt}"
                + (f", resumed at {transfer.resumed_at}" if transfer.resumed_at else "")
                + (", DFU v1" if transfer.v1_mode else "")
            )
        details["dfu_address"] = self.dfu_address or self.address
        if self.revision is not None:
            details["revision"] = f"0x{self.revision:04X}"
        image = FirmwareImage(
            b"".join(part.firmware for part in package.parts),
            details=package,
            source=package.source,
        )
        return UpdateResult(
            image=image,
            attempts=attempts,
            bytes_moved=moved,
            elapsed=asyncio.get_running_loop().time() - started,
            verification=Verification(
                VerificationMethod.DEVICE_CRC,
                "the bootloader checked each part against its init packet's CRC before "
                "activating it",
            ),
            details=details,
        )

    # --- finding and opening the bootloader ---------------------------------------------------

    async def _open_target(self) -> LegacyDfuTarget:
        address = self.dfu_address or self.address
        target = await self._open(address)
        if target.in_application:
            await self._enter_bootloader(target)
            address = await self._find_bootloader()
            target = await self._open(address)
            if target.in_application:
                raise UnsupportedError(
                    "the device is still running its application after the buttonless jump",
                    operation="enter bootloader",
                )
        self.dfu_address = address
        self.revision = target.revision
        self._check_packet_size(target)
        return target

    async def _open(self, address: str) -> LegacyDfuTarget:
        link = await self._connect(address)
        target = LegacyDfuTarget(link, self.timeouts)
        try:
            await target.open()
        except BaseException:
            await link.aclose()
            raise
        return target

    async def _connect(self, address: str) -> GattLink:
        if self._given_client is not None and self._given_client.is_connected:
            client, self._given_client = self._given_client, None
            link = GattLink.wrap(client)
        else:
            self._given_client = None
            link = await GattLink.connect(
                address, timeout=self.timeouts.connect, **self.client_options
            )
        self._links = [lk for lk in self._links if lk.is_connected] + [link]
        return link

    async def _enter_bootloader(self, target: LegacyDfuTarget) -> None:
        """Buttonless entry: ``01 04`` to the app's Control Point, then it drops the link."""
        log.info("%s runs its application (revision 0.1): jumping to the bootloader", self.address)
        try:
            await target.write_control(
                protocol.start_dfu(protocol.ImageType.APPLICATION), "enter bootloader"
            )
            await target.link.wait_disconnected(self.timeouts.disconnect, "enter bootloader")
        except (LinkLostError, DfuTimeoutError) as exc:
            log.debug("buttonless jump: %s (expected: the app resets)", exc)
        finally:
            await target.link.aclose()

    async def _find_bootloader(self) -> str:
        """The bootloader's address: the same one, address + 1, ``DfuTarg`` or the 1530 service."""
        same = self.address.upper()
        plus_one = protocol.next_bootloader_address(same)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.timeouts.bootloader_search
        while loop.time() < give_up:
            try:
                seen = await BleakScanner.discover(
                    timeout=1.0, return_adv=True, **self.scanner_options
                )
            except BleakError as exc:  # no adapter or scanning refused: connect directly
                log.debug("scanning failed: %s", exc)
                seen = {}
            by_address = {address.upper(): adv for address, (_, adv) in seen.items()}
            for preferred in (same, plus_one):
                if preferred in by_address:
                    return preferred
            for address, adv in by_address.items():
                if adv.local_name == protocol.DFU_TARGET_NAME or protocol.SERVICE_UUID in (
                    adv.service_uuids or []
                ):
                    return address
            # Directed advertising is invisible to many scanners: try the same address directly.
            try:
                link = await GattLink.connect(same, timeout=1.0, **self.client_options)
            except (DfuError, TimeoutError):
                continue
            await link.aclose()
            return same
        raise DfuTimeoutError(
            f"no bootloader found within {self.timeouts.bootloader_search:g} s "
            f"(looked for {same}, {plus_one}, {protocol.DFU_TARGET_NAME!r} and the DFU service)",
            operation="find bootloader",
        )

    def _check_packet_size(self, target: LegacyDfuTarget) -> None:
        limit = target.link.max_write_without_response(protocol.PACKET_UUID)
        if self.packet_size > limit:
            raise UsageError(
                f"packet size {self.packet_size} exceeds what this link can write at once "
                f"({limit} bytes at ATT MTU {target.link.mtu})",
                operation="Receive firmware",
            )


def _labelled(callback: ProgressCallback | None, name: str) -> ProgressCallback | None:
    if callback is None:
        return None

    def report(progress: Progress) -> None:
        callback(progress if progress.message else attrs.evolve(progress, message=name))

    return report


def connect(target: Target, **options: Any) -> Nrf5LegacySession:
    """A session for ``target`` (address, ``BLEDevice`` or ``BleakClient``); use ``async with``."""
    return Nrf5LegacySession(target, **options)
