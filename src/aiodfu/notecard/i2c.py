"""Blues' serial-over-I2C: the Notecard's JSON byte stream carried in I2C transfers.

The framing (reference section 6, confirmed against note-c ``n_i2c.c`` and
note-python's ``OpenI2C``): the card sits at 7-bit address 0x17.

* **Host write**: one transfer ``[count][count bytes]``.
* **Host read**: write ``[0x00][requested]``, then read ``requested + 2``
  bytes ``[available][returned][returned bytes]`` (padding after them is
  ignored). ``requested = 0`` only asks how many bytes wait (``available``).
  ``available`` is a byte: it counts at most 255 of what is queued.
* A response is complete when its ``\\n`` has arrived *and* ``available``
  is 0; a binary frame after a JSON line is announced only once the line has
  been read (both Blues libraries query afresh for it).

:class:`NotecardI2cStream` turns that into a
:class:`~aiodfu.transports.base.ByteStream`, so the Notecard's client, codec,
retrieval and verification run over I2C unchanged. Its pacing (an
:class:`I2cPacing`) follows note-c: a few ms before each write transfer, 20 ms
between the transfers of one write, none after the last (the client already
pauses 250 ms between 250-byte request segments); polls for a response start
5 ms apart and back off to every 50 ms (a card answers most requests within
tens of ms: polling only every 50 ms, as both Blues libraries do, wastes up
to 50 ms a request); available bytes are read back to back. After a NACK it
waits ``nack_pause`` (note-c: 1 s) before raising.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import attrs

from aiodfu.core.errors import LinkLostError
from aiodfu.core.timeouts import wait_within
from aiodfu.transports.base import Buffer
from aiodfu.transports.i2c import I2cBus, I2cNackError, I2cShortReadError, LinuxI2cBus

log = logging.getLogger("aiodfu.notecard.i2c")

NOTECARD_ADDRESS = 0x17
"""The card's default 7-bit address (``card.io`` can change it)."""
HEADER_SIZE = 2
"""``[available][returned]`` before the data of every read."""
MAX_TRANSFER = 253
"""note-c's ``NOTE_I2C_MTU_MAX``: 255 minus the header. note-python defaults to 255."""


# --- sans-IO framing (shared with the emulated card) -------------------------------------------


def write_packet(data: Buffer) -> bytes:
    """The transfer that sends ``data`` (1..255 bytes) to the card."""
    if not 0 < len(data) <= 0xFF:
        raise ValueError(f"a serial-over-I2C write carries 1..255 bytes, not {len(data)}")
    return bytes((len(data),)) + bytes(data)


def read_request(requested: int) -> bytes:
    """The write that asks the card for up to ``requested`` bytes (0: only how many wait)."""
    if not 0 <= requested <= 0xFF:
        raise ValueError(f"a serial-over-I2C read asks for 0..255 bytes, not {requested}")
    return bytes((0, requested))


@attrs.frozen
class ReadReply:
    """One read: the bytes it returned and how many more the card has queued."""

    available: int
    data: bytes


def parse_read(raw: bytes, requested: int) -> ReadReply:
    """Decode the ``requested + 2`` bytes of a read; raises :class:`I2cShortReadError`."""
    if len(raw) < HEADER_SIZE:
        raise I2cShortReadError(f"a read returned {len(raw)} bytes, not even the header")
    available, returned = raw[0], raw[1]
    if returned > requested or HEADER_SIZE + returned > len(raw):
        raise I2cShortReadError(
            f"the card announced {returned} bytes for a read of {requested} "
            f"({len(raw) - HEADER_SIZE} arrived)"
        )
    return ReadReply(available, bytes(raw[HEADER_SIZE : HEADER_SIZE + returned]))


# --- the host side -----------------------------------------------------------------------------


@attrs.frozen
class I2cPacing:
    """Pauses (seconds) between the I2C transfers of the serial-over-I2C host; see module docs."""

    io_delay: float = 0.006
    """Before each write transfer (note-c's ``_delayIO``: some cards' I2C needs it)."""
    chunk_delay: float = 0.02
    """Between the write transfers of one write."""
    first_poll: float = 0.005
    """After the first poll that finds nothing; each next pause is ``poll_growth`` times longer."""
    poll_growth: float = 1.5
    poll_interval: float = 0.05
    """The longest pause between polls (note-c and note-python poll every 50 ms)."""
    nack_pause: float = 1.0
    """After a NACK, before the error is raised (note-c's ``CARD_REQUEST_I2C_NACK_WAIT_MS``)."""


