"""BLE link faults, written once for every emulated GATT target: per connection, replayable.

A :class:`GattLinkPlan` says what goes wrong on which connection to an
emulated peripheral (connections numbered from 1, so a fault can hit the
first link, a reconnection, or several): each connection's
:class:`GattLinkFaults` loses, corrupts (one bit flipped), delays or
precedes with garbage chosen notifications, stalls the link (it stays up,
nothing is delivered either way for a while, then everything is, in order)
or drops it at the Kth ATT operation -- any of them: discovery, reads,
writes, writes without response, CCCD writes, counted from 1 on the
connection. Notifications are counted from 1 on the connection too.
Everything that took effect is in :attr:`GattLinkPlan.fired`, and
:func:`random_gatt_plan` draws a plan from a seed::

    plan = GattLinkPlan({1: GattLinkFaults(disconnect_at=40), 2: GattLinkFaults(lose={3})})
    target = Nrf5LegacyEmulator(radio, link_faults=plan)
    ...
    assert [str(f) for f in plan.fired] == [
        "link 1: disconnect at ATT operation 40",
        "link 2: lose at notification 3",
    ]

Each emulated target takes one as ``link_faults`` (replace it to heal the
link); :class:`~aiodfu.testing.ble.BlePeripheral` applies it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

import attrs

__all__ = [
    "BLE_LINK_FAULT_KINDS",
    "FiredGattFault",
    "GattLinkFaults",
    "GattLinkPlan",
    "random_gatt_plan",
]

BLE_LINK_FAULT_KINDS: Sequence[str] = ("lose", "corrupt", "delay", "garbage", "stall", "disconnect")
"""What :func:`random_gatt_plan` draws from."""
NOTIFICATION_KINDS = ("lose", "corrupt", "delay", "garbage")


def _ints(value: Iterable[int]) -> frozenset[int]:
    return frozenset(value)


@attrs.frozen
class GattLinkFaults:
    """The faults of one connection (notifications and ATT operations counted from 1 on it)."""

    lose: frozenset[int] = attrs.field(default=frozenset(), converter=_ints)
    """Notifications that never reach the central."""
    flip: Mapping[int, int] = attrs.field(factory=dict)
    """Notification number -> the bit (from 0, modulo the value's bits) flipped in its value."""
    delay: Mapping[int, float] = attrs.field(factory=dict)
    """Notification number -> seconds it (and what follows it) comes late."""
    garbage: Mapping[int, bytes] = attrs.field(factory=dict)
    """Notification number -> a notification of these bytes sent just before it."""
    stall_at: int | None = None
    """At this ATT operation the link stalls: up, nothing delivered for ``stall_seconds``."""
    stall_seconds: float = 0.5
    disconnect_at: int | None = None
    """This ATT operation is not served: the link drops instead."""


@attrs.frozen
class FiredGattFault:
    """A link fault that took effect: on which connection, what, and where."""

    connection: int
    kind: str
    where: str

    def __str__(self) -> str:
        return f"link {self.connection}: {self.kind} at {self.where}"


class GattLinkPlan:
    """A peripheral's link faults, per connection: connection N carries ``plan[N]``.

    Connections without a plan are healthy. :attr:`fired` records what took
    effect; ``description`` says what was drawn (:func:`random_gatt_plan`).
    """

    def __init__(
        self, plan: Mapping[int, GattLinkFaults] | None = None, *, description: str = ""
    ) -> None:
        self.plan = dict(plan or {})
        self.description = description
        self.connections = 0
        self.fired: list[FiredGattFault] = []
        self._faults = GattLinkFaults()
        self._operations = 0
        self._notifications = 0
        self.stalled_until = 0.0
        """Loop time until which the current link delivers nothing."""

    def __repr__(self) -> str:
        return f"GattLinkPlan({self.plan!r})"

    def _record(self, kind: str, where: str) -> None:
        self.fired.append(FiredGattFault(self.connections, kind, where))

    def connected(self) -> None:
        """A new connection: its faults apply from now on."""
        self.connections += 1
        self._faults = self.plan.get(self.connections, GattLinkFaults())
        self._operations = self._notifications = 0
        self.stalled_until = 0.0

    def on_operation(self, now: float) -> str | float:
        """An ATT PDU from the central: ``"serve"``, ``"drop"`` (the link), or the seconds it
        is held (a stall starting here)."""
        self._operations += 1
        faults, number = self._faults, self._operations
        if faults.disconnect_at == number:
            self._record("disconnect", f"ATT operation {number}")
            return "drop"
        if faults.stall_at == number:
            self._record("stall", f"ATT operation {number}")
            self.stalled_until = now + faults.stall_seconds
            return faults.stall_seconds
        return "serve"

    def on_notification(self, value: bytes, now: float) -> list[tuple[float, bytes]]:
        """What to send for a notification of ``value``: ``(seconds to wait first, bytes)``."""
        self._notifications += 1
        faults, number = self._faults, self._notifications
        where = f"notification {number}"
        wait = max(self.stalled_until - now, 0.0)
        if number in faults.delay:
            self._record("delay", where)
            wait += faults.delay[number]
        sends: list[tuple[float, bytes]] = []
        if number in faults.garbage:
            self._record("garbage", where)
            sends.append((wait, faults.garbage[number]))
            wait = 0.0
        if number in faults.lose:
            self._record("lose", where)
            return sends
        if number in faults.flip and value:
            self._record("corrupt", where)
            bit = faults.flip[number] % (len(value) * 8)
            flipped = bytearray(value)
            flipped[bit // 8] ^= 1 << (bit % 8)
            value = bytes(flipped)
        sends.append((wait, value))
        return sends


def random_gatt_plan(
    rng: random.Random,
    operations: int,
    notifications: int,
    *,
    kinds: Sequence[str] = BLE_LINK_FAULT_KINDS,
    connections: Sequence[int] = (1, 1, 2),
) -> GattLinkPlan:
    """One fault of a kind from ``kinds`` on a connection drawn from ``connections``.

    ``operations`` is about how many ATT operations a connection carries in
    an update, ``notifications`` how many notifications (a fault lands within
    them). The same ``rng`` state always gives the same plan.
    """
    kind = rng.choice(list(kinds))
    connection = rng.choice(list(connections))
    span = notifications if kind in NOTIFICATION_KINDS else operations
    at = rng.randint(1, max(span, 1))
    match kind:
        case "lose":
            faults = GattLinkFaults(lose={at})
        case "corrupt":
            faults = GattLinkFaults(flip={at: rng.randrange(64)})
        case "delay":
            faults = GattLinkFaults(delay={at: round(rng.uniform(0.05, 1.0), 3)})
        case "garbage":
            faults = GattLinkFaults(garbage={at: rng.randbytes(rng.randint(1, 20))})
        case "stall":
            faults = GattLinkFaults(stall_at=at, stall_seconds=round(rng.uniform(0.05, 1.0), 3))
        case "disconnect":
            faults = GattLinkFaults(disconnect_at=at)
        case _:
            raise ValueError(f"unknown BLE link fault kind {kind!r}; known: {BLE_LINK_FAULT_KINDS}")
    unit = "notification" if kind in NOTIFICATION_KINDS else "ATT operation"
    return GattLinkPlan(
        {connection: faults}, description=f"{kind} on link {connection} at {unit} {at}"
    )
