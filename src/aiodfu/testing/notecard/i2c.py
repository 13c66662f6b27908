"""The emulated Notecard's I2C interface: serial-over-I2C, card side.

:class:`NotecardI2cTarget` puts a :class:`~aiodfu.testing.notecard.NotecardEmulator`
on an :class:`~aiodfu.testing.i2c.EmulatedI2cBus`: the card serves a byte
stream exactly as on its UART (same JSON, CRC, receive buffer, faults), and
the target does the framing of reference section 6 on the bus side:

* a write ``[count][bytes]`` hands ``count`` bytes to the card (a write
  longer than ``max_transfer`` is not acknowledged: it does not fit the
  card's I2C buffer);
* a write ``[0x00][n]`` sets up the next read (as one combined transfer,
  note-python's way, or a separate one, Arduino's);
* a read answers ``[available][returned][returned bytes]``, padded with
  zeros to the read's length, with ``returned = min(n, max_transfer, what
  is queued up to the end of the current line)``.

``available`` counts (at most 255 of) the bytes queued *up to the end of the
current line*: once a packet ends a line it reports 0, and the next line is
announced to the next query. That is how a ``card.binary.get`` frame reaches
both Blues libraries over I2C -- each reads the JSON line until ``\\n`` with
``available == 0``, then queries afresh for the frame; a card that announced
both at once would have them swallow the frame with the JSON. (A model
inferred from the libraries; the firmware's own rule is not published.)

``busy_stretch`` clock-stretches every transfer made while the card is
working on a request (its ``request_latency``), as a busy card's I2C
peripheral holds the clock.

The card's device faults act here as on its UART (the same emulator serves
the port): a silent card acknowledges and has nothing to say. A restart
(:class:`~aiodfu.testing.device_faults.Reboot`) empties both buffers of the
interface, and while the card is booting it does not acknowledge its address.
"""

from __future__ import annotations

import asyncio

from aiodfu.core.errors import LinkLostError
from aiodfu.notecard.i2c import HEADER_SIZE, NOTECARD_ADDRESS
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel, I2cFaults
from aiodfu.transports.base import Buffer
from aiodfu.transports.i2c import I2cNackError

__all__ = ["CARD_MAX_TRANSFER", "NotecardI2cTarget", "notecard_i2c_bus"]

CARD_MAX_TRANSFER = 255
"""Data bytes per transfer the emulated card takes (note-python asks for up to 255)."""


class _CardPort:
    """The card's end of the I2C interface: the byte stream its emulator serves."""

    def __init__(self) -> None:
        self.inbound = bytearray()
        self.outbox = bytearray()
        self._arrived = asyncio.Event()
        self._closed = False

    async def read(self, max_bytes: int = 65536) -> bytes:
        while not self.inbound:
            if self._closed:
                raise LinkLostError("I2C interface closed")
            self._arrived.clear()
            await self._arrived.wait()
        data = bytes(self.inbound[:max_bytes])
        del self.inbound[:max_bytes]
        return data

    async def write(self, data: Buffer) -> None:
        if self._closed:
            raise LinkLostError("I2C interface closed")
        self.outbox += data

    def deliver(self, data: bytes) -> None:
        self.inbound += data
        self._arrived.set()

    def clear(self) -> None:
        """The card restarted: what either side had queued is gone."""
        self.inbound.clear()
        self.outbox.clear()

    async def aclose(self) -> None:
        self._closed = True
        self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._closed


class NotecardI2cTarget:
    """A Notecard emulator as an I2C target (see the module docs)."""

    def __init__(
        self,
        card: Emulator,
        *,
        max_transfer: int = CARD_MAX_TRANSFER,
        busy_stretch: float = 0.0,
    ) -> None:
        self.card = card
        self.max_transfer = max_transfer
        self.busy_stretch = busy_stretch
        self.port = _CardPort()
        self.requested = 0
        """``n`` of the last ``[0x00][n]``: what the next read returns at most."""
        self._boots = getattr(card, "boots", 0)
        card.attach(self.port)

    def _check_card(self) -> None:
        """NACK unless the interface is served and the card is up (see the module docs)."""
        if self.port.closed:
            raise I2cNackError("the card's I2C interface is not served")
        boots = getattr(self.card, "boots", 0)
        if boots != self._boots:
            self._boots = boots
            self.port.clear()
            self.requested = 0
        if getattr(self.card, "booting", False):
            raise I2cNackError("the card is restarting")

    def _line_length(self) -> int:
        end = self.port.outbox.find(b"\n")
        return len(self.port.outbox) if end < 0 else end + 1

    def receive(self, data: bytes) -> None:
        self._check_card()
        if data[0] == 0:
            self.requested = data[1] if len(data) > 1 else 0
            return
        count = data[0]
        if count > self.max_transfer:
            raise I2cNackError(f"a write of {count} bytes overflows the card's I2C buffer")
        self.port.deliver(data[1 : 1 + count])

    def respond(self, length: int) -> bytes:
        self._check_card()
        returned = min(
            self.requested, self.max_transfer, max(length - HEADER_SIZE, 0), self._line_length()
        )
        data = bytes(self.port.outbox[:returned])
        del self.port.outbox[:returned]
        available = 0 if data.endswith(b"\n") else min(self._line_length(), 0xFF)
        packet = bytes((available, returned)) + data
        return packet[:length].ljust(length, b"\0")

    def stretch(self) -> float:
        busy = getattr(self.card, "busy", False)
        return self.busy_stretch if busy else 0.0


def notecard_i2c_bus(
    card: Emulator,
    *,
    address: int = NOTECARD_ADDRESS,
    model: I2cBusModel | None = None,
    faults: I2cFaults | None = None,
    max_transfer: int = CARD_MAX_TRANSFER,
    busy_stretch: float = 0.0,
) -> EmulatedI2cBus:
    """A bus with ``card`` at ``address``, serving it over I2C from now on."""
    target = NotecardI2cTarget(card, max_transfer=max_transfer, busy_stretch=busy_stretch)
    return EmulatedI2cBus({address: target}, model=model, faults=faults)
