"""Link faults planned per connection, and drawn at random from a seed.

:class:`~aiodfu.transports.memory.LinkFaults` says what goes wrong on one
link; :class:`FaultyLinks` says on *which* link: it is a connector (what a
session calls to open a link, and calls again to reconnect) whose Nth link
carries the faults planned for it, so a fault can hit the first link, a
reconnection, or several in a row. Everything that fired is recorded, per
connection, and a plan drawn by :func:`random_link_plan` from a seed replays
exactly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from aiodfu.transports.memory import FiredFault, LinkFaults, LinkModel, MemoryStream

if TYPE_CHECKING:  # aiodfu.testing.emulator re-exports FaultyFirstLink from here
    from aiodfu.testing.emulator import Emulator

__all__ = ["LINK_FAULT_KINDS", "FaultyLinks", "LinkPlan", "random_link_plan"]


@attrs.frozen
class LinkPlan:
    """The faults of one link, per direction (``None``: that direction is healthy)."""

    host_to_device: LinkFaults | None = None
    device_to_host: LinkFaults | None = None
    description: str = ""


class FaultyLinks:
    """A connector for a session over ``emulator``: link number N carries ``plan[N]``.

    Links are numbered from 1; a link without a plan is healthy. ``model``
    overrides the emulator's link model for every link::

        connector = FaultyLinks(device, {1: LinkPlan(LinkFaults(drop_after=5000))})
        async with SerialModemSession(connector) as session:
            await session.update(image)
        assert connector.connections == 2 and connector.fired[0][1].kind == "drop"
    """

    def __init__(
        self,
        emulator: Emulator,
        plan: Mapping[int, LinkPlan] | None = None,
        *,
        model: LinkModel | None = None,
    ) -> None:
        self.emulator = emulator
        self.plan = dict(plan or {})
        self.model = model
        self.connections = 0
        self._streams: list[MemoryStream] = []

    def __call__(self) -> MemoryStream:
        self.connections += 1
        planned = self.plan.get(self.connections, LinkPlan())
        stream = self.emulator.connect(
            model=self.model,
            host_to_device=planned.host_to_device,
            device_to_host=planned.device_to_host,
        )
        self._streams.append(stream)
        return stream

    @property
    def fired(self) -> list[tuple[int, FiredFault]]:
        """``(link number, fault)`` for every fault that took effect, in order."""
        return [
            (number, fault)
            for number, stream in enumerate(self._streams, start=1)
            for fault in stream.link.fired
        ]


class FaultyFirstLink(FaultyLinks):
    """A connector whose first link carries faults; every reconnection is healthy.

    The shape of one link loss or stall at a chosen byte, after which the
    session's own recovery must reconnect and finish::

        connector = FaultyFirstLink(device, host_to_device=LinkFaults(drop_after=5000))
        async with SerialModemSession(connector) as session:
            await session.update(image)
        assert connector.connections == 2
    """

    def __init__(
        self,
        emulator: Emulator,
        host_to_device: LinkFaults | None = None,
        device_to_host: LinkFaults | None = None,
    ) -> None:
        super().__init__(emulator, {1: LinkPlan(host_to_device, device_to_host)})
        self.faults = (host_to_device, device_to_host)


LINK_FAULT_KINDS: Sequence[str] = (
    "drop",
    "stall",
    "corrupt",
    "flip",
    "lose",
    "duplicate",
    "garbage",
)
"""What :func:`random_link_plan` draws from (each a :class:`LinkFaults` field)."""


def random_link_plan(
    rng: random.Random,
    span: int,
    *,
    kinds: Sequence[str] = LINK_FAULT_KINDS,
    upstream_span: int = 256,
) -> LinkPlan:
    """One fault of a kind from ``kinds``, at a random byte, in a random direction.

    ``span`` is about how many bytes the host sends in an update (the fault
    lands within it), ``upstream_span`` how many the device sends back. The
    same ``rng`` state always gives the same plan.
    """
    kind = rng.choice(list(kinds))
    downstream = rng.random() < 0.7
    at = rng.randrange(max(span if downstream else upstream_span, 1))
    match kind:
        case "drop":
            faults = LinkFaults(drop_after=at)
        case "stall":
            faults = LinkFaults(stall_after=at)
        case "corrupt":
            faults = LinkFaults(corrupt_at={at})
        case "flip":
            faults = LinkFaults(flip_bits={at: 1 << rng.randrange(8)})
        case "lose":
            faults = LinkFaults(lose_at={at})
        case "duplicate":
            faults = LinkFaults(duplicate_at={at})
        case "garbage":
            faults = LinkFaults(insert_before={at: rng.randbytes(rng.randrange(1, 33))})
        case _:
            raise ValueError(f"unknown link fault kind {kind!r}; known: {LINK_FAULT_KINDS}")
    direction = "host->device" if downstream else "device->host"
    return LinkPlan(
        faults if downstream else None,
        None if downstream else faults,
        description=f"{kind} {direction} at byte {at}",
    )
