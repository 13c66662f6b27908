"""The bootloader at the other end of a serial port: reliable packets, probes, reboots.

:class:`SerialDfuTarget` is a :class:`~aiodfu.core.link.DeviceLink` over a
byte stream. It owns the link layer of ``hci.py``: every packet is sent with
the next sequence number and retransmitted, unchanged, until an ack moves past
it (a lost ack costs a duplicate, which the bootloader drops and acknowledges
again); up to ``window`` packets may be in flight, since the bootloader takes
them in order. An ack that names a number no packet in flight explains means
the bootloader rebooted: :class:`TargetRestartedError`.

The bootloader never answers anything but acks, so its state is learnt by
probing: a packet of DFU type 0 is acknowledged by a running bootloader and
then discarded, so a probe tells the sequence number it expects (the
handshake) and, after the stop packet, whether it is still in the session
(image rejected), gone quiet or rebooted (image activated). A Start packet
that asks for an application together with a SoftDevice makes the Adafruit
bootloader reset itself (its error handler reboots the chip) without touching
flash: :meth:`SerialDfuTarget.reboot` uses it to abandon a half-done session,
since serial DFU has no abort and no resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import attrs

from aiodfu.core.errors import DfuTimeoutError, LinkLostError
from aiodfu.core.link import DeviceLink
from aiodfu.core.session import Connector
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import hci
from aiodfu.nrf5_legacy.serial_errors import (
    ActivationUnconfirmedError,
    BootloaderNotFoundError,
    BootloaderStuckError,
    TargetRestartedError,
)
from aiodfu.nrf5_legacy.serial_timeouts import SerialTimeouts
from aiodfu.nrf5_legacy.slip import SlipDecoder, slip_encode
from aiodfu.transports.base import ByteStream

log = logging.getLogger("aiodfu.nrf5_legacy.serial")

EnterBootloader = Callable[[], Awaitable[None]]
"""Puts the board into its bootloader (a 1200-baud touch, a reset); runs with the port closed."""

REBOOT_MODE = 0x07
"""Start with application + SoftDevice + bootloader: refused before any erase, and the refusal
reboots the chip."""

_LOST = -1
PORT_GONE = "the port went away (the board re-enumerated)"
REBOOTED = "it rebooted"


@attrs.define
class _InFlight:
    seq: int
    frame: bytes
    what: str
    offset: int | None
    give_up_at: float
    patience: float


class SerialDfuTarget(DeviceLink[ByteStream]):
    """A serial DFU bootloader reached through ``connector``.

    ``baudrate`` sizes the retransmission timer (a frame's time on the wire);
    ``enter`` is run when no bootloader answers on the port.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        timeouts: SerialTimeouts,
        retry: RetryPolicy,
        baudrate: int = 115200,
        window: int = 2,
        enter: EnterBootloader | None = None,
    ) -> None:
        super().__init__(connector, retry=retry, open_timeout=timeouts.open)
        if not 1 <= window <= 3:
            raise ValueError("window must be 1..3 packets (the bootloader queues 3)")
        self.timeouts = timeouts
        self.baudrate = baudrate
        self.window = window
        self._enter = enter
        self._acks: asyncio.Queue[int] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._lost: LinkLostError | None = None
        self.base = hci.FIRST_SEQUENCE
        self._in_flight: deque[_InFlight] = deque()
        self.dirty = False
        """A Start was acknowledged in the bootloader's current boot: it is not idle any more."""
        self.retransmissions = 0
        self.confirmed: dict[int, float] = {}
        """Offset of each confirmed packet that has one -> when its ack arrived (loop time)."""
        self.reboots = 0
        self.entries = 0

    # --- DeviceLink hooks ---------------------------------------------------------------------

    def is_alive(self, link: ByteStream) -> bool:
        return not link.closed and self._reader is not None and not self._reader.done()

    async def attach(self, link: ByteStream) -> None:
        self._acks = asyncio.Queue()
        self._lost = None
        self._in_flight.clear()
        self._reader = asyncio.get_running_loop().create_task(self._read(link))

    async def detach(self, link: ByteStream) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                if not reader.cancelled():
                    raise  # our own caller was cancelled, not only the reader
        await super().detach(link)

    async def handshake(self) -> None:
        await self.sync()

    async def on_release(self) -> None:
        """Abandon a half-done session: reboot the bootloader so it is not left mid-update."""
        if self.dirty:
            log.info("release: rebooting the bootloader out of the unfinished session")
            await self.reboot()

    # --- the link layer -----------------------------------------------------------------------

    async def _read(self, link: ByteStream) -> None:
        decoder = SlipDecoder()
        try:
            while True:
                for frame in decoder.feed(await link.read()):
                    ack = hci.parse_ack(frame)
                    if ack is not None:
                        self._acks.put_nowait(ack)
        except LinkLostError as exc:
            self._lost = exc
            self._acks.put_nowait(_LOST)

    def _wire_time(self, size: int) -> float:
        return size * 10 / self.baudrate

    async def submit(
        self, payload: bytes, *, what: str, offset: int | None = None, patience: float | None = None
    ) -> None:
        """Send ``payload`` as the next reliable packet; returns once it is on its way.

        At most ``window`` packets are unconfirmed at a time; ``patience`` (default
        ``timeouts.packet``) bounds how long this one may go unacknowledged.
        """
        while len(self._in_flight) >= self.window:
            await self._progress()
        seq = hci.next_sequence(self.base, len(self._in_flight))
        frame = slip_encode(hci.encode_reliable(seq, payload))
        wait = self.timeouts.packet if patience is None else patience
        now = asyncio.get_running_loop().time()
        self._in_flight.append(_InFlight(seq, frame, what, offset, now + wait, wait))
        await self.link.write(frame)

    async def submit_together(self, packets: list[tuple[bytes, str, int | None]]) -> None:
        """Send ``(payload, what, offset)`` packets as consecutive reliable packets in one
        write, once nothing else is in flight: they reach the bootloader together, so a
        native-USB one reads them in one go and queues them side by side."""
        await self.drain()
        now = asyncio.get_running_loop().time()
        for index, (payload, what, offset) in enumerate(packets):
            seq = hci.next_sequence(self.base, index)
            frame = slip_encode(hci.encode_reliable(seq, payload))
            wait = self.timeouts.packet
            self._in_flight.append(_InFlight(seq, frame, what, offset, now + wait, wait))
        await self.link.write(b"".join(packet.frame for packet in self._in_flight))

    async def drain(self) -> None:
        """Wait until every packet in flight is acknowledged."""
        while self._in_flight:
            await self._progress()

    async def send(
        self, payload: bytes, *, what: str, offset: int | None = None, patience: float | None = None
    ) -> None:
        """Send one packet and wait for its ack (and every ack before it)."""
        await self.submit(payload, what=what, offset=offset, patience=patience)
        await self.drain()

    async def _next_ack(self, seconds: float) -> int:
        """The next ack within ``seconds`` (TimeoutError otherwise).

        ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` returns
        an ack that arrives together with a cancellation and swallows the cancel,
        so a cancelled ``update()`` went on to succeed.
        """
        async with asyncio.timeout(seconds):
            return await self._acks.get()

    async def _progress(self) -> None:
        """Wait for an ack that confirms the oldest packet; retransmit on silence."""
        oldest = self._in_flight[0]
        wait = self.timeouts.ack + self._wire_time(sum(len(p.frame) for p in self._in_flight))
        try:
            ack = await self._next_ack(wait)
        except TimeoutError:
            if asyncio.get_running_loop().time() >= oldest.give_up_at:
                raise DfuTimeoutError(
                    f"no acknowledgement within {oldest.patience:g} s",
                    operation=oldest.what,
                    offset=oldest.offset,
                ) from None
            # go back N, in one write: the bootloader takes them in order
            await self.link.write(b"".join(packet.frame for packet in self._in_flight))
            self.retransmissions += len(self._in_flight)
            log.debug("retransmitted %d packet(s) from seq %d", len(self._in_flight), self.base)
            return
        if ack == _LOST:
            self._acks.put_nowait(_LOST)
            raise self._lost or LinkLostError("serial link lost", operation=oldest.what)
        confirmed = hci.acked_count(self.base, len(self._in_flight), ack)
        if confirmed is None:
            self._in_flight.clear()
            self.dirty = False
            raise TargetRestartedError(
                f"the bootloader expects sequence number {ack}, not {self.base}: it rebooted "
                "and lost this session",
                operation=oldest.what,
                offset=oldest.offset,
                status=ack,
            )
        now = asyncio.get_running_loop().time()
        for _ in range(confirmed):
            packet = self._in_flight.popleft()
            if packet.offset is not None:
                self.confirmed[packet.offset] = now
        self.base = hci.next_sequence(self.base, confirmed)

    # --- probing, entering, rebooting ---------------------------------------------------------

    async def _expected_sequence(self, within: float) -> int | None:
        """Probe until an ack tells the sequence number the bootloader expects; None if silent."""
        while not self._acks.empty():
            if self._acks.get_nowait() == _LOST:
                raise self._lost or LinkLostError("serial link lost", operation="probe")
        frame = slip_encode(hci.encode_reliable(self.base, hci.PROBE_PAYLOAD))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + within
        while loop.time() < give_up:
            await self.link.write(frame)
            wait = min(self.timeouts.ack + self._wire_time(len(frame)), give_up - loop.time())
            try:
                ack = await self._next_ack(max(wait, 0.001))
            except TimeoutError:
                continue
            if ack == _LOST:
                raise self._lost or LinkLostError("serial link lost", operation="probe")
            return ack
        return None

    async def probe(self, within: float) -> int | None:
        """The sequence number a bootloader on the link expects, or ``None`` if none answers
        within ``within`` seconds (no entry, no retry)."""
        return await self._expected_sequence(within)

    async def sync(self) -> None:
        """Learn the bootloader's sequence number; enter the bootloader first if none answers."""
        expected = await self._expected_sequence(self.timeouts.sync)
        if expected is None and self._enter is not None:
            await self.enter_bootloader()
            expected = await self._expected_sequence(self.timeouts.sync)
        if expected is None:
            raise BootloaderNotFoundError(
                f"no bootloader acknowledged a probe within {self.timeouts.sync:g} s: the board "
                "runs its application or is not connected (enter the bootloader with a "
                "1200-baud touch, a DTR reset or a double tap of reset)",
                operation="find bootloader",
            )
        if expected != self.base:
            log.debug("bootloader expects seq %d (we had %d)", expected, self.base)
            self.dirty = self.dirty and expected == hci.next_sequence(self.base)
        self.base = expected
        self._in_flight.clear()

    async def enter_bootloader(self) -> None:
        """Close the port, run the entry hook, and reopen the port once it is back."""
        if self._enter is None:
            raise BootloaderNotFoundError("no way to enter the bootloader was given")
        await self.aclose()
        log.info("entering the bootloader")
        self.entries += 1
        await self._enter()
        self.dirty = False
        await self.reopen_patiently()

    async def reopen_patiently(self) -> None:
        """Reopen the link, trying again while the port is away (a USB board re-enumerating)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.timeouts.reenumerate
        while True:
            try:
                await self.reopen()
                return
            except (LinkLostError, DfuTimeoutError):
                if loop.time() >= give_up:
                    raise
                await asyncio.sleep(0.1)

    async def reconnect(self) -> None:
        """Reopen the link if it is down, and learn the bootloader's state."""
        if not self.connected:
            await self.reopen_patiently()
        await self.sync()

    async def await_departure(
        self, *, limit: float, what: str, silence_departs: bool = True
    ) -> str | None:
        """Probe until the bootloader leaves its session; how it left, in words.

        It leaves by rebooting (a fresh sequence number), on native USB by the
        port going away, or by going silent (activating, then running an
        application) -- but a bootloader busy with a slow packet is silent too,
        and answers again afterwards in the same session. So silence counts only
        once it lasted, unbroken, until ``limit`` seconds after the call (and at
        least ``timeouts.settle``). ``None`` if it still answers in the same
        session after ``limit`` seconds. Without ``silence_departs`` (a native-USB
        board, whose port goes away when it leaves) that silence is
        :class:`ActivationUnconfirmedError` instead.
        """
        loop = asyncio.get_running_loop()
        stay_until = loop.time() + limit
        silent_since: float | None = None
        while True:
            try:
                await self.send(hci.PROBE_PAYLOAD, what=what, patience=self.timeouts.settle)
            except LinkLostError:
                outcome = PORT_GONE
            except TargetRestartedError:
                outcome = REBOOTED
            except DfuTimeoutError:
                self._in_flight.clear()  # unacknowledged: the next probe reuses its number
                now = loop.time()
                if silent_since is None:
                    silent_since = now - self.timeouts.settle
                if now < stay_until:
                    continue
                if not silence_departs:
                    raise ActivationUnconfirmedError(
                        f"the bootloader went silent after the stop packet for "
                        f"{now - silent_since:.2g} s but its USB port stayed: a native-USB "
                        "bootloader that activates re-enumerates, so it may have hung (reset "
                        "the board; a USB-serial bridge named ttyACM: update it as a UART board)",
                        operation=what,
                    ) from None
                outcome = f"it went silent for {now - silent_since:.2g} s"
            else:
                silent_since = None  # it answered in the same session: not gone
                if loop.time() >= stay_until:
                    return None
                await asyncio.sleep(self.timeouts.ack / 4)
                continue
            self.dirty = False
            self._in_flight.clear()
            return outcome

    async def reboot(self) -> None:
        """Make the bootloader reset itself, abandoning its session; wait until it has.

        A bootloader whose failed image check left its stop packet first in its
        queue ignores the request; reopening the port (which resets a board
        whose connector pulses DTR) is tried once before giving up.
        """
        what = "reboot the bootloader"
        for last_try in (False, True):
            await self.send(hci.start_payload(REBOOT_MODE, 0, 0, 0), what=what)
            self.reboots += 1
            if await self.await_departure(limit=self.timeouts.validate, what=what) is not None:
                await self.aclose()  # the next step reconnects and re-learns the sequence
                return
            if last_try:
                break
            await self.aclose()
            await self.reconnect()
        raise BootloaderStuckError(
            "the bootloader kept its session after a reboot request: it is stuck until "
            "its 6-minute DFU timeout or a reset (press reset; DTR on a USB-serial bridge)",
            operation=what,
        )
