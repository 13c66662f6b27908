"""Update an nRF5 SDK <= 11 device over BLE with legacy DFU, through bleak.

>>> async with aiodfu.nrf5_legacy.connect("C0:FF:EE:00:00:01") as session:
...     result = await session.update(Package.load("app_dfu_package.zip"))

The session finds the bootloader (a buttonless jump from an application first
-- the legacy DFU service with revision 0.1, or the Secure DFU buttonless
characteristic of Meshtastic's nRF52 firmware -- then the same address,
address + 1, ``DfuTarg``, ``AdaDFU`` or the DFU service by scanning; see
:class:`~aiodfu.nrf5_legacy.device.Nrf5LegacyDevice`),
sends each part of the package in its own DFU session, recovers after a link
loss, confirms each activation, and resets the target out of an unfinished DFU
when it ends by an error or a cancel.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice

from aiodfu.core.errors import UsageError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker, labelled
from aiodfu.core.session import UpdateResult, UpdateSession, Verification, VerificationMethod
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.nrf5_legacy.device import Nrf5LegacyDevice
from aiodfu.nrf5_legacy.init_packet import DfuVersion
from aiodfu.nrf5_legacy.package import Package, Part
from aiodfu.nrf5_legacy.protocol import DEFAULT_PACKET_SIZE
from aiodfu.nrf5_legacy.timeouts import DEFAULT_RETRY, Timeouts
from aiodfu.nrf5_legacy.transfers import PartTransfer

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
    when looking for the device. ``packet_size`` above 20 is only for
    bootloaders that accept larger writes (Adafruit builds, after an MTU
    exchange); it must be a multiple of 4. ``prn`` 0 disables receipts (and
    with them flow control: only for targets you know to be fast enough). A
    revision 0.8 target takes a receipt every 8 packets or fewer: a larger or
    disabled ``prn`` is lowered to 8 for it.
    ``resume=True`` continues after a link loss from the target's own count
    (opcode 7); ``False`` restarts the part (Reset, then Start) the way Nordic's
    tools do, as the protocol reference recommends for stock targets: opcode-7
    resume is documented by the profile but no public client exercised it
    against real SDK 11 targets. The default (``None``) resumes an Adafruit
    bootloader -- a reset of one that erased its application at Start may
    leave it in USB DFU mode -- and restarts any other.
    ``bootloader_names`` are names the bootloader may advertise besides
    ``DfuTarg`` and ``AdaDFU`` (e.g. ``4631_DFU``).
    ``max_rate`` (bytes per second) caps the packet rate for targets whose flash
    is slower than the link: receipts cannot reveal a slow flash, so without it
    such a target's receive pool overflows.

    Name the device by its application's address where it has one: after a
    Reset the application boots, and a bootloader's address does not tell
    where the application is.
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
        resume: bool | None = None,
        max_rate: float | None = None,
        client_options: Mapping[str, Any] | None = None,
        scanner_options: Mapping[str, Any] | None = None,
        bootloader_names: tuple[str, ...] = (),
    ) -> None:
        if packet_size <= 0 or packet_size % 4:
            raise UsageError(f"packet size {packet_size} must be a positive multiple of 4")
        if not 0 <= prn <= 0xFFFF or window < 1:
            raise UsageError("prn must be 0..65535 and window at least 1")
        if max_rate is not None and max_rate <= 0:
            raise UsageError("max_rate must be positive (bytes per second)")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or DEFAULT_RETRY
        self.prn = prn
        self.window = window
        self.packet_size = packet_size
        self.resume = resume
        self.max_rate = max_rate
        self.device = Nrf5LegacyDevice(
            target,
            timeouts=self.timeouts,
            retry=self.retry,
            client_options=client_options,
            scanner_options=scanner_options,
            bootloader_names=tuple(bootloader_names),
        )

    @property
    def address(self) -> str:
        return self.device.address

    @property
    def dfu_address(self) -> str | None:
        """Where the bootloader was found (the address itself, address + 1, or a scan result)."""
        return self.device.dfu_address

    @property
    def revision(self) -> int | None:
        return self.device.revision

    async def aclose(self) -> None:
        await self.device.aclose()

    # --- the update ---------------------------------------------------------------------------

    async def update(
        self, package: PackageSource | FirmwareImage, *, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Send every part of ``package``; raise a :class:`DfuError` on failure.

        Success means the bootloader validated every part (its CRC-16 or
        SHA-256 from the init packet) and left DFU mode after Activate & Reset.
        However it ends otherwise, the target is reset out of an unfinished DFU.
        Progress is reported per part (``total`` is the part's size; the
        message names the part).
        """
        if isinstance(package, FirmwareImage):
            package = Package.load(package.data)
        elif not isinstance(package, Package):
            package = Package.load(package)
        package.check()  # CRC/hash against the image, sizes: before touching the radio
        details: dict[str, str] = {}
        trackers: list[ProgressTracker] = []
        v1 = False
        started = asyncio.get_running_loop().time()
        async with self.device.releasing():
            for index, part in enumerate(package.parts):
                name = (part.image_type.name or "image").lower()
                tracker = ProgressTracker(len(part.firmware), labelled(progress, name))
                trackers.append(tracker)
                tracker.set_phase(Phase.CONNECTING, f"{name}: connecting")
                transfer = PartTransfer(
                    part,
                    self.device,
                    packet_size=self.packet_size,
                    prn=self.prn,
                    window=self.window,
                    resume=self.resume,
                    max_rate=self.max_rate,
                    tracker=tracker,
                )
                await run_transfer(transfer, tracker, self.retry, what=f"{name} DFU")
                tracker.set_phase(Phase.ACTIVATING, f"{name}: activating")
                activated = await transfer.activate()
                v1 = v1 or transfer.v1_mode
                tracker.set_phase(Phase.DONE, f"{name}: done")
                details[f"part{index + 1}"] = (
                    f"{name} {len(part.firmware)} bytes, attempts {tracker.attempt}"
                    + (f", resumed at {transfer.resumed_at}" if transfer.resumed_at else "")
                    + (", DFU v1" if transfer.v1_mode else "")
                    + (f", PRN {transfer.prn}" if transfer.prn else ", no receipts")
                    + f"; activated: {activated}"
                )
        details["dfu_address"] = self.dfu_address or self.address
        if self.revision is not None:
            details["revision"] = f"0x{self.revision:04X}"
        if self.device.bootloader is not None:
            details["bootloader"] = self.device.bootloader.firmware_revision
        image = FirmwareImage(
            b"".join(part.firmware for part in package.parts),
            details=package,
            source=package.source,
        )
        return UpdateResult(
            image=image,
            attempts=sum(t.attempt for t in trackers),
            bytes_moved=sum(t.moved for t in trackers),
            elapsed=asyncio.get_running_loop().time() - started,
            verification=verification(package.parts, v1=v1),
            details=details,
        )


