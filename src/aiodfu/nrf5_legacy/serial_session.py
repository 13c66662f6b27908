"""Update an Adafruit nRF52 bootloader (SDK 11 legacy DFU) over a serial port or USB CDC.

>>> async with aiodfu.nrf5_legacy.open_serial("/dev/ttyACM0", touch_1200=True) as session:
...     result = await session.update(Package.load("blinky.zip"))

The same :class:`~aiodfu.nrf5_legacy.Package` as over BLE, driven through the
shared transfer engine: each part is one DFU session (Start with the image
sizes, the init packet, 512-byte data packets, stop). Where adafruit-nrfutil
sleeps worst-case flash times and never retransmits, this session paces itself
by acks and retransmits what was not acknowledged (``serial_device.py``), and
learns the outcome the bootloader never reports: after the stop packet it
probes until the bootloader leaves -- which it does only after the image's
CRC-16 matched -- and fails with :class:`ImageRejectedError` if it stays.
Serial DFU has no resume: a part that fails restarts from its Start, after
rebooting the bootloader out of the half-done session.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Iterable
from typing import Any

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError, UsageError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.link import LinkedSession
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker, labelled
from aiodfu.core.session import (
    Connector,
    UpdateResult,
    UpdateSession,
    Verification,
    VerificationMethod,
)
from aiodfu.core.transfer import Chunk, RetryPolicy, chunk_plan, run_transfer
from aiodfu.nrf5_legacy import hci
from aiodfu.nrf5_legacy.errors import PackageError
from aiodfu.nrf5_legacy.package import Package, Part
from aiodfu.nrf5_legacy.protocol import ImageType
from aiodfu.nrf5_legacy.serial_device import (
    PORT_GONE,
    REBOOTED,
    EnterBootloader,
    SerialDfuTarget,
)
from aiodfu.nrf5_legacy.serial_errors import (
    BootloaderReturnedError,
    ImageRejectedError,
    InitPacketRejectedError,
    TargetRestartedError,
)
from aiodfu.nrf5_legacy.serial_timeouts import DEFAULT_RETRY, SerialTimeouts
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import open_serial as open_port

log = logging.getLogger("aiodfu.nrf5_legacy.serial")

ADAFRUIT_DEVICE_TYPE = 0x0052
"""The device type every init packet needs on an Adafruit bootloader."""
ADAFRUIT_DEVICE_REVISIONS = (0xADAF, 52840, 52833)
"""nRF52832, nRF52840, nRF52833: a SoftDevice or bootloader update needs the board's one."""
PAGE_SIZE = 4096
QUEUE_SLOTS = 3
"""The bootloader's packet queue (``MAX_BUFFERS`` 4, full at 3)."""

PackageSource = Package | FirmwareImage | bytes | str | os.PathLike[str]


