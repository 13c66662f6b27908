"""How big each ``AT#XDFUWRITE`` chunk is: sized from the link, within what the device allows.

Every chunk costs a fixed round trip on top of its bytes: the command and its
``OK``, then, after the last byte, the device's final flush and the
``#XDFU`` line. With Nordic's fixed 4096-byte chunks that costs 2-5 % at
115200 baud but 20 % at 1,000,000 baud (5 ms of device latency against 41 ms
of wire). :class:`ChunkSizer` picks each next chunk so that this fixed cost is
about :data:`TARGET_OVERHEAD` of the chunk's wire time, from what it measures:
the round trip of ``AT`` and, once chunks have gone out, what each chunk took
beyond its wire time (``baudrate`` known) or per byte (``baudrate`` unknown).

What the reference (``protocols/serial-modem-at-dfu.md``) allows, per update type:

* types 0, 1, 3 and the type-2 *bootloader* segment are appended to a stream
  and ``<addr>`` is ignored: chunks larger than the data-mode buffer are fine
  (section 4.4), so any size goes;
* the type-2 *firmware* segments are written at ``<addr>``; firmware before
  commit ``15c8295`` did not advance the address inside a chunk it split at its
  data-mode buffer (section 3.2), so those chunks never exceed
  :data:`ADDRESSED_CHUNK_MAX` (the default buffer, and Nordic's own chunk);
* without RTS/CTS the device loses what arrives while it writes flash
  (section 4.5), so a chunk must fit the data-mode buffer: :data:`GRANULE`.

Sizes are multiples of :data:`GRANULE`, so the device flushes full buffers, and
at most :data:`MAX_CHUNK_SECONDS` of wire (progress reports, and the filler
that ends an abandoned chunk, stay short). A cost that grows with the chunk
(a link slower than its nominal baud rate, flash writes the device cannot
overlap with reception) also shows as time beyond the wire, so chunks then grow
to that cap -- which never costs throughput. An explicit ``chunk_size``
overrides all of this except the firmware-phase cap.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

GRANULE = 4096
"""The device's default data-mode buffer (``CONFIG_SM_DATAMODE_BUF_SIZE``) and Nordic's chunk."""
ADDRESSED_CHUNK_MAX = 4096
"""Largest chunk of the type-2 firmware phase, where ``<addr>`` is honoured."""
MAX_CHUNK = 256 * 1024
"""Largest chunk ever announced, whatever the link."""
MAX_CHUNK_SECONDS = 1.5
"""Largest wire time of one chunk (at a known baud rate)."""
TARGET_OVERHEAD = 0.02
"""The fixed per-chunk cost as a share of the chunk's wire time that the sizer aims for."""
BITS_PER_BYTE = 10
"""8N1, the Serial Modem's UART framing."""

_HISTORY = 5  # chunks whose timings the estimate is a median of (one slow chunk does not count)


class ChunkSizer:
    """Chooses the size of each next chunk from measured round trips and chunk timings.

    ``fixed`` (the session's ``chunk_size``) turns sizing off. Without
    ``flow_control`` every chunk is :data:`GRANULE`. The sizer is pure
    bookkeeping: the transfer reports what it measured with
    :meth:`observe_round_trip` and :meth:`observe_chunk`, and asks :meth:`size`.
    """

    def __init__(
        self,
        baudrate: int | None,
        *,
        fixed: int | None = None,
        flow_control: bool = True,
        target_overhead: float = TARGET_OVERHEAD,
        max_seconds: float = MAX_CHUNK_SECONDS,
    ) -> None:
        if fixed is not None and fixed <= 0:
            raise ValueError("chunk_size must be positive")
        if baudrate is not None and baudrate <= 0:
            raise ValueError("baudrate must be positive")
        if not 0 < target_overhead < 1:
            raise ValueError("target_overhead must be between 0 and 1")
        self.baudrate = baudrate
        self.fixed = fixed
        self.flow_control = flow_control
        self.target_overhead = target_overhead
        self.max_seconds = max_seconds
        self.round_trip: float | None = None
        self._chunks: deque[tuple[int, float]] = deque(maxlen=_HISTORY)

    # --- what the transfer measured ----------------------------------------------------------

    def observe_round_trip(self, seconds: float) -> None:
        """A command's round trip (``AT`` to ``OK``)."""
        if seconds >= 0:
            self.round_trip = seconds

    def observe_chunk(self, length: int, seconds: float) -> None:
        """A chunk of ``length`` bytes took ``seconds`` from its command to its ``#XDFU`` line."""
        if length > 0 and seconds >= 0:
            self._chunks.append((length, seconds))

    # --- the estimates -----------------------------------------------------------------------

    @property
    def wire_per_byte(self) -> float | None:
        """Seconds one byte occupies the wire, if the baud rate is known."""
        return None if self.baudrate is None else BITS_PER_BYTE / self.baudrate

    def per_chunk_cost(self) -> float | None:
        """Seconds a chunk costs beyond its bytes, or ``None`` before anything was measured.

        At least two command round trips (the command's ``OK``, then the
        ``#XDFU`` line); with a known baud rate, what chunks actually took beyond
        their wire time when that is more (a final flash write, slow turnaround).
        """
        floor = None if self.round_trip is None else 2 * self.round_trip
        wire = self.wire_per_byte
        if wire is None or not self._chunks:
            return floor
        excess = statistics.median(seconds - length * wire for length, seconds in self._chunks)
        return excess if floor is None else max(excess, floor)

    def per_byte_cost(self) -> float | None:
        """Seconds per byte: the wire's at a known baud rate, else measured from chunks."""
        wire = self.wire_per_byte
        if wire is not None:
            return wire
        if not self._chunks:
            return None
        fixed = self.per_chunk_cost() or 0.0
        return statistics.median(
            max(seconds - fixed, 0.0) / length for length, seconds in self._chunks
        )

    @property
    def ceiling(self) -> int:
        """The largest chunk this sizer announces (what filler must cover to end its data mode)."""
        if self.fixed is not None:
            return max(self.fixed, GRANULE)
        if not self.flow_control:
            return GRANULE
        wire = self.wire_per_byte
        if wire is None:
            return MAX_CHUNK
        return min(MAX_CHUNK, max(GRANULE, _round_down(self.max_seconds / wire)))

    # --- the decision ------------------------------------------------------------------------

    def size(self, limit: int | None = None) -> int:
        """The next chunk's size, at most ``limit`` (the update phase's own maximum)."""
        cap = self.ceiling if limit is None else min(self.ceiling, limit)
        if self.fixed is not None:
            return min(self.fixed, cap)
        cost, per_byte = self.per_chunk_cost(), self.per_byte_cost()
        if cost is None or per_byte is None:
            wanted = GRANULE  # nothing measured yet: Nordic's size, and a first measurement
        elif per_byte <= 0:
            wanted = MAX_CHUNK
        else:
            wanted = _round_up(cost / (self.target_overhead * per_byte))
        return max(1, min(wanted, cap))


def _round_up(size: float) -> int:
    return max(GRANULE, math.ceil(size / GRANULE) * GRANULE)


def _round_down(size: float) -> int:
    return int(size // GRANULE) * GRANULE