class NotecardI2cStream:
    """A :class:`~aiodfu.transports.base.ByteStream` over serial-over-I2C.

    ``max_transfer`` bounds the data bytes of one transfer (writes and
    reads); ``transfer_timeout`` bounds each transfer. ``owns_bus``: whether
    :meth:`aclose` closes ``bus`` too.
    """

    def __init__(
        self,
        bus: I2cBus,
        address: int = NOTECARD_ADDRESS,
        *,
        max_transfer: int = MAX_TRANSFER,
        pacing: I2cPacing | None = None,
        transfer_timeout: float = 1.0,
        owns_bus: bool = True,
    ) -> None:
        if not 0 < max_transfer <= 0xFF:
            raise ValueError(f"max_transfer must be within 1..255, not {max_transfer}")
        self.bus = bus
        self.address = address
        self.max_transfer = max_transfer
        self.pacing = pacing or I2cPacing()
        self.transfer_timeout = transfer_timeout
        self.owns_bus = owns_bus
        self.transfers = 0
        """Bus transfers made so far (writes, polls and reads)."""
        self._available = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def _transfer(self, write: bytes, read: int, what: str) -> bytes:
        if self._closed:
            raise LinkLostError("the I2C stream is closed", operation=what)
        self.transfers += 1
        try:
            return await wait_within(
                self.bus.transfer(self.address, write, read), self.transfer_timeout, what
            )
        except I2cNackError as exc:
            log.debug("%s: NACK (%s); pausing %.2f s", what, exc, self.pacing.nack_pause)
            await asyncio.sleep(self.pacing.nack_pause)
            raise exc.locate(what) from None

    async def _read_packet(self, requested: int) -> bytes:
        raw = await self._transfer(read_request(requested), requested + HEADER_SIZE, "I2C read")
        try:
            reply = parse_read(raw, requested)
        except I2cShortReadError as exc:
            self._available = 0
            raise exc.locate("I2C read") from None
        self._available = reply.available
        return reply.data

    async def read(self, max_bytes: int = 65536) -> bytes:
        """The next bytes the card sends, polling until there are some (callers bound the wait)."""
        pause = self.pacing.first_poll
        while True:
            if self._available == 0:
                await self._read_packet(0)  # only asks how many bytes wait
            if self._available > 0:
                data = await self._read_packet(min(self._available, self.max_transfer, max_bytes))
                if data:
                    return data
            await asyncio.sleep(pause)
            pause = min(pause * self.pacing.poll_growth, self.pacing.poll_interval)

    async def write(self, data: Buffer) -> None:
        """Send ``data`` in transfers of at most ``max_transfer`` bytes, paced."""
        view = bytes(data)
        for start in range(0, len(view), self.max_transfer):
            if start:
                await asyncio.sleep(self.pacing.chunk_delay)
            await asyncio.sleep(self.pacing.io_delay)
            chunk = view[start : start + self.max_transfer]
            await self._transfer(write_packet(chunk), 0, "I2C write")
        self._available = 0  # the card answers afresh; ask before reading

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.owns_bus:
            await self.bus.aclose()


BusSource = str | I2cBus | Callable[[], I2cBus | Awaitable[I2cBus]]
"""A bus: a Linux device path, a bus object, or a callable opening one."""


def i2c_connector(
    bus: BusSource,
    address: int = NOTECARD_ADDRESS,
    *,
    max_transfer: int = MAX_TRANSFER,
    pacing: I2cPacing | None = None,
    transfer_timeout: float = 1.0,
) -> Callable[[], Awaitable[NotecardI2cStream]]:
    """A connector opening a :class:`NotecardI2cStream` afresh on every call.

    A path opens :class:`~aiodfu.transports.i2c.LinuxI2cBus` each time (and
    the stream closes it); a bus object is shared by every stream and never
    closed by them; a callable is called for each stream, which then owns
    what it returned.
    """

    async def connect() -> NotecardI2cStream:
        owns = True
        if isinstance(bus, str):
            opened: I2cBus = LinuxI2cBus(bus, timeout=transfer_timeout)  # open(2) of a node
        elif isinstance(bus, I2cBus):
            opened, owns = bus, False
        else:
            made = bus()
            opened = await made if isinstance(made, Awaitable) else made
        return NotecardI2cStream(
            opened,
            address,
            max_transfer=max_transfer,
            pacing=pacing,
            transfer_timeout=transfer_timeout,
            owns_bus=owns,
        )

    return connect