class SerialPartTransfer:
    """One part (one Start) as a restartable :class:`~aiodfu.core.transfer.Transfer`."""

    def __init__(
        self, device: SerialDfuTarget, part: Part, *, native_usb: bool, reenumerates: bool = False
    ) -> None:
        self.device = device
        self.part = part
        self.native_usb = native_usb
        self.reenumerates = reenumerates
        self.restarts = 0
        self.departure: str | None = None
        """How the bootloader left after the stop packet (the evidence it activated the image)."""
        self._firmware = part.firmware
        self._data_started = False
        self._init_reboots = 0
        self._crossing: int | None = None
        self._sent_in_flush = 0
        self._page_write = device.timeouts.page_write

    async def prepare(self, attempt: int) -> int:
        device = self.device
        self._data_started = False
        if not device.connected:
            await device.reconnect()
        if device.dirty:
            log.info("the bootloader holds an unfinished session: rebooting it first")
            await device.reboot()
            await device.reconnect()
        try:
            await self._start()
        except TargetRestartedError:
            # A session opened before ours (another tool, an interrupted run) made
            # our Start a reboot request: the bootloader is fresh now.
            log.info("the bootloader rebooted on our Start (it held a stale session)")
            await device.reconnect()
            await self._start()
        return 0

    async def _start(self) -> None:
        sd, bl, app = self.part.sizes()
        device = self.device
        await device.send(
            hci.start_payload(self.part.image_type, sd, bl, app), what="Start", offset=0
        )
        device.dirty = True
        pages = -(-(sd + bl + app) // PAGE_SIZE)
        erase = pages * device.timeouts.page_erase
        # The next packet is taken only once the erase is done: its ack is the flow control.
        await device.send(
            hci.init_payload(self.part.init_packet),
            what="init packet",
            offset=0,
            patience=device.timeouts.packet + erase,
        )

    def plan(self, start: int) -> Iterable[Chunk]:
        return chunk_plan(len(self._firmware), hci.DATA_PACKET_SIZE, start)

    async def move(self, chunk: Chunk) -> None:
        payload = hci.data_payload(self._firmware[chunk.offset : chunk.end])
        if not self.native_usb:
            await self._guard_page_write(chunk.offset)
        if chunk.end >= len(self._firmware):
            # The stop packet goes in the same write as the last data packet, so that the
            # bootloader queues it behind that one: a stop packet queued first (in the first
            # slot) blocks the queue for good if the image check fails -- the bootloader never
            # frees it and processes it first in every round. On native USB it reads both at
            # once; on a UART it is still busy with the data packet when the stop arrives.
            stop = (hci.stop_payload(), "stop data", len(self._firmware))
            await self.device.submit_together([(payload, "firmware data", chunk.offset), stop])
            self._data_started = True
            return
        if not self._data_started:
            await self.device.send(payload, what="firmware data", offset=chunk.offset)
            self._data_started = True
            return
        await self.device.submit(payload, what="firmware data", offset=chunk.offset)

    async def _guard_page_write(self, offset: int) -> None:
        """On a UART board, don't overrun the packet queue while a page is written.

        The packet that starts a new 4 KiB page makes the bootloader write the
        previous one; the UART keeps acknowledging meanwhile, but only two more
        packets fit the queue beside it. The third waits until that page write
        is over, counted from when the bootloader took the page's first packet
        (its ack; a retransmitted one is taken late).
        """
        if offset and offset % PAGE_SIZE == 0:
            self._crossing, self._sent_in_flush = offset, 0
            return
        if self._crossing is not None and self._sent_in_flush >= QUEUE_SLOTS - 1:
            await self.device.drain()
            taken = self.device.confirmed.get(self._crossing)
            if taken is not None:
                loop = asyncio.get_running_loop()
                await asyncio.sleep(max(taken + self._page_write - loop.time(), 0))
            self._crossing = None
        self._sent_in_flush += 1

    async def complete(self) -> None:
        device = self.device
        await device.drain()  # the stop packet went with the last data packet (see move)
        departure = await device.await_departure(
            limit=device.timeouts.validate, what="activate", silence_departs=not self.reenumerates
        )
        if departure is None:
            raise ImageRejectedError(
                "the bootloader acknowledged every packet but kept its session "
                f"{device.timeouts.validate:g} s after the stop packet: it did not activate "
                "the image (its CRC-16 check failed)",
                operation="activate",
                offset=len(self._firmware),
            )
        if self.part.image_type is ImageType.APPLICATION:
            await self._confirm_application_runs(departure)
        self.departure = departure

    async def _confirm_application_runs(self, departure: str) -> None:
        """An activated application runs at once: no bootloader may answer after a reset, nor
        (``reenumerates``) on the port that went away and came back (a bootloader there is in
        DFU mode)."""
        device = self.device
        back: int | None = None
        if departure == REBOOTED:
            back = device.base
        elif departure == PORT_GONE and self.reenumerates:  # the port comes back: look
            try:
                await device.reopen_patiently()
                back = await device.probe(device.timeouts.sync)
            except (LinkLostError, DfuTimeoutError):
                return  # no port (for long): an application without USB serial runs
            finally:
                await device.aclose()
        if back is not None:
            raise BootloaderReturnedError(
                "after the stop packet the bootloader reset and answers again in DFU mode "
                f"({departure}): it did not activate the application",
                operation="activate",
                offset=len(self._firmware),
            )

    async def recover(self, error: DfuError, attempt: int) -> None:
        """Start over on a fresh link; learn from what went wrong."""
        self.restarts += 1
        died_at_first_data = error.operation == "firmware data" and error.offset == 0
        if isinstance(error, TargetRestartedError | LinkLostError) and died_at_first_data:
            self._init_reboots += 1
            if self._init_reboots >= 2:
                raise InitPacketRejectedError(
                    "the bootloader rebooted right after the init packet, twice: it refuses "
                    "the init packet (device type, device revision or SoftDevice requirement)",
                    operation="init packet",
                ) from error
        if type(error) is ImageRejectedError:
            # A packet was lost after its ack: the bootloader's queue overflowed. Hold back
            # more while pages are written, even if we took the board for a native-USB one.
            self.native_usb = False
            self._page_write *= 2
            self.device.window = 1
            log.warning("image rejected: page-write guard now %.3f s", self._page_write)
        await self.device.aclose()


class SerialDfuSession(LinkedSession[SerialDfuTarget], UpdateSession):
    """A legacy DFU session with an Adafruit nRF52 bootloader over a byte stream.

    ``connector`` opens the port (again, after a board re-enumerated);
    ``enter`` puts the board into its bootloader when nothing answers (see
    :func:`touch`). ``native_usb`` says the bootloader reads USB CDC (an
    nRF52840/833 board) rather than a UART behind a USB-serial bridge (an
    nRF52832 Feather): only a UART board needs the host to hold back while a
    flash page is written. ``device_type`` (``None`` to skip) is checked in
    every init packet before anything is sent. ``reenumerates`` says the port goes
    away when the bootloader leaves (a real native-USB port; not a pty, not a
    USB-serial bridge): then silence after the stop packet is no proof of
    activation (:class:`ActivationUnconfirmedError`); :func:`open_serial` sets it
    from the port's name.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        baudrate: int = 115200,
        enter: EnterBootloader | None = None,
        native_usb: bool = False,
        window: int = 2,
        timeouts: SerialTimeouts | None = None,
        retry: RetryPolicy | None = None,
        device_type: int | None = ADAFRUIT_DEVICE_TYPE,
        reenumerates: bool = False,
    ) -> None:
        self.timeouts = timeouts or SerialTimeouts()
        self.reenumerates = reenumerates
        self.retry = retry or DEFAULT_RETRY
        self.native_usb = native_usb
        self.device_type = device_type
        self.device = SerialDfuTarget(
            connector,
            timeouts=self.timeouts,
            retry=self.retry,
            baudrate=baudrate,
            window=window,
            enter=enter,
        )

    async def update(
        self, package: PackageSource, *, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Send every part of ``package``; raise a :class:`DfuError` unless each was activated."""
        package = self.check(package)
        started = asyncio.get_running_loop().time()
        moved = attempts = 0
        details: dict[str, str] = {}
        for index, part in enumerate(package.parts, start=1):
            name = (part.image_type.name or "image").lower()
            tracker = ProgressTracker(len(part.firmware), labelled(progress, name))
            tracker.set_phase(Phase.CONNECTING, f"{name}: connecting")
            transfer = SerialPartTransfer(
                self.device, part, native_usb=self.native_usb, reenumerates=self.reenumerates
            )
            async with self.device.releasing():
                await self.connect()
                await run_transfer(transfer, tracker, self.retry, what=f"{name} DFU")
            tracker.set_phase(Phase.DONE, f"{name}: activated")
            moved += tracker.moved
            attempts += tracker.attempt
            details[f"part{index}"] = (
                f"{name} {len(part.firmware)} bytes, attempts {tracker.attempt}; "
                f"after the stop packet {transfer.departure}"
            )
        details["retransmissions"] = str(self.device.retransmissions)
        details["reboots"] = str(self.device.reboots)
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
                "the bootloader checked each part against its init packet's CRC-16 and "
                "activated it (serial DFU reports no status: aiodfu saw it leave the DFU "
                "session, which it does only after a matching CRC)",
            ),
            details=details,
        )

    def check(self, package: PackageSource) -> Package:
        """``package`` loaded and checked as the bootloader would, before any byte is sent."""
        package = _as_package(package)
        package.check()
        self._check_identity(package)
        return package

    def _check_identity(self, package: Package) -> None:
        if self.device_type is None:
            return
        for part in package.parts:
            init = part.parsed_init_packet
            name = (part.image_type.name or "image").lower()
            if init.device_type != self.device_type:
                raise PackageError(
                    f"the {name} init packet has device type 0x{init.device_type:04X}; the "
                    f"Adafruit bootloader takes only 0x{self.device_type:04X} (build the "
                    f"package with --dev-type 0x{self.device_type:04X}, or pass device_type=None "
                    "for another bootloader)"
                )
            system = part.image_type & (ImageType.SOFTDEVICE | ImageType.BOOTLOADER)
            if system and init.device_revision not in ADAFRUIT_DEVICE_REVISIONS:
                raise PackageError(
                    f"the {name} init packet has device revision 0x{init.device_revision:04X}; "
                    "the Adafruit bootloader updates a SoftDevice or bootloader only with its "
                    "board's revision (0xADAF nRF52832, 52840 nRF52840, 52833 nRF52833)"
                )


