"""An emulated Drogue IoT device: embedded-update's updater loop on embassy-boot.

:class:`DrogueEmulator` is the device side of the Drogue serial DFU link: it
speaks first with a Status frame, reads one Command frame, applies it, sleeps
the updater's backoff and reports again -- every frame exactly 1024 bytes of
postcard followed by stale bytes (hosts must not require zero padding). As in
embedded-update's serial service, one buffer holds both directions: a Status
is encoded over the head of the command frame read last, so its tail is that
frame's tail (zeros after a reset). Commands go to an embassy ``FirmwareManager`` and bootloader
(:mod:`aiodfu.testing.drogue.boot`): ``Write`` at offset 0 erases the DFU
partition, blocks must arrive in order (``WrongOffset``) and aligned
(``Unaligned``), ``Swap`` sets SWAP and resets, the bootloader swaps, and the
new firmware must be confirmed by ``Sync`` or the next reset reverts it.
The device never checks the Swap checksum (it records it).

Any serial host can drive it -- over an in-memory link or a pseudo-terminal::

    from aiodfu.testing.drogue import DrogueEmulator
    from aiodfu.testing.pty import serve_pty

    device = DrogueEmulator(version=b"0.1.0", image=old_firmware, backoff_ms=0)
    stream = device.connect()                 # in-memory; or:
    async with serve_pty(device) as path:     # open `path` at 115200 baud
        ...
    assert device.image == new_firmware and device.boot_state is BootMagic.BOOT

Options (keyword arguments, also attributes):

``version`` / ``image``
    The running firmware's version string and bytes (ACTIVE partition).
``mtu``
    Block size the device reports in its Status (e.g. 16, 64, 512, 968).
``write_size``
    Flash write unit: longer blocks must be multiples of it (4 on nRF).
``partition_size`` / ``page_size``
    ACTIVE capacity (DFU is one page larger); writes past it fail.
``timeout_ms``
    How long the updater waits for a command before re-sending its Status. The
    read is abandoned with it: the bytes of a command frame begun but not
    finished are dropped (they stay in the buffer, so in the next Status's
    tail), and the next frame is read from its start.
``backoff_ms``
    The updater's pause after every command, in **whole seconds**
    (``backoff_ms // 1000``, the reference's integer division); a command's
    ``poll`` > 0 replaces it. The reference default 1000 makes one block a second.
``erase_time`` / ``reboot_time`` / ``watchdog_time``
    Seconds a ``Write`` at offset 0 erases for, a reset takes, and a hung
    firmware runs before the watchdog resets it.
``stale_offset``
    ``FirmwareManager::start`` keeps its old next offset (the embassy quirk):
    a second update started in one boot fails every write until a reset.
``verify_checksum``
    Checksum-aware firmware (off by default, like every known firmware): on
    ``Swap`` the device compares the SHA-256 of the image it holds with the
    Swap's ``checksum`` and, on a mismatch, refuses to swap (it logs an error,
    stays on its old firmware and reports the finished update again).
``partial_reads``
    Reproduce the single-``read()`` receiver: decode whatever one read
    returns on top of the stale receive buffer, instead of a whole frame.
``link_model`` / ``faults``
    The default link of :meth:`connect` and ``serve_pty``; a :class:`DrogueFaults`.

Faults (``device.faults``, mutable while it runs): ``new_firmware_fails_to_boot``
(the swapped-in image hangs, the watchdog resets, the bootloader reverts),
``flash_errors`` (offsets whose next write fails: no progress, as on a real
device), ``extra_bytes`` (sent once before the next Status: desynchronises the
stream), ``silent`` (the device stops reporting).

Inspection: ``image`` (ACTIVE, what ``--save-image`` writes), ``version``,
``boot_state`` (:class:`BootMagic`), ``next_version``/``next_offset`` (the
updater's RAM state, lost on reset), ``dfu_image``, ``commands`` (every
decoded command), ``errors`` (device-side failures: decode errors,
``WrongOffset``...), ``checksums`` (from Swap), ``boots`` (:class:`BootOutcome` per reset).

Over BLE: :class:`aiodfu.testing.drogue.gatt.DrogueGattHost` serves this same
device state as drogue-device's GATT firmware service on an emulated radio
(through :meth:`start_update` and :meth:`write_block`), so one device is
reachable over either transport.

HTTP-style use (no link): :meth:`status_cbor` gives the Status in serde_cbor's
packed or named form, :meth:`apply_cbor` applies a CBOR command (either form;
text or indefinite-length byte strings and out-of-range integers are rejected).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from aiodfu.core.integrity import sha256
from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol import cbor, postcard
from aiodfu.drogue.protocol.messages import Command, Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.serial import FRAME_SIZE, FrameReader
from aiodfu.testing.drogue.boot import Bootloader, BootMagic, BootOutcome, FlashError
from aiodfu.testing.emulator import Emulator
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.drogue")

__all__ = ["BootMagic", "BootOutcome", "DrogueEmulator", "DrogueFaults"]


@attrs.define
class DrogueFaults:
    """Faults to inject; see the module docstring."""

    new_firmware_fails_to_boot: bool = False
    flash_errors: set[int] = attrs.field(factory=set)
    extra_bytes: bytes = b""
    silent: bool = False


class DrogueEmulator(Emulator):
    """A Drogue device on embassy-boot; see the module docstring."""

    def __init__(
        self,
        *,
        version: bytes = b"0.1.0",
        image: bytes | None = None,
        mtu: int = 512,
        write_size: int = 4,
        partition_size: int = 256 * 1024,
        page_size: int = 4096,
        timeout_ms: int = 15_000,
        backoff_ms: int = 1000,
        erase_time: float = 0.0,
        reboot_time: float = 0.0,
        watchdog_time: float = 5.0,
        stale_offset: bool = False,
        verify_checksum: bool = False,
        partial_reads: bool = False,
        link_model: LinkModel | None = None,
        faults: DrogueFaults | None = None,
    ) -> None:
        super().__init__(link_model=link_model)
        self.mtu = mtu
        self.timeout_ms = timeout_ms
        self.backoff_ms = backoff_ms
        self.erase_time = erase_time
        self.reboot_time = reboot_time
        self.watchdog_time = watchdog_time
        self.partial_reads = partial_reads
        self.verify_checksum = verify_checksum
        self.faults = faults or DrogueFaults()
        self.bootloader = Bootloader(
            image if image is not None else bytes(range(256)) * 16,
            version,
            partition_size=partition_size,
            page_size=page_size,
            write_size=write_size,
            stale_offset=stale_offset,
        )
        self.next_version: bytes | None = None
        self.next_offset = 0
        self.commands: list[Command] = []
        self.errors: list[str] = []
        self.checksums: list[bytes] = []
        self.boots: list[BootOutcome] = []
        self._buffer = bytearray(FRAME_SIZE)  # one buffer for both directions: stale tails
        self._busy_until = 0.0

    # --- inspection ----------------------------------------------------------------------------

    @property
    def image(self) -> bytes:
        return self.bootloader.active.image

    @property
    def version(self) -> bytes:
        return self.bootloader.active.version or b""

    @property
    def boot_state(self) -> BootMagic:
        return self.bootloader.state

    @property
    def dfu_image(self) -> bytes:
        return self.bootloader.dfu.image

    # --- the device model (sans-IO) ------------------------------------------------------------

    def status(self) -> Status:
        """The Status the updater reports now."""
        update = None
        if self.next_version is not None:
            update = UpdateStatus(self.next_version, self.next_offset)
        return Status(self.version, self.mtu, None, update)

    def status_cbor(self, *, packed: bool = True) -> bytes:
        """The Status as HTTP/LoRaWAN devices send it (packed) or drgdfu's cloud client (named)."""
        return cbor.encode(self.status(), packed=packed)

    def apply_cbor(self, body: bytes) -> float:
        """Apply a command in either CBOR form; returns the seconds the updater then sleeps.

        Raises :class:`~aiodfu.drogue.errors.MalformedMessageError` for what the device rejects.
        """
        return self.apply(cbor.decode_command(body))

    def apply(self, command: Command) -> float:
        """Apply ``command`` as the updater loop does; returns the seconds it then sleeps."""
        self.commands.append(command)
        handler: Callable[[DrogueEmulator, Any], float] = _UPDATER[type(command)]
        return handler(self, command)

    def _swap(self, command: Swap) -> float:
        self.checksums.append(command.checksum)
        if self.verify_checksum and sha256(self.dfu_image) != command.checksum:
            self.errors.append("Swap refused: the image does not match its SHA-256")
            return self._pause(None)
        self.bootloader.mark_updated()
        return self.reset()

    def _sync(self, command: Sync) -> float:
        self.bootloader.mark_booted()
        return self._pause(command.poll)

    def _wait(self, command: Wait) -> float:
        return self._pause(command.poll)

    def reset(self) -> float:
        """Reset the device (power cycle, or the reset after Swap); returns seconds it is away."""
        self.next_version, self.next_offset = None, 0
        self._buffer[:] = bytes(FRAME_SIZE)  # RAM starts zeroed
        outcome = self.bootloader.boot()
        self.boots.append(outcome)
        away = self.reboot_time
        if outcome is BootOutcome.SWAPPED and self.faults.new_firmware_fails_to_boot:
            log.info("new firmware hangs; the watchdog resets the device")
            self.boots.append(self.bootloader.boot())
            away += self.watchdog_time + self.reboot_time
        self._busy_until = time.monotonic() + away
        return away

    def start_update(self, version: bytes) -> None:
        """Begin an update of ``version``: offset 0, DFU partition erased (``prepare_update``)."""
        self.next_version, self.next_offset = version, 0
        self.bootloader.start(version)

    def write_block(self, offset: int, data: bytes, version: bytes) -> bool:
        """Store a block of ``version`` at ``offset``; on failure only :attr:`errors` tells."""
        try:
            if offset in self.faults.flash_errors:
                self.faults.flash_errors.discard(offset)
                raise FlashError("Flash", "injected write failure")
            self.bootloader.write(offset, data)
        except FlashError as exc:
            self.errors.append(f"{exc} (Write at {offset})")
            return False
        self.next_version = version
        self.next_offset = offset + len(data)
        return True

    def _write(self, command: Write) -> float:
        delay = 0.0
        if command.offset == 0:
            self.start_update(command.version)
            delay = self.erase_time
        self.write_block(command.offset, command.data, command.version)
        return delay + self._pause(None)

    def _pause(self, poll: int | None) -> float:
        return float(poll) if poll else float(self.backoff_ms // 1000)

    # --- the serial updater loop ---------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        frames = FrameReader(stream)
        while True:
            await asyncio.sleep(max(self._busy_until - time.monotonic(), 0.0))
            if self.faults.silent:
                await asyncio.sleep(0.05)
                continue
            await self._send_status(stream)
            try:
                async with asyncio.timeout(self.timeout_ms / 1000):
                    data = await self._read_command(stream, frames)
            except TimeoutError:
                # The request -- and the read in it -- is abandoned: what arrived of a frame
                # stays in the buffer (and in the next Status's tail), and is not a frame start.
                partial = frames.take_partial()
                self._buffer[: len(partial)] = partial
                log.debug("no command within %d ms; reporting again", self.timeout_ms)
                await asyncio.sleep(self._pause(None))
                continue
            try:
                command = postcard.decode_command(data)
            except MalformedMessageError as exc:
                self.errors.append(str(exc))
                await asyncio.sleep(self._pause(None))
                continue
            await asyncio.sleep(self.apply(command))

    async def _send_status(self, stream: ByteStream) -> None:
        body = postcard.encode(self.status())
        self._buffer[: len(body)] = body
        extra, self.faults.extra_bytes = self.faults.extra_bytes, b""
        await stream.write(extra + bytes(self._buffer))

    async def _read_command(self, stream: ByteStream, frames: FrameReader) -> bytes:
        if self.partial_reads:
            data = await stream.read(FRAME_SIZE)
        else:
            data = await frames.read_frame()
        self._buffer[: len(data)] = data
        return bytes(self._buffer)


_UPDATER: dict[type, Callable[[DrogueEmulator, Any], float]] = {
    Write: DrogueEmulator._write,
    Swap: DrogueEmulator._swap,
    Sync: DrogueEmulator._sync,
    Wait: DrogueEmulator._wait,
}
"""embedded-update's updater loop, one row per command: what the device does, and (returned)
the seconds it sleeps before its next Status (a reset's time away, for Swap)."""
