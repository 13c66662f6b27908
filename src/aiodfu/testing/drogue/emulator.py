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
    Seconds a ``Write`` at offset 0 erases for, a reset takes (what arrives
    meanwhile is lost), and a hung firmware runs before the watchdog resets it.
``command_latency``
    Seconds the device spends on each command before its next Status.
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

Faults (``device.faults``, a :class:`DrogueFaults`, mutable while it runs):
``new_firmware_fails_to_boot`` (the swapped-in image hangs, the watchdog
resets, the bootloader reverts), ``flash_errors`` (offsets whose next write
fails: no progress, as on a real device), and those every emulated device has
(:class:`~aiodfu.testing.device_faults.DeviceFaults`): ``unsolicited`` (stray
bytes, one item before each Status: they desynchronise the stream;
``extra_bytes`` is the older name), ``silent`` (the device stops reporting and
loses what it receives) and a ``plan`` of triggered faults. Commands are named
``Write``, ``Swap``, ``Sync`` and ``Wait`` for :class:`~aiodfu.testing.device_faults.OnCommand`;
a ``Write`` covering an :class:`~aiodfu.testing.device_faults.AtOffset` triggers it. The
protocol has no error reply: an :class:`~aiodfu.testing.device_faults.ErrorReply`
is a flash error of embassy's kind (``"Flash"``, ``"WrongOffset"``,
``"Unaligned"``, ``"OutOfBounds"``; ``None``: ``"Flash"``) in the command -- a
``Write`` stores nothing (the offset does not advance), a ``Swap`` cannot mark
the update (no reset), a ``Sync`` cannot confirm -- logged in ``errors``, and
the updater reports again. A :class:`~aiodfu.testing.device_faults.Reboot` is
:meth:`DrogueEmulator.reset`.

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