def _as_package(source: PackageSource) -> Package:
    if isinstance(source, Package):
        return source
    if isinstance(source, FirmwareImage):
        return Package.load(source.data)
    return Package.load(source)


# --- opening a real port ----------------------------------------------------------------------


def looks_native_usb(port: str) -> bool:
    """Whether ``port`` names a USB CDC ACM device (the board's own USB) rather than a bridge."""
    return "ttyACM" in port or "usbmodem" in port


async def touch(port: str, *, baudrate: int = 1200, hold: float = 0.1, settle: float = 0.5) -> None:
    """Open ``port`` at 1200 baud and close it: the Arduino cores' cue to reboot into DFU."""
    stream = await open_port(port, baudrate, rtscts=False)
    await asyncio.sleep(hold)
    await stream.aclose()
    await asyncio.sleep(settle)  # the board drops off the bus before it comes back


def port_connector(
    port: str, baudrate: int = 115200, *, rtscts: bool = False, dtr_reset: bool = False
) -> Connector[ByteStream]:
    """Opens ``port``; with ``dtr_reset``, pulses DTR after opening (resets an nRF52832 Feather
    into its bootloader's one-second serial window, as adafruit-nrfutil does)."""

    async def connect() -> ByteStream:
        stream = await open_port(port, baudrate, rtscts=rtscts)
        if dtr_reset:
            try:
                stream.set_dtr(False)
                await asyncio.sleep(0.05)
                stream.set_dtr(True)
            except OSError as exc:
                await stream.aclose()
                raise UsageError(
                    f"{port} cannot toggle DTR ({exc}); a pseudo-terminal never can: "
                    "use touch_1200 or enter the bootloader by hand",
                    operation="dtr reset",
                ) from None
            await asyncio.sleep(0.1)  # the bootloader starts within milliseconds
        return stream

    return connect


def open_serial(
    port: str,
    baudrate: int = 115200,
    *,
    touch_1200: bool = False,
    dtr_reset: bool = False,
    rtscts: bool = False,
    native_usb: bool | None = None,
    **options: Any,
) -> SerialDfuSession:
    """A session for the bootloader on ``port``; use ``async with``.

    ``touch_1200`` enters the bootloader of a native-USB board running an
    Arduino/CircuitPython application; ``dtr_reset`` resets a board with a
    USB-serial bridge on every open. ``native_usb`` defaults to what the port
    name says (``ttyACM``/``usbmodem``). ``options`` go to :class:`SerialDfuSession`.
    """
    if touch_1200 and dtr_reset:
        raise UsageError("choose one of touch_1200 and dtr_reset")
    enter = functools.partial(touch, port) if touch_1200 else None
    native_usb = looks_native_usb(port) if native_usb is None else native_usb
    options.setdefault("reenumerates", native_usb and looks_native_usb(port))
    return SerialDfuSession(
        port_connector(port, baudrate, rtscts=rtscts, dtr_reset=dtr_reset),
        baudrate=baudrate,
        enter=enter,
        native_usb=native_usb,
        **options,
    )