def verification(parts: tuple[Part, ...], *, v1: bool = False) -> Verification:
    """How the bootloader checked ``parts``: the weakest check among them.

    The stock SDK 11 template compares the CRC-16 of the init packet with the
    received bank; a customised bootloader reading 0.7 packets compares the
    SHA-256. A pre-SDK-7 (v1) target checks the CRC only when one is sent.
    """
    kinds = set()
    for part in parts:
        init = part.parsed_init_packet
        if v1 and init.firmware_crc16 is None:
            return Verification.none(
                "a DFU v1 bootloader without an init packet CRC checks nothing before activating"
            )
        kinds.add("sha256" if init.version is DfuVersion.V0_7 else "crc16")
    if kinds == {"sha256"}:
        return Verification(
            VerificationMethod.DEVICE_DIGEST,
            "the bootloader checked each part's SHA-256 from its init packet before activating "
            "it, and left DFU mode after Activate & Reset",
        )
    return Verification(
        VerificationMethod.DEVICE_CRC,
        "the bootloader checked each part's CRC-16 from its init packet before activating it, "
        "and left DFU mode after Activate & Reset",
    )


def connect(
    target: Target,
    *,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    prn: int = DEFAULT_PRN,
    window: int = DEFAULT_WINDOW,
    packet_size: int = DEFAULT_PACKET_SIZE,
    resume: bool | None = None,
    max_rate: float | None = None,
    client_options: Mapping[str, Any] | None = None,
    scanner_options: Mapping[str, Any] | None = None,
    bootloader_names: tuple[str, ...] = (),
) -> Nrf5LegacySession:
    """A session for ``target`` (address, ``BLEDevice`` or ``BleakClient``); use ``async with``.

    The options are :class:`Nrf5LegacySession`'s.
    """
    return Nrf5LegacySession(
        target,
        timeouts=timeouts,
        retry=retry,
        prn=prn,
        window=window,
        packet_size=packet_size,
        resume=resume,
        max_rate=max_rate,
        client_options=client_options,
        scanner_options=scanner_options,
        bootloader_names=bootloader_names,
    )
