"""An emulated I2C bus: transfer timing at a clock rate, clock stretching, NACKs, short reads.

:class:`EmulatedI2cBus` is an :class:`~aiodfu.transports.i2c.I2cBus` whose
devices are :class:`I2cTarget` objects (the emulated Notecard's is
:class:`~aiodfu.testing.notecard.NotecardI2cTarget`). A transfer occupies the
bus for its wire time -- 9 clocks a byte (8 bits and the acknowledge), the
address byte of each message, start, repeated start and stop -- at
``clock_hz``, plus the time the target stretches the clock; its effect on the
target happens at the end, so a transfer the host abandons (its timeout)
changes nothing. Transfers are serialized, and the bus's time is kept against
absolute deadlines so short transfers do not each pay the event loop's timer
resolution (and time the event loop oversleeps is given back to the next
transfer, so the emulated bus is not slower than its clock).

Faults (:class:`I2cFaults`, by transfer index over the bus's life, 0-based,
every transfer counted, including those to absent addresses): ``nacks`` (the
target does not acknowledge), ``short_reads`` (the target sent the bytes, but
the host's adapter got fewer: they are lost), ``stretches`` (extra seconds of
clock stretching on that transfer); ``unreachable`` makes every transfer NACK
(the card is rebooting or unplugged). ``fired`` records which fault hit which
transfer, as the links' :class:`~aiodfu.transports.memory.FiredFault` records do.

:class:`PeripheryI2c` gives the bus the ``transfer(address, messages)`` of a
python-periphery ``I2C`` object, so a blocking client in another thread
(Blues' note-python ``OpenI2C``) drives the emulated device unchanged.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from aiodfu.transports.i2c import I2cNackError, I2cShortReadError
from aiodfu.transports.memory import FiredFault

__all__ = ["EmulatedI2cBus", "I2cBusModel", "I2cFaults", "I2cTarget", "PeripheryI2c"]

_TIMER_RESOLUTION = 0.001
"""Bus time owed below this is carried over instead of slept."""


class I2cTarget(Protocol):
    """A device on the emulated bus; raise :class:`I2cNackError` to not acknowledge."""

    def receive(self, data: bytes) -> None:
        """A write addressed to this target."""
        ...

    def respond(self, length: int) -> bytes:
        """The ``length`` bytes of a read addressed to this target."""
        ...

    def stretch(self) -> float:
        """Seconds this target holds the clock low on the next transfer."""
        ...


@attrs.frozen
class I2cBusModel:
    """How the emulated bus behaves; ``clock_hz=None`` is an unthrottled bus."""

    clock_hz: int | None = 100_000
    stretch: float = 0.0
    """Seconds every transfer is clock-stretched, on top of what the target asks for."""

    def wire_time(self, write: int, read: int) -> float:
        """Seconds a transfer writing ``write`` and reading ``read`` bytes holds the bus."""
        if self.clock_hz is None:
            return 0.0
        messages = (1 if write else 0) + (1 if read else 0)
        clocks = 9 * (write + read + messages) + messages + 1  # starts and the stop
        return clocks / self.clock_hz

    def address_time(self) -> float:
        """Seconds of a transfer no target acknowledges: its address byte, start and stop."""
        return 0.0 if self.clock_hz is None else 11 / self.clock_hz

    def limit(self) -> float | None:
        """Data bytes per second the bus could move at most (9 clocks a byte)."""
        return None if self.clock_hz is None else self.clock_hz / 9


@attrs.define
class I2cFaults:
    """Faults to inject (see the module docs); tests may change them while the bus runs."""

    nacks: set[int] = attrs.field(factory=set)
    short_reads: set[int] = attrs.field(factory=set)
    stretches: dict[int, float] = attrs.field(factory=dict)
    unreachable: bool = False
    fired: list[FiredFault] = attrs.field(factory=list)
    """Every fault that hit: direction ``"bus"``, its kind, ``at`` the transfer index."""


class EmulatedI2cBus:
    """An emulated I2C bus with targets at 7-bit addresses (see the module docs)."""

    def __init__(
        self,
        targets: dict[int, I2cTarget] | None = None,
        *,
        model: I2cBusModel | None = None,
        faults: I2cFaults | None = None,
    ) -> None:
        self.targets: dict[int, I2cTarget] = dict(targets or {})
        self.model = model or I2cBusModel()
        self.faults = faults if faults is not None else I2cFaults()
        self.transfers = 0
        """Transfers started on the bus so far."""
        self.busy_time = 0.0
        """Seconds of bus time used (wire time and clock stretching)."""
        self._lock = asyncio.Lock()
        self._free_at = 0.0
        self._overslept = 0.0

    async def _occupy(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Time the event loop overslept at the end of the last transfer is the emulator's,
        # not the host's: the next transfer may start that much in the past.
        start = max(now - self._overslept, self._free_at)
        self._free_at = start + seconds
        self._overslept = 0.0
        self.busy_time += seconds
        if self._free_at - now > _TIMER_RESOLUTION:
            try:
                await asyncio.sleep(self._free_at - now)
            except asyncio.CancelledError:  # the host gave up: the bus is free from now on
                self._free_at = loop.time()
                raise
            self._overslept = max(0.0, loop.time() - self._free_at)

    async def transfer(self, address: int, write: bytes, read: int = 0) -> bytes:
        async with self._lock:
            index = self.transfers
            self.transfers += 1
            faults = self.faults
            target = self.targets.get(address)
            if target is None or faults.unreachable or index in faults.nacks:
                await self._occupy(self.model.address_time())
                if target is not None:
                    faults.fired.append(FiredFault("bus", "nack", index))
                raise I2cNackError(f"no acknowledge from address {address:#04x}")
            stretch = self.model.stretch + target.stretch() + faults.stretches.get(index, 0.0)
            if index in faults.stretches:
                faults.fired.append(FiredFault("bus", "stretch", index))
            await self._occupy(self.model.wire_time(len(write), read) + stretch)
            if write:
                target.receive(bytes(write))
            if not read:
                return b""
            data = target.respond(read)
            if index in faults.short_reads:
                faults.fired.append(FiredFault("bus", "short read", index))
                raise I2cShortReadError(f"the adapter got {read // 2} of {read} bytes")
            return data

    async def aclose(self) -> None:
        """Nothing to release: the bus belongs to the test, not to a host session."""


class PeripheryI2c:
    """python-periphery's ``I2C.transfer`` over an emulated bus, for a client in another thread.

    ``loop`` is the event loop the bus and its devices run in; errors reach the
    client as periphery's ``I2CError`` (an ``OSError``), as from a real adapter.
    """

    def __init__(
        self, bus: EmulatedI2cBus, loop: asyncio.AbstractEventLoop, *, timeout: float = 5.0
    ) -> None:
        self.bus = bus
        self.loop = loop
        self.timeout = timeout

    def transfer(self, address: int, messages: Sequence[Any]) -> None:
        """Do a write message and/or a read message; fill in the read message's ``data``."""
        write = b"".join(bytes(m.data) for m in messages if not m.read)
        reads = [m for m in messages if m.read]
        length = sum(len(m.data) for m in reads)
        future = asyncio.run_coroutine_threadsafe(
            self.bus.transfer(address, write, length), self.loop
        )
        try:
            data = future.result(self.timeout)
        except I2cNackError as exc:
            raise _periphery_error(errno.EREMOTEIO, f"I2C transfer: {exc.message}") from None
        except I2cShortReadError as exc:
            raise _periphery_error(errno.EIO, f"I2C transfer: {exc.message}") from None
        for message in reads:
            piece, data = data[: len(message.data)], data[len(message.data) :]
            message.data = (
                type(message.data)(piece) if not isinstance(message.data, list) else list(piece)
            )

    def close(self) -> None:
        """periphery's ``close``; the emulated bus stays up."""


def _periphery_error(code: int, text: str) -> OSError:
    try:
        from periphery import I2CError
    except ImportError:  # pragma: no cover - periphery is a test dependency
        return OSError(code, text)
    error: OSError = I2CError(code, text)
    return error
