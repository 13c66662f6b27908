"""What one case is: a device built from a seed, one fault, an update, and the oracle.

A :class:`Trial` is everything a case needs for one backend: it draws its
fault from the case's :class:`random.Random`, builds the emulated device (and
its radio, servers) in ``__aenter__``, runs an update with the fault
(:meth:`Trial.update`) and, after a typed failure, one more without it
(:meth:`Trial.update_fresh`), and says whether the device now holds exactly
the image that was sent (:meth:`Trial.holds_image`). Everything goes through
aiodfu's public API: the backends' sessions and :mod:`aiodfu.testing`'s
emulators and fault classes.

Fault kinds are named ``link:...`` (the bytes or packets between host and
device), ``device:...`` (the emulator's own faults), ``http:...`` (the cloud's
server, RainMaker) and ``host:cancel`` (the caller cancels ``update()``).
"""

from __future__ import annotations

import abc
import enum
import random
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import attrs

from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.testing import (
    LINK_FAULT_KINDS,
    DeviceFault,
    FaultVocabulary,
    FaultyLinks,
    LinkPlan,
    random_device_fault,
    random_link_plan,
)

STREAM_LINK_KINDS: tuple[str, ...] = tuple(f"link:{kind}" for kind in LINK_FAULT_KINDS)
"""The byte-stream link faults :func:`aiodfu.testing.random_link_plan` draws."""

BLE_LINK_KINDS: tuple[str, ...] = tuple(
    f"link:ble-{kind}" for kind in ("lose", "corrupt", "delay", "garbage", "stall", "disconnect")
)
"""The BLE link faults :func:`aiodfu.testing.random_gatt_plan` draws (its
``BLE_LINK_FAULT_KINDS``; named here so that importing this module needs no Bumble)."""

CANCEL = "host:cancel"


def device_kinds(vocabulary: FaultVocabulary) -> tuple[str, ...]:
    """The device fault kinds of a ``FAULT_VOCABULARY``, as case kinds (``device:reboot``)."""
    return tuple(f"device:{kind}" for kind in vocabulary.kinds)