(A little over 400 lines: a quarter of them is this page, the device's documentation.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import attrs

from aiodfu.core.integrity import sha256
from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol import cbor, postcard
from aiodfu.drogue.protocol.messages import Command, Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.serial import FRAME_SIZE, FrameReader
from aiodfu.testing.device_faults import DeviceFaults, ErrorReply
from aiodfu.testing.drogue.boot import Bootloader, BootMagic, BootOutcome, FlashError
from aiodfu.testing.faults import FaultVocabulary
from aiodfu.testing.faulty_device import FaultyDevice, Outcome
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.drogue")

__all__ = ["BootMagic", "BootOutcome", "DrogueEmulator", "DrogueFaults"]


@attrs.define
class DrogueFaults(DeviceFaults):
    """Faults to inject; see the module docstring."""

    new_firmware_fails_to_boot: bool = False
    flash_errors: set[int] = attrs.field(factory=set)

    @property
    def extra_bytes(self) -> bytes:
        """Deprecated name of ``unsolicited``: bytes sent once, before the next Status."""
        return b"".join(self.unsolicited)

    @extra_bytes.setter
    def extra_bytes(self, data: bytes) -> None:
        self.unsolicited[:] = [data] if data else []


FLASH_ERRORS = ("Flash", "WrongOffset", "Unaligned", "OutOfBounds")
"""embassy's ``FirmwareManager`` failures an :class:`ErrorReply` can name."""


def command_name(command: Command) -> str:
    """How a command is named for :class:`~aiodfu.testing.device_faults.OnCommand`."""
    if isinstance(command, Write):
        return f"Write offset={command.offset} length={len(command.data)}"
    return type(command).__name__


class DrogueEmulator(FaultyDevice):
    """A Drogue device on embassy-boot; see the module docstring."""

    FAULT_VOCABULARY = FaultVocabulary(
        "drogue",
        commands=(("Write", 8), ("Swap", 1), ("Sync", 1)),
        errors=(None, *FLASH_ERRORS),
        offset_errors=(None, *FLASH_ERRORS),
        unsolicited=(b"\x00", b"\x07", b"\xff\xff\xff\xff"),
        error_commands=("Write", "Swap"),
    )
    """A flash error at ``Sync`` is modelled but no host can notice it: the device took the
    command and its Status looks the same; the next reset reverts. Draws leave it out."""
    faults: DrogueFaults

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
        command_latency: float = 0.0,
        watchdog_time: float = 5.0,
        stale_offset: bool = False,
        verify_checksum: bool = False,
        partial_reads: bool = False,
        link_model: LinkModel | None = None,
        faults: DrogueFaults | None = None,
    ) -> None:
        super().__init__(
            faults=faults or DrogueFaults(),
            link_model=link_model,
            reboot_time=reboot_time,
            command_latency=command_latency,
        )
        self.mtu = mtu
        self.timeout_ms = timeout_ms
        self.backoff_ms = backoff_ms
        self.erase_time = erase_time
        self.watchdog_time = watchdog_time
        self.partial_reads = partial_reads
        self.verify_checksum = verify_checksum
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
        """Reset the device (power cycle, or the reset after Swap); returns seconds it is away.

        What arrives over serial meanwhile is lost.
        """
        return self.reboot()

    def restart(self) -> tuple[bytes, float]:
        self.next_version, self.next_offset = None, 0
        self._buffer[:] = bytes(FRAME_SIZE)  # RAM starts zeroed
        outcome = self.bootloader.boot()
        self.boots.append(outcome)
        away = self.reboot_time
        if outcome is BootOutcome.SWAPPED and self.faults.new_firmware_fails_to_boot:
            log.info("new firmware hangs; the watchdog resets the device")
            self.boots.append(self.bootloader.boot())
            away += self.watchdog_time + self.reboot_time
        return b"", away  # no banner: the next Status says it is back

    def start_update(self, version: bytes) -> None:
        """Begin an update of ``version``: offset 0, DFU partition erased (``prepare_update``)."""
        self.next_version, self.next_offset = version, 0
        self.bootloader.start(version)

    def write_block(
        self, offset: int, data: bytes, version: bytes, *, failure: str | None = None
    ) -> bool:
        """Store a block of ``version`` at ``offset``; on failure only :attr:`errors` tells.

        ``failure``: an injected flash error of that kind.
        """
        try:
            if failure is not None:
                raise FlashError(failure, "injected write failure")
            if offset in self.faults.flash_errors:
                self.faults.flash_errors.discard(offset)
                self.faults.record("error", f"offset {offset}", "flash_errors")
                raise FlashError("Flash", "injected write failure")
            self.bootloader.write(offset, data)
        except FlashError as exc:
            self.errors.append(f"{exc} (Write at {offset})")
            return False
        self.next_version = version
        self.next_offset = offset + len(data)
        return True

    def _write(self, command: Write, failure: str | None = None) -> float:
        delay = 0.0
        if command.offset == 0:
            self.start_update(command.version)
            delay = self.erase_time
        self.write_block(command.offset, command.data, command.version, failure=failure)
        return delay + self._pause(None)

    def _fail(self, command: Command, error: ErrorReply) -> float:
        """``command`` meets an injected flash error; returns the seconds the updater sleeps."""
        kind = "Flash" if error.code is None else str(error.code)
        self.commands.append(command)
        if isinstance(command, Write):
            return self._write(command, kind)
        self.errors.append(f"{kind}: injected failure ({type(command).__name__})")
        return self._pause(getattr(command, "poll", None))

    async def _take(self, command: Command) -> float:
        """The device faults act on ``command``, then it is applied (or fails, or is lost)."""
        outcome = await self.take_command(command_name(command))
        if isinstance(command, Write) and outcome is not Outcome.HALT:
            waiting = self.next_fault_offset(command.offset, command.offset + len(command.data))
            if waiting is not None:
                at_offset = await self.take_offset(waiting)
                if at_offset is Outcome.HALT or isinstance(outcome, Outcome):
                    outcome = at_offset
        if outcome is Outcome.HALT:
            return 0.0
        if isinstance(outcome, ErrorReply):
            return self._fail(command, outcome)
        return self.apply(command)

    def _pause(self, poll: int | None) -> float:
        return float(poll) if poll else float(self.backoff_ms // 1000)

    # --- the serial updater loop ---------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        self._stream = stream
        frames = FrameReader(stream)
        while True:
            await self.sit_out(stream)  # rebooting or silent: what arrives is lost
            await self._send_status()
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
            pause = await self._take(command)
            if not self.unresponsive:
                await asyncio.sleep(pause)

    async def _send_status(self) -> None:
        body = postcard.encode(self.status())
        self._buffer[: len(body)] = body
        await self.idle()  # stray bytes go out before a Status
        await self.send(bytes(self._buffer))

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
