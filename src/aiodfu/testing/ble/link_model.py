"""What Bumble does not model: connection intervals and packets per connection event."""

from __future__ import annotations

import asyncio
import math

import attrs

DEFAULT_ATT_MTU = 23


@attrs.frozen
class BleLinkModel:
    """Connection timing: ``connection_interval`` seconds, ``packets_per_event`` per event.

    ``mtu`` is the ATT MTU the central asks for when it connects (23 = no
    exchange, the stock legacy DFU bootloader). Interval 0 means unpaced.
    """

    connection_interval: float = 0.0
    packets_per_event: int = attrs.field(default=6, validator=attrs.validators.ge(1))
    mtu: int = attrs.field(default=DEFAULT_ATT_MTU, validator=attrs.validators.ge(23))

    def capacity(self, packet_size: int) -> float:
        """Bytes per second the link carries in ``packet_size`` packets (inf if unpaced)."""
        if self.connection_interval <= 0:
            return math.inf
        return packet_size * self.packets_per_event / self.connection_interval


class ConnectionEvents:
    """Assigns packets to connection events on a grid of ``connection_interval``."""

    def __init__(self, model: BleLinkModel) -> None:
        self.model = model
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._event = 0
        self._used = 0

    def _time_of(self, event: int) -> float:
        return self._origin + event * self.model.connection_interval

    def _current(self) -> int:
        """The connection event in progress (the last one that started)."""
        elapsed = self._loop.time() - self._origin
        return math.floor(elapsed / self.model.connection_interval + 1e-9)

    async def packet(self) -> float | None:
        """Wait for a free packet slot in the earliest possible connection event.

        Returns the loop time of that connection event -- when the packet is
        on the air, however late this task then runs -- or ``None`` unpaced.
        """
        if self.model.connection_interval <= 0:
            return None
        current = self._current()
        if current > self._event:
            self._event, self._used = current, 0
        if self._used >= self.model.packets_per_event:
            self._event, self._used = self._event + 1, 0
        self._used += 1
        when = self._time_of(self._event)
        await self._sleep_until(when)
        return when

    async def next_event(self) -> None:
        """Wait for the connection event after the current one (a response's turn)."""
        if self.model.connection_interval <= 0:
            return
        await self._sleep_until(self._time_of(max(self._current(), self._event) + 1))

    def delay_to_next_event(self) -> float:
        if self.model.connection_interval <= 0:
            return 0.0
        return max(0.0, self._time_of(self._current() + 1) - self._loop.time())

    async def _sleep_until(self, when: float) -> None:
        delay = when - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
