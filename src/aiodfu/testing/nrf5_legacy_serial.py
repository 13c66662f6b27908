"""An emulated Adafruit nRF52 board whose bootloader takes legacy DFU over serial.

>>> board = AdafruitSerialEmulator(FEATHER_NRF52840, application=old_app)
>>> async with SerialDfuSession(board.connect, enter=board.touch_1200, native_usb=True) as s:
...     await s.update(package)
>>> assert board.application == package.parts[-1].firmware

It serves an in-memory link (:meth:`connect`, with the shared link faults) or a
pseudo-terminal (:func:`~aiodfu.testing.serve_pty`, where adafruit-nrfutil can
drive it; the emulator sees a 1200-baud touch through the pty's settings, but
no pty carries DTR). The chip (:class:`SerialBootloader`) keeps flash and
settings across reboots and connections; this module adds time and the two
ways the bootloader reads its port:

* **native USB** (nRF52840/833): bytes are read and acknowledged only between
  runs of the main loop, so while flash is erased or written nothing is read
  and no ack goes out; a reboot makes the port go away (the link breaks).
* **UART** (nRF52832 behind a USB-serial bridge): bytes are read and
  acknowledged in interrupts while the main loop works through the 3-slot
  packet queue -- a packet arriving while it is full is acknowledged and lost;
  while a page is *erased* the CPU halts and the UART loses what arrives
  (unless the board has RTS/CTS).

Everything the bootloader does is in :attr:`AdafruitSerialEmulator.log`, with
the loop time, for tests and benchmarks. (A little over 400 lines: the board's timers,
its two ways of reading the port and its faults are one device.)

Faults: the shared link faults on :meth:`connect`, and the shared device
faults in ``faults`` (an :class:`AdafruitSerialFaults`; its ``FAULT_VOCABULARY``
and what each fault does on this bootloader are in
:mod:`aiodfu.testing.nrf5_legacy_serial_faults`)::

    fault = DeviceFault(OnCommand(3, "RECEIVE_FIRMWARE_IMAGE"), ErrorReply("OPERATION_FAILED"))
    board = AdafruitSerialEmulator(faults=AdafruitSerialFaults(plan=[fault]))

``reboot_time`` is how long a reset keeps the chip away (what arrives
meanwhile is lost), ``command_latency`` how long it spends on each packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from aiodfu.nrf5_legacy.hci import DfuPacket, DfuPacketType
from aiodfu.nrf5_legacy.slip import SlipDecoder, slip_encode
from aiodfu.testing.device_faults import ErrorReply
from aiodfu.testing.faulty_device import FaultyDevice, Outcome
from aiodfu.testing.nrf5_legacy_serial_faults import (
    ADAFRUIT_SERIAL_VOCABULARY,
    USUAL_ERRORS,
    AdafruitSerialFaults,
    command_name,
)
from aiodfu.testing.nrf5_legacy_serial_state import (
    FEATHER_NRF52832,
    FEATHER_NRF52840,
    MAX_BUFFERS,
    AdafruitBoard,
    SerialBootloader,
    Work,
)
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.nrf5_legacy_serial")

__all__ = [
    "FEATHER_NRF52832",
    "FEATHER_NRF52840",
    "AdafruitBoard",
    "AdafruitSerialEmulator",
    "AdafruitSerialFaults",
    "SerialBootloader",
]

Running = Literal["bootloader", "application"]
_TOUCH_WINDOW = 3.0
"""After a touch (GPREGRET 0x4E) a board without native USB listens this long for DFU."""


class AdafruitSerialEmulator(FaultyDevice):
    """The board: its chip, what it runs now, and the timers of its bootloader.

    ``in_bootloader`` (default: only if there is no valid application) says
    whether it starts in DFU mode, as after a double tap of reset.
    """

    FAULT_VOCABULARY = ADAFRUIT_SERIAL_VOCABULARY
    faults: AdafruitSerialFaults

    def __init__(
        self,
        board: AdafruitBoard = FEATHER_NRF52840,
        *,
        application: bytes | None = None,
        softdevice: bytes = b"",
        bootloader: bytes = b"",
        in_bootloader: bool | None = None,
        link_model: LinkModel | None = None,
        faults: AdafruitSerialFaults | None = None,
        reboot_time: float = 0.0,
        command_latency: float = 0.0,
    ) -> None:
        super().__init__(
            faults=faults or AdafruitSerialFaults(),
            link_model=link_model,
            reboot_time=reboot_time,
            command_latency=command_latency,
        )
        self.board = board
        self.chip = SerialBootloader(
            board, softdevice=softdevice, application=application, bootloader=bootloader
        )
        self.log: list[tuple[float, str]] = []
        self.overrun_bytes = 0
        """Bytes the UART lost while the CPU was halted by an erase."""
        self.reboots = 0
        self._wake = asyncio.Event()
        self._taken = asyncio.Event()
        self._in_round = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._halted_until = 0.0
        self._window_ends: float | None = None
        self._dfu_deadline: float | None = None
        self.running: Running = "application"
        self._main: asyncio.Task[None] | None = None
        if in_bootloader or (in_bootloader is None and not self.chip.application_valid):
            self._enter_dfu(window=None)

    # --- what the board holds -----------------------------------------------------------------

    @property
    def image(self) -> bytes | None:
        return self.chip.application

    @property
    def application(self) -> bytes | None:
        return self.chip.application

    @property
    def softdevice(self) -> bytes:
        return self.chip.softdevice

    @property
    def bootloader(self) -> bytes:
        return self.chip.bootloader

    @property
    def flash(self) -> bytes:
        return bytes(self.chip.flash)

    # --- what a person or a host does to the board --------------------------------------------

    async def touch_1200(self) -> None:
        """A host opened the port at 1200 baud and closed it: the application reboots into DFU."""
        if self.running == "application":
            self._note("1200-baud touch")
            self._reboot("touch")

    def reset(self) -> None:
        """The reset pin (a button, or DTR through a USB-serial bridge's auto-reset circuit)."""
        self._note("reset pin")
        self._reboot("pin")

    def double_reset(self) -> None:
        """Two taps of reset within half a second: DFU mode on native-USB boards."""
        self._note("double reset")
        self._reboot("double")

    # --- the chip's life ----------------------------------------------------------------------

    def _note(self, what: str) -> None:
        self.log.append((asyncio.get_running_loop().time(), what))
        log.debug("%s: %s", self.board.name, what)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _enter_dfu(self, window: float | None) -> None:
        self.running = "bootloader"
        try:
            now = self._now()
        except RuntimeError:  # constructed outside a loop: timers start on the first serve
            now = None
        self._window_ends = None if window is None or now is None else now + window
        self._dfu_deadline = None if now is None else now + self.board.dfu_timeout

    def _reboot(self, reason: Literal["pin", "touch", "double", "fault"]) -> None:
        """Reset the chip: RAM is lost, then ``check_dfu_mode`` decides what runs."""
        self.reboots += 1
        self.chip.boot()
        self._halted_until = 0.0
        valid = self.chip.application_valid
        if not valid or (reason == "double" and self.board.native_usb):
            self._enter_dfu(window=None)
        elif reason == "touch":
            self._enter_dfu(window=None if self.board.native_usb else _TOUCH_WINDOW)
        elif self.board.startup_window is not None:
            self._enter_dfu(window=self.board.startup_window)  # nRF52832 after any reset
        else:
            self.running = "application"
        self._note(f"running the {self.running}")
        self._wake.set()
        self._taken.set()
        if self.board.native_usb:
            self.disconnect()  # USB goes away and comes back

    def restart(self) -> tuple[bytes, float]:
        """A planned reboot: the chip resets as its error handler would; no banner."""
        self._note("reboot (fault)")
        self._reboot("fault")
        return b"", self.reboot_time

    def _leave_dfu(self) -> None:
        """``bootloader_dfu_start`` returned: start a valid application, else reset."""
        if self.chip.application_valid:
            self.chip.boot()
            self.running = "application"
            self._note("running the application")
            if self.board.native_usb:
                self.disconnect()
        else:
            self._reboot("fault")

    # --- serving ------------------------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        """Read the port; the chip's main loop runs on its own, whoever is connected."""
        self._stream = stream
        if self._main is None or self._main.done():
            self._main = asyncio.get_running_loop().create_task(self._run_main_loop())
        await self._receive(stream)

    async def aclose(self) -> None:
        main, self._main = self._main, None
        if main is not None:
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await main
        await super().aclose()

    def _hears(self) -> bool:
        """Whether the port takes bytes: not while the chip reboots, nor while a hung main loop
        leaves native USB unread (a UART's interrupt still reads and acknowledges)."""
        return not (self.booting or (self.faults.silent and self.board.native_usb))

    async def _receive(self, stream: ByteStream) -> None:
        """The UART interrupt (or, on native USB, the USB task between main-loop runs)."""
        decoder = SlipDecoder(max_frame=600)
        while True:
            if self.board.native_usb:
                await self._idle.wait()
            data = await stream.read(4096)
            if not self._hears():
                continue  # lost: rebooting, or a hung main loop that reads USB
            if self.running != "bootloader":
                continue  # the application does not speak DFU
            now = self._now()
            if not self.board.native_usb and now < self._halted_until:
                if not self.board.uart_flow_control:
                    self.overrun_bytes += len(data)
                    continue
                await asyncio.sleep(self._halted_until - now)
            try:
                for frame in decoder.feed(data):
                    queued = self.chip.rounds
                    ack = self.chip.receive_frame(frame)
                    if ack is not None:
                        await self.idle()  # stray bytes, if any, go out before an ack
                        await stream.write(self.faults.splice(slip_encode(ack)))
                    if self.chip.rounds == queued:
                        continue
                    self._idle.clear()
                    if self.board.native_usb:  # the USB task decodes all it read, then the loop
                        continue
                    self._wake.set()
                    if not self._in_round:  # the interrupt returns: the main loop takes it
                        self._taken.clear()
                        await self._taken.wait()
            finally:
                # What was queued runs, even when the host went away during an acknowledgement:
                # the main loop does not care whether the port is still there (seed 20283).
                if self.chip.rounds:
                    self._idle.clear()
                    self._wake.set()

    async def _run_main_loop(self) -> None:
        try:
            await self._main_loop()
        except Exception as exc:  # an emulator bug: keep it for the test to see
            self.failures.append(exc)
            log.exception("%s main loop crashed", self.board.name)

    async def _main_loop(self) -> None:
        if self.running == "bootloader" and self._dfu_deadline is None:
            self._dfu_deadline = self._now() + self.board.dfu_timeout
        while True:
            if self.running == "application":
                await self._application()
                continue
            if self.faults.silent:  # a hung main loop: nothing is processed
                self._idle.set()
                self._taken.set()
                await asyncio.sleep(0.05)
                continue
            if self.chip.rounds == 0:
                self._idle.set()
                self._wake.clear()
                try:
                    async with asyncio.timeout(self._until_timer()):
                        await self._wake.wait()
                except TimeoutError:
                    self._on_timer()
                continue
            self.chip.rounds -= 1
            self._idle.clear()
            self._in_round = True
            self._taken.set()
            try:
                await self._round()
            finally:
                self._in_round = False

    async def _application(self) -> None:
        """Run the application until something reboots the board into DFU."""
        self._idle.set()
        self._wake.clear()
        while self.running == "application":
            stream = self._stream
            if stream is not None and getattr(stream, "baudrate", None) == 1200:
                await self.touch_1200()  # a pty shows the host's line settings
                return
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel
            # that stops the emulator when the event is already set, and the event is cleared
            # each time, so a wake nobody consumes here cannot spin the loop (seed 2167).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    await self._wake.wait()
            self._wake.clear()

    def _until_timer(self) -> float:
        now = self._now()
        deadlines = [d for d in (self._window_ends, self._dfu_deadline) if d is not None]
        return max(min(deadlines) - now, 0.0) if deadlines else 3600.0

    def _on_timer(self) -> None:
        now = self._now()
        if self._window_ends is not None and now >= self._window_ends:
            if self.chip.packet_seen:
                self._window_ends = None
                return
            self._note("start-up window over: no DFU packet")
            self._leave_dfu()
        elif self._dfu_deadline is not None and now >= self._dfu_deadline:
            self._note("DFU timeout")
            self._leave_dfu()

    async def _round(self) -> None:
        """One ``process_dfu_packet`` run: the queue in slot order, ending at a stop packet."""
        chip = self.chip
        while chip.queued:
            for index in range(MAX_BUFFERS):
                packet = chip.slots[index]
                if packet is None:
                    continue
                halted, failure = await self._take(packet)
                if halted:  # rebooted, or hung: the packet in hand is lost
                    if chip.slots[index] is packet:
                        chip.free(index)
                    return
                work = chip.process(packet, failure)
                if work.activity:
                    self._dfu_deadline = self._now() + self.board.dfu_timeout
                if packet.packet_type == DfuPacketType.START and work.then is None:
                    self._note("start")
                await self._spend(work)
                if work.then is not None:
                    self._note(work.reason)
                    if work.then == "reboot":
                        self._reboot("fault")
                    else:
                        self._leave_dfu()
                    return
                if packet.packet_type == DfuPacketType.STOP_DATA:
                    if work.reason:
                        self._note(work.reason)
                    return  # the stop packet keeps its slot
                chip.free(index)

    async def _take(self, packet: DfuPacket) -> tuple[bool, tuple[str, str] | None]:
        """The device faults act on ``packet``: whether the device halted (rebooted or hung),
        and any handler failure ``(step, code)`` to inject."""
        if packet.packet_type == DfuPacketType.STOP_DATA:
            steps = ["VALIDATE", "ACTIVATE_N_RESET"]
        else:
            steps = [command_name(packet, self.chip.received)]
        failure: tuple[str, str] | None = None
        for step in steps:
            outcome = await self.take_command(step)
            if packet.packet_type == DfuPacketType.DATA and outcome is Outcome.PROCEED:
                outcome = await self._take_offsets(len(packet.words))
            if outcome is Outcome.HALT:
                return True, None
            if isinstance(outcome, ErrorReply) and failure is None:
                name = step.split()[0]
                failure = (name, str(outcome.code or USUAL_ERRORS.get(name, "OPERATION_FAILED")))
        return False, failure

    async def _take_offsets(self, length: int) -> ErrorReply | Outcome:
        """Faults waiting in the image bytes a data packet would store."""
        start = self.chip.received
        waiting = self.next_fault_offset(start, start + length)
        return Outcome.PROCEED if waiting is None else await self.take_offset(waiting)

    async def _spend(self, work: Work) -> None:
        for seconds, halted in work.steps:
            if halted:
                self._halted_until = self._now() + seconds
            await asyncio.sleep(seconds)
