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
from collections.abc import Callable

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


@attrs.frozen
class LinkFaults:
    """Faults injected into one direction of a link; byte indices count from 0.

    ``drop_after``: once that many bytes have crossed, the whole link breaks
    (both ends raise :class:`LinkLostError`). ``corrupt_at``: those bytes
    arrive with every bit flipped. ``stall_after``: after that many bytes
    nothing more arrives, but the link stays up -- the device looks silent.
    """

    drop_after: int | None = None
    corrupt_at: frozenset[int] = attrs.field(default=frozenset(), converter=frozenset)
    stall_after: int | None = None


_SLICE_SECONDS = 0.002  # a paced wire delivers in slices of this much wire time


class _Wire:
    """One direction of a link: a transmit queue, the modelled wire, a receive buffer."""

    def __init__(self, model: LinkModel, faults: LinkFaults, on_drop: Callable[[], None]) -> None:
        self._model = model
        self._faults = faults
        self._on_drop = on_drop
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
        if faults.stall_after is not None and first + len(piece) > faults.stall_after:
            piece = piece[: max(faults.stall_after - first, 0)]
        if faults.drop_after is not None and first + len(piece) >= faults.drop_after:
            piece = piece[: max(faults.drop_after - first, 0)]
            self._crossed += len(piece)
            self._store(piece, first)
            self._on_drop()
            return
        self._crossed += len(piece)
        self._store(piece, first)

    def _store(self, piece: bytes, first: int) -> None:
        if not piece:
            return
        if self._faults.corrupt_at:
            data = bytearray(piece)
            for index in self._faults.corrupt_at:
                if first <= index < first + len(data):
                    data[index - first] ^= 0xFF
            piece = bytes(data)
        if not self._model.flow_control:
            piece = piece[: self._room()]  # a UART without RTS/CTS loses what does not fit
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
        downstream = _Wire(self.model, host_to_device or LinkFaults(), self.break_link)
        upstream = _Wire(self.model, device_to_host or LinkFaults(), self.break_link)
        self._wires = (downstream, upstream)
        self.host = MemoryStream(self, inbound=upstream, outbound=downstream)
        self.device = MemoryStream(self, inbound=downstream, outbound=upstream)

    def break_link(self) -> None:
        """Cut the link: both ends fail from now on."""
        if self.broken:
            return
        self.broken = True
        for wire in self._wires:
            wire.close()