@attrs.frozen
class Fault:
    """The fault of one case: its kind (a table row) and exactly what was drawn."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Held(enum.Enum):
    """What the device holds after a session that reported success."""

    INTACT = "intact"
    """It runs (or the host installed) exactly the image sent, confirmed, byte for byte."""
    DIFFERENT_BYTES = "different bytes"
    """It runs the update, but not byte for byte the image sent: what only an end-to-end
    check can catch."""
    NOT_APPLIED = "not applied"
    """It does not run the update at all (old image, unconfirmed, still in its bootloader,
    the outcome never reported)."""


class Trial(abc.ABC):
    """One case of one backend; subclasses fill in the device, the session and the oracle.

    ``kind`` forces the fault kind (the test slice does); otherwise it is drawn
    from ``rng`` like everything else, so ``(backend, seed)`` replays exactly --
    and a case whose drawn kind is K is the same case when K is forced.
    """

    backend: ClassVar[str]
    kinds: ClassVar[Sequence[str]]
    unverifiable_ok: bool = False
    """Whether an unverified success is honest here (the protocol cannot check the image)."""

    def __init__(self, rng: random.Random, kind: str | None = None) -> None:
        self.rng = rng
        if kind is not None and kind not in self.kinds:
            raise ValueError(f"{self.backend} has no fault kind {kind!r}; known: {self.kinds}")
        drawn = rng.choice(list(self.kinds))  # drawn either way: a forced case replays a drawn one
        self.kind = kind or drawn
        self.cancel_at: int | None = None
        self._armed: list[tuple[int, Callable[[], None]]] = []
        self.fault = self.draw()

    # --- what a backend provides ---------------------------------------------------------------

    @abc.abstractmethod
    def draw(self) -> Fault:
        """Draw the fault of kind :attr:`kind` (and any set-up it needs) from :attr:`rng`."""

    @abc.abstractmethod
    async def __aenter__(self) -> Self:
        """Build and start the device, with the fault armed."""

    @abc.abstractmethod
    async def __aexit__(self, *exc: object) -> None:
        """Stop everything :meth:`__aenter__` started."""

    @abc.abstractmethod
    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        """One session, with the fault, through the public API; returns what ``update`` did."""

    @abc.abstractmethod
    def heal(self) -> None:
        """Remove every fault: what the next session finds is only the state the last one left."""

    @abc.abstractmethod
    async def update_fresh(self) -> UpdateResult:
        """A fresh session with no fault updates the same device to the same image."""

    @abc.abstractmethod
    def held(self) -> tuple[Held, str]:
        """What the device now runs (or the host installed), and a few words on why."""

    def fired(self) -> list[str]:
        """What took effect, for the verbose replay (link faults record themselves)."""
        return []

    def emulator_failures(self) -> list[BaseException]:
        """Exceptions the emulators raised while serving: bugs of the test devices themselves."""
        return []

    # --- shared pieces ---------------------------------------------------------------------------

    def arm(self, at: int, action: Callable[[], None]) -> None:
        """Run ``action`` once the update's progress reaches ``at`` bytes (a fault mid-way)."""
        self._armed.append((at, action))

    def on_progress(self, progress: Progress) -> None:
        """Fire what :meth:`arm` armed; the runner calls this for every progress event."""
        due = [item for item in self._armed if progress.done >= item[0]]
        for item in due:
            self._armed.remove(item)
            item[1]()

    def draw_device_fault(self, vocabulary: FaultVocabulary, span: int) -> DeviceFault:
        """A :func:`~aiodfu.testing.random_device_fault` of this case's ``device:`` kind, at a
        command or an image offset within ``span``."""
        kind = self.kind.removeprefix("device:")
        return random_device_fault(self.rng, vocabulary, span, kinds=[kind])

    def draw_ble_link(self, operations: int, notifications: int, link: int = 1) -> Any:
        """A :func:`~aiodfu.testing.random_gatt_plan` of this case's ``link:ble-`` kind, on the
        connection ``link`` that carries the update (mostly) or the next one."""
        from aiodfu.testing.ble import random_gatt_plan  # needs Bumble: BLE trials only

        kind = self.kind.removeprefix("link:ble-")
        return random_gatt_plan(
            self.rng, operations, notifications, kinds=[kind], connections=(link, link, link + 1)
        )

    def draw_cancel(self, span: int) -> Fault:
        """``host:cancel``: the caller cancels ``update()`` once progress passes a random byte."""
        self.cancel_at = self.rng.randrange(span)
        return Fault(CANCEL, f"cancel update() once {self.cancel_at} bytes are done")


class StreamTrial(Trial):
    """A backend over a byte stream: link faults come from :class:`aiodfu.testing.FaultyLinks`."""

    span: ClassVar[int] = 8000
    """About how many bytes the host sends in one update (link faults land within it)."""
    upstream_span: ClassVar[int] = 600
    """About how many the device sends back."""

    plan: dict[int, LinkPlan]
    connector: FaultyLinks | None = None

    def draw_link(self) -> Fault:
        """One ``random_link_plan`` fault, on the first link (mostly) or a later one."""
        kind = self.kind.removeprefix("link:")
        plan = random_link_plan(self.rng, self.span, kinds=[kind], upstream_span=self.upstream_span)
        connection = 1 if self.rng.random() < 0.75 else self.rng.randint(2, 3)
        self.plan = {connection: plan}
        return Fault(self.kind, f"{plan.description}, on connection {connection}")

    def faulty_connector(self, emulator: Any) -> FaultyLinks:
        """The connector of the faulty session (healthy links where no fault was drawn)."""
        self.connector = FaultyLinks(emulator, getattr(self, "plan", {}))
        return self.connector

    def fired(self) -> list[str]:
        if self.connector is None:
            return []
        return [f"connection {number}: {fault}" for number, fault in self.connector.fired]
