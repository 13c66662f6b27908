"""An in-memory byte-stream pair with a link model and fault injection.

This is the transport the emulators are attached to in tests and in
``aiodfu demo``; it models a UART closely enough to measure protocols on:

* **pacing** -- bytes cross at ``baud / bits_per_byte`` bytes per second
  (10 bits a byte for 8N1), scheduled against absolute deadlines so timer
  jitter never accumulates;
* **back-pressure** -- the receiver holds at most ``rx_buffer`` unread bytes;
  with ``flow_control`` (RTS/CTS) a full receiver pauses the wire and, once
  ``tx_buffer`` bytes are queued, the writer; without it the overflow is lost,
  as on a UART without hardware flow control;
* **faults** per direction -- drop the link after N bytes, corrupt the bytes at
  given indices, or stall (stop delivering while the link stays up).

Per-command device latency and flash write rates belong to the emulated
device, not to the link: see :mod:`aiodfu.testing`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping

import attrs

from aiodfu.core.errors import LinkLostError
from aiodfu.transports.base import Buffer


@attrs.frozen
class LinkModel:
    """How a modelled serial link behaves; the default is an ideal, unthrottled link."""

    baud: int | None = None
    bits_per_byte: int = 10
    rx_buffer: int = 65536
    tx_buffer: int = 65536
    flow_control: bool = True

    @property
    def bytes_per_second(self) -> float | None:
        return None if self.baud is None else self.baud / self.bits_per_byte

    def wire_time(self, count: int) -> float:
        """Seconds ``count`` bytes occupy the wire (0 on an unthrottled link)."""
        rate = self.bytes_per_second
        return 0.0 if rate is None else count / rate


def _index_set(value: Iterable[int]) -> frozenset[int]:
    return frozenset(value)


def _byte_map(value: Mapping[int, int] | None) -> Mapping[int, int]:
    return dict(value or {})


def _burst_map(value: Mapping[int, bytes] | None) -> Mapping[int, bytes]:
    return {index: bytes(burst) for index, burst in (value or {}).items()}


@attrs.frozen
class LinkFaults:
    """Faults injected into one direction of a link.

    Byte triggers count the bytes the *sender* put on the wire, from 0, so a
    fault lands at the same place however the receiver reads; time triggers
    count from when the link was plugged in.

    * ``drop_after``: once that many bytes have crossed, the whole link breaks
      (both ends raise :class:`LinkLostError`); ``drop_after_seconds``: the same,
      after that long.
    * ``stall_after``: after that many bytes nothing more arrives, but the link
      stays up -- the device looks silent; ``stall_after_seconds``: the same, in time.
    * ``corrupt_at``: those bytes arrive with every bit flipped; ``flip_bits``:
      byte index -> XOR mask, for single-bit errors.
    * ``lose_at``: those bytes never arrive; ``duplicate_at``: those arrive twice.
    * ``insert_before``: byte index -> bytes that arrive just before it (noise,
      a garbage burst, an unsolicited line).

    Every fault that takes effect is recorded in :attr:`MemoryLink.fired`.
    """

    drop_after: int | None = None
    corrupt_at: frozenset[int] = attrs.field(default=frozenset(), converter=_index_set)
    stall_after: int | None = None
    flip_bits: Mapping[int, int] = attrs.field(factory=dict, converter=_byte_map)
    lose_at: frozenset[int] = attrs.field(default=frozenset(), converter=_index_set)
    duplicate_at: frozenset[int] = attrs.field(default=frozenset(), converter=_index_set)
    insert_before: Mapping[int, bytes] = attrs.field(factory=dict, converter=_burst_map)
    drop_after_seconds: float | None = None
    stall_after_seconds: float | None = None

    @property
    def alters_bytes(self) -> bool:
        """Whether any byte is changed, lost, repeated or added (not just cut off)."""
        return bool(
            self.corrupt_at
            or self.flip_bits
            or self.lose_at
            or self.duplicate_at
            or self.insert_before
        )


@attrs.frozen
class FiredFault:
    """A fault that took effect: which direction, what, and at which sender byte (or time)."""

    direction: str
    kind: str
    at: int | float

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} at {self.at}"


_SLICE_SECONDS = 0.002  # a paced wire delivers in slices of this much wire time


class _Wire:
    """One direction of a link: a transmit queue, the modelled wire, a receive buffer."""

    def __init__(
        self,
        model: LinkModel,
        faults: LinkFaults,
        on_drop: Callable[[], None],
        *,
        direction: str = "",
        fired: list[FiredFault] | None = None,
    ) -> None:
        self._model = model
        self._faults = faults
        self._on_drop = on_drop
        self._direction = direction
        self.fired = fired if fired is not None else []
        self.stalled = False
        self._pending = bytearray()
        self._rx = bytearray()
        self._crossed = 0
        self._closed = False
        self._data_ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._pending_room = asyncio.Event()
        self._pending_room.set()
        self._pacer: asyncio.Task[None] | None = None
        rate = model.bytes_per_second
        self._slice = None if rate is None else max(1, math.ceil(rate * _SLICE_SECONDS))

    # --- writer side -------------------------------------------------------------------------

    async def write(self, data: Buffer) -> None:
        if self._closed:
            raise LinkLostError("link closed (writing)")
        if not data:
            return
        self._pending += data
        if self._slice is None:
            self._deliver_unpaced()
        elif self._pacer is None or self._pacer.done():
            self._pacer = asyncio.get_running_loop().create_task(self._run_pacer())
        while len(self._pending) > self._model.tx_buffer and not self._closed:
            self._pending_room.clear()
            await self._pending_room.wait()
        if self._closed:
            raise LinkLostError("link closed (writing)")

    def _deliver_unpaced(self) -> None:
        while self._pending and not self._closed:
            count = len(self._pending)
            if self._model.flow_control:
                count = min(count, self._room())
                if count == 0:
                    return  # read() delivers the rest when it makes room
            piece = bytes(self._pending[:count])
            del self._pending[:count]
            self._cross(piece)
        self._pending_room.set()

    async def _run_pacer(self) -> None:
        """Move pending bytes across while there are any.

        While the wire stays busy, each slice is scheduled from the previous
        slice's deadline, not from "now", so a late wake-up is made up by the
        next sleep instead of slowing the link down.
        """
        loop = asyncio.get_running_loop()
        assert self._slice is not None
        free_at = loop.time()
        while self._pending and not self._closed:
            if self._model.flow_control and self._room() == 0:
                while self._room() == 0 and not self._closed:
                    self._space.clear()
                    await self._space.wait()
                free_at = loop.time()  # the wire sat idle while the receiver was full
                continue
            count = min(len(self._pending), self._slice)
            if self._model.flow_control:
                count = min(count, self._room())
            piece = bytes(self._pending[:count])
            del self._pending[:count]
            if len(self._pending) <= self._model.tx_buffer:
                self._pending_room.set()
            free_at += self._model.wire_time(count)
            delay = free_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._cross(piece)
        self._pending_room.set()

    def _room(self) -> int:
        return max(self._model.rx_buffer - len(self._rx), 0)

    def _cross(self, piece: bytes) -> None:
        """Put ``piece`` on the receiving side, applying faults and overflow."""
        faults = self._faults
        first = self._crossed
        if self.stalled:
            self._crossed += len(piece)
            return
        if faults.stall_after is not None and first + len(piece) > faults.stall_after:
            piece = piece[: max(faults.stall_after - first, 0)]
            self.stalled = True
            self._record("stall", faults.stall_after)
        if faults.drop_after is not None and first + len(piece) >= faults.drop_after:
            piece = piece[: max(faults.drop_after - first, 0)]
            self._crossed += len(piece)
            self._store(piece, first)
            self._record("drop", faults.drop_after)
            self._on_drop()
            return
        self._crossed += len(piece)
        self._store(piece, first)

    def _record(self, kind: str, at: int | float) -> None:
        self.fired.append(FiredFault(self._direction, kind, at))

    def _alter(self, piece: bytes, first: int) -> bytes:
        """Apply the byte faults that fall within ``piece`` (sender offsets from ``first``)."""
        faults = self._faults
        out = bytearray()
        for index, byte in enumerate(piece, start=first):
            burst = faults.insert_before.get(index)
            if burst is not None:
                out += burst
                self._record("insert", index)
            if index in faults.lose_at:
                self._record("lose", index)
                continue
            mask = faults.flip_bits.get(index, 0) ^ (0xFF if index in faults.corrupt_at else 0)
            if mask:
                byte ^= mask
                self._record("corrupt", index)
            out.append(byte)
            if index in faults.duplicate_at:
                out.append(byte)
                self._record("duplicate", index)
        return bytes(out)

    def _store(self, piece: bytes, first: int) -> None:
        if not piece:
            return
        if self._faults.alters_bytes:
            piece = self._alter(piece, first)
        if not self._model.flow_control:
            room = self._room()
            if len(piece) > room:
                self._record("overflow", self._crossed)
            piece = piece[:room]  # a UART without RTS/CTS loses what does not fit
        self._rx += piece
        if self._rx:
            self._data_ready.set()

    # --- reader side -------------------------------------------------------------------------

    async def read(self, max_bytes: int) -> bytes:
        while not self._rx:
            if self._closed:
                raise LinkLostError("link closed (reading)")
            self._data_ready.clear()
            await self._data_ready.wait()
        data = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        self._space.set()
        if self._slice is None and self._pending:
            self._deliver_unpaced()
        return data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # bytes already received stay readable, then reads fail
        self._pending.clear()
        for event in (self._data_ready, self._space, self._pending_room):
            event.set()
        if self._pacer is not None and not self._pacer.done():
            self._pacer.cancel()


class MemoryStream:
    """One end of a :class:`MemoryLink`; a :class:`~aiodfu.transports.base.ByteStream`."""

    def __init__(self, link: MemoryLink, inbound: _Wire, outbound: _Wire) -> None:
        self._link = link
        self._inbound = inbound
        self._outbound = outbound

    async def read(self, max_bytes: int = 65536) -> bytes:
        return await self._inbound.read(max_bytes)

    async def write(self, data: Buffer) -> None:
        await self._outbound.write(data)

    async def aclose(self) -> None:
        self._link.break_link()

    @property
    def closed(self) -> bool:
        return self._link.broken

    @property
    def link(self) -> MemoryLink:
        """The link this is one end of (its model, whether it broke, the faults that fired)."""
        return self._link


class MemoryLink:
    """Two connected :class:`MemoryStream` ends, ``host`` and ``device``.

    Closing either end, or a ``drop_after`` fault, breaks the whole link, as
    pulling a cable would.
    """

    def __init__(
        self,
        model: LinkModel | None = None,
        *,
        host_to_device: LinkFaults | None = None,
        device_to_host: LinkFaults | None = None,
    ) -> None:
        self.model = model or LinkModel()
        self.broken = False
        self.fired: list[FiredFault] = []
        """Every fault that took effect on this link, in order (a run replays from this)."""
        down_faults, up_faults = host_to_device or LinkFaults(), device_to_host or LinkFaults()
        downstream = _Wire(
            self.model, down_faults, self.break_link, direction="host->device", fired=self.fired
        )
        upstream = _Wire(
            self.model, up_faults, self.break_link, direction="device->host", fired=self.fired
        )
        self._wires = (downstream, upstream)
        self._timers = [
            timer
            for wire, faults in ((downstream, down_faults), (upstream, up_faults))
            for timer in self._schedule(wire, faults)
        ]
        self.host = MemoryStream(self, inbound=upstream, outbound=downstream)
        self.device = MemoryStream(self, inbound=downstream, outbound=upstream)

    def _schedule(self, wire: _Wire, faults: LinkFaults) -> list[asyncio.TimerHandle]:
        """Arm the time-triggered faults of one direction (needs a running loop if any)."""
        timers = []
        if faults.stall_after_seconds is not None:
            seconds = faults.stall_after_seconds

            def stall() -> None:
                wire.stalled = True
                wire._record("stall", seconds)

            timers.append(asyncio.get_running_loop().call_later(seconds, stall))
        if faults.drop_after_seconds is not None:
            seconds = faults.drop_after_seconds

            def drop() -> None:
                if not self.broken:
                    wire._record("drop", seconds)
                self.break_link()

            timers.append(asyncio.get_running_loop().call_later(seconds, drop))
        return timers

    def break_link(self) -> None:
        """Cut the link: both ends fail from now on."""
        if self.broken:
            return
        self.broken = True
        for timer in self._timers:
            timer.cancel()
        for wire in self._wires:
            wire.close()
