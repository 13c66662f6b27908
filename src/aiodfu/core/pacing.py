"""Spacing bytes out at a fixed rate, for link models and for hosts that must not outrun devices."""

from __future__ import annotations

import asyncio


class Pacer:
    """Releases byte counts at ``bytes_per_second`` against absolute deadlines.

    :meth:`consume` returns once ``count`` more bytes fit the rate. Traffic that
    follows the previous deadline within ``idle_gap`` seconds continues that
    schedule, so a late wake-up is made up by the next one instead of lowering
    the rate; after a longer pause the schedule starts afresh (an idle link
    banks no credit). ``None`` means no limit.

    ``continuous=True`` says the bytes follow the previous ones with no pause
    on the wire (the rest of one buffer handed over at once, a backlog still
    waiting), so however late the caller wakes up it continues the schedule:
    on a busy event loop a wake-up can be late by more than ``idle_gap``, and
    taking that for idleness would slow the modelled wire with its host's load
    (a real UART sends a handed-over buffer at line rate whatever its host does).
    """

    def __init__(self, bytes_per_second: float | None, *, idle_gap: float = 0.005) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("the rate must be positive")
        self.bytes_per_second = bytes_per_second
        self._idle_gap = idle_gap
        self._free_at = 0.0

    async def consume(self, count: int, *, continuous: bool = False) -> None:
        if self.bytes_per_second is None or count <= 0:
            return
        now = asyncio.get_running_loop().time()
        idle = not continuous and now - self._free_at >= self._idle_gap
        start = now if idle else self._free_at
        self._free_at = start + count / self.bytes_per_second
        if self._free_at > now:
            await asyncio.sleep(self._free_at - now)
