"""Link faults planned per connection, and link and device faults drawn at random from a seed.

:class:`~aiodfu.transports.memory.LinkFaults` says what goes wrong on one
link; :class:`FaultyLinks` says on *which* link: it is a connector (what a
session calls to open a link, and calls again to reconnect) whose Nth link
carries the faults planned for it, so a fault can hit the first link, a
reconnection, or several in a row. Everything that fired is recorded, per
connection, and a plan drawn by :func:`random_link_plan` from a seed replays
exactly. :func:`random_device_fault` does the same for a device fault
(:mod:`aiodfu.testing.device_faults`), within the device's
:class:`FaultVocabulary`: what it can be asked to fail at.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from aiodfu.testing.device_faults import (
    DEVICE_FAULT_KINDS,
    DEVICE_FAULT_TRIGGERS,
    Action,
    AfterSeconds,
    AtOffset,
    DeviceFault,
    ErrorReply,
    Latency,
    OnCommand,
    Reboot,
    Silence,
    Trigger,
    Unsolicited,
)
from aiodfu.transports.memory import FiredFault, LinkFaults, LinkModel, MemoryStream

if TYPE_CHECKING:  # aiodfu.testing.emulator re-exports FaultyFirstLink from here
    from aiodfu.testing.emulator import Emulator

__all__ = [
    "LINK_FAULT_KINDS",
    "FaultVocabulary",
    "FaultyLinks",
    "LinkPlan",
    "random_device_fault",
    "random_link_plan",
]


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


# --- device faults: what a device can do, and seeded draws ---------------------------------------


@attrs.frozen
class FaultVocabulary:
    """What one emulated device can be asked to fail at (each emulator's ``FAULT_VOCABULARY``).

    ``commands``: ``(prefix, count)`` -- the commands a fault may target and
    how many of each an update sends at least (a drawn ``OnCommand`` stays
    within it). ``errors``: the :class:`ErrorReply` codes at a command;
    ``offset_errors``: those at a transfer offset (empty: none there).
    ``unsolicited``: lines the device really prints unprompted. ``kinds``:
    the actions it supports. ``error_commands``: the command prefixes at
    which an error is something a host can notice (``None``: all of them);
    random draws keep to them. ``unobservable``: ``(kind, command prefix)`` pairs
    whose effect no host can observe through the protocol (a chip that resets as
    the nRF5 Activate & Reset arrives boots its old application, which the legacy
    protocol cannot tell from the new one); :meth:`check` allows them, random draws
    leave them out.
    """

    backend: str
    commands: tuple[tuple[str, int], ...]
    errors: tuple[str | int | None, ...]
    offset_errors: tuple[str | int | None, ...] = ()
    unsolicited: tuple[bytes, ...] = ()
    kinds: tuple[str, ...] = tuple(DEVICE_FAULT_KINDS)
    error_commands: tuple[str, ...] | None = None
    unobservable: tuple[tuple[str, str], ...] = ()

    def check(self, fault: DeviceFault) -> None:
        """Raise :class:`ValueError` if this device cannot do ``fault``."""
        action, trigger = fault.action, fault.trigger
        if action.kind not in self.kinds:
            raise ValueError(f"the {self.backend} device has no {action.kind} fault")
        if isinstance(action, ErrorReply):
            codes = self.offset_errors if isinstance(trigger, AtOffset) else self.errors
            if action.code not in codes:
                place = "at an offset" if isinstance(trigger, AtOffset) else "at a command"
                raise ValueError(
                    f"the {self.backend} device has no error {action.code!r} {place}; "
                    f"it has {list(codes)}"
                )


def random_device_fault(
    rng: random.Random,
    vocabulary: FaultVocabulary,
    span: int,
    *,
    kinds: Sequence[str] | None = None,
    triggers: Sequence[str] = ("command", "offset"),
    max_seconds: float = 1.0,
) -> DeviceFault:
    """One fault of a kind from ``kinds`` (default: all the device has), drawn from ``rng``.

    ``span`` is about how many image bytes an update moves (an offset lands
    within it); ``triggers`` picks from ``"command"``, ``"offset"`` and
    ``"time"`` (within ``max_seconds``; timed faults replay the same plan, but
    what they hit depends on timing). The same ``rng`` state always gives the
    same fault; ``str(fault)`` describes it.
    """
    known = list(vocabulary.kinds if kinds is None else kinds)
    for kind in known:
        if kind not in vocabulary.kinds:
            raise ValueError(
                f"unknown device fault kind {kind!r} for {vocabulary.backend}; "
                f"known: {vocabulary.kinds}"
            )
    kind = rng.choice(known)
    usable = [
        name for name in triggers if name != "offset" or kind != "error" or vocabulary.offset_errors
    ]
    if not usable:
        raise ValueError(f"no trigger in {list(triggers)} suits a {kind} fault")
    trigger_kind = rng.choice(usable)
    trigger: Trigger
    match trigger_kind:
        case "command":
            targets = vocabulary.commands
            if kind == "error" and vocabulary.error_commands is not None:
                targets = tuple(c for c in targets if c[0] in vocabulary.error_commands)
            if vocabulary.unobservable:
                targets = tuple(c for c in targets if (kind, c[0]) not in vocabulary.unobservable)
            prefix, count = rng.choice(targets)
            trigger = OnCommand(rng.randint(1, max(count, 1)), prefix)
        case "offset":
            trigger = AtOffset(rng.randrange(max(span, 1)))
        case "time":
            trigger = AfterSeconds(round(rng.uniform(0.0, max_seconds), 3))
        case _:
            raise ValueError(f"unknown trigger {trigger_kind!r}; known: {DEVICE_FAULT_TRIGGERS}")
    action: Action
    match kind:
        case "error":
            codes = vocabulary.offset_errors if trigger_kind == "offset" else vocabulary.errors
            action = ErrorReply(rng.choice(codes))
        case "reboot":
            action = Reboot()
        case "silence":
            action = Silence(rng.choice([None, round(rng.uniform(0.05, 1.0), 3)]))
        case "unsolicited":
            lines = vocabulary.unsolicited or (b"\r\n",)
            data = rng.choice(lines) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 16))
            action = Unsolicited(data, mid_line=rng.random() < 0.4)
        case _:
            action = Latency(round(rng.uniform(0.01, 0.3), 3), rng.choice([1, 3, None]))
    return DeviceFault(trigger, action)
