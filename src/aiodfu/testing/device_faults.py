"""Device faults: what goes wrong inside an emulated device, when it does, and what fired.

Link faults (:class:`~aiodfu.transports.memory.LinkFaults`) spoil the bytes
between host and device; device faults are the device's own failures. Each
:class:`DeviceFault` pairs a **trigger** with an **action**:

* triggers -- :class:`OnCommand` (the Kth command, optionally only those
  starting with a prefix, counted over the device's life), :class:`AtOffset`
  (the transfer reaches an image offset), :class:`AfterSeconds` (that long
  after the device's first connection);
* actions -- :class:`ErrorReply` (one of the protocol's error answers, named
  by the device's ``FAULT_VOCABULARY``), :class:`Reboot` (the device
  resets, loses its RAM and prints its banner), :class:`Silence` (the link
  stays up, the device stops answering: for good, or a stall),
  :class:`Unsolicited` (lines it prints on its own: at an idle moment, in the
  middle of its next line, or during data mode when placed at an offset) and
  :class:`Latency` (answers come late).

A fault fires ``times`` times (once by default) and is then spent. Every
firing is recorded in :attr:`DeviceFaults.fired` -- as
:attr:`MemoryLink.fired <aiodfu.transports.memory.MemoryLink.fired>` records
link faults -- and :func:`~aiodfu.testing.faults.random_device_fault` draws
a fault from a seed, within what the device can do (its
:class:`~aiodfu.testing.faults.FaultVocabulary`), the way
:func:`~aiodfu.testing.faults.random_link_plan` draws a link fault, so a run
replays exactly::

    fault = DeviceFault(OnCommand(3, "AT#XDFUWRITE"), Reboot())
    device = SerialModemEmulator(faults=SerialModemFaults(plan=[fault]))
    ...
    assert [str(f) for f in device.faults.fired] == [
        "reboot at AT#XDFUWRITE command 3 (AT#XDFUWRITE=0,4096,2048): reboot"
    ]

:class:`DeviceFaults` is the base of every emulator's own ``*Faults`` value:
it holds the plan, the record, and the knobs every device has (``silent``,
``unsolicited``); the device's runtime is
:class:`~aiodfu.testing.faulty_device.FaultyDevice`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "DEVICE_FAULT_KINDS",
    "DEVICE_FAULT_TRIGGERS",
    "Action",
    "AfterSeconds",
    "AtOffset",
    "DeviceFault",
    "DeviceFaults",
    "ErrorReply",
    "FiredDeviceFault",
    "Latency",
    "OnCommand",
    "Reboot",
    "Silence",
    "Trigger",
    "Unsolicited",
]

# --- triggers ------------------------------------------------------------------------------------


@attrs.frozen
class OnCommand:
    """The ``number``-th command (from 1) that starts with ``prefix`` (case-insensitive).

    Commands are counted over the device's life, across connections and
    reboots, as the device names them: the AT line for the AT devices
    (``"AT#XDFUWRITE"``, ``"AT+HTTPCGET"``), the command type for Drogue
    (``"Write"``, ``"Swap"``, ``"Sync"``). An empty prefix counts every command.
    """

    number: int = 1
    prefix: str = ""

    def __attrs_post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"commands are counted from 1, not {self.number}")

    def __str__(self) -> str:
        which = f"{self.prefix} command" if self.prefix else "command"
        return f"{which} {self.number}"


@attrs.frozen
class AtOffset:
    """The transfer reaches byte ``offset`` of the image (each time it does, up to ``times``)."""

    offset: int

    def __attrs_post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError(f"an offset cannot be negative: {self.offset}")

    def __str__(self) -> str:
        return f"offset {self.offset}"


@attrs.frozen
class AfterSeconds:
    """``seconds`` after the device's first connection (armed at each connection)."""

    seconds: float

    def __attrs_post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"a delay cannot be negative: {self.seconds}")

    def __str__(self) -> str:
        return f"{self.seconds:g} s"


Trigger = OnCommand | AtOffset | AfterSeconds

# --- actions -------------------------------------------------------------------------------------


@attrs.frozen
class ErrorReply:
    """An error answer instead of the usual one; ``code`` is one of the device's error codes.

    ``None`` is the protocol's usual error at that point. What codes exist
    and what they do is the device's ``FAULT_VOCABULARY`` (see each
    emulator's documentation): e.g. ``"ERROR"`` or an ``#XDFU`` status for
    the Serial Modem, an ``ERR CODE`` for ESP-AT, a flash error for Drogue.
    """

    code: str | int | None = None
    kind = "error"

    def __str__(self) -> str:
        return "error" if self.code is None else f"error {self.code!r}"


@attrs.frozen
class Reboot:
    """The device resets: RAM state is lost, input is lost until it is back, then its banner."""

    kind = "reboot"

    def __str__(self) -> str:
        return "reboot"


@attrs.frozen
class Silence:
    """The device stops answering for ``seconds``, then goes on (``None``: for good).

    While silent it neither answers nor acts on input (what arrives is lost).
    A stall at a command or an offset then carries on with that command or
    data, as a device that hung for a while does; silence for good never does.
    """

    seconds: float | None = None
    kind = "silence"

    def __str__(self) -> str:
        return "silence" if self.seconds is None else f"silence for {self.seconds:g} s"


@attrs.frozen
class Unsolicited:
    """The device prints ``data`` on its own.

    At a command, it comes before the answer; at an offset, at once (in data
    mode, for the Serial Modem); after seconds, at that moment. With
    ``mid_line`` it is put in the middle of the device's next output instead.
    """

    data: bytes
    mid_line: bool = False
    kind = "unsolicited"

    def __str__(self) -> str:
        where = " mid-line" if self.mid_line else ""
        return f"unsolicited {self.data!r}{where}"


@attrs.frozen
class Latency:
    """The device's next ``answers`` answers each come ``seconds`` late (``None``: all of them)."""

    seconds: float
    answers: int | None = 1
    kind = "latency"

    def __attrs_post_init__(self) -> None:
        if self.seconds < 0 or (self.answers is not None and self.answers < 1):
            raise ValueError(f"latency needs seconds >= 0 and answers >= 1, not {self}")

    def __str__(self) -> str:
        many = "every answer" if self.answers is None else f"{self.answers} answer(s)"
        return f"{self.seconds:g} s latency on {many}"


Action = ErrorReply | Reboot | Silence | Unsolicited | Latency

DEVICE_FAULT_KINDS: Sequence[str] = ("error", "reboot", "silence", "unsolicited", "latency")
"""The kinds of action, as :attr:`DeviceFault.kind` names them."""
DEVICE_FAULT_TRIGGERS: Sequence[str] = ("command", "offset", "time")
"""The kinds of trigger :func:`random_device_fault` can draw."""


@attrs.frozen
class DeviceFault:
    """``action`` when ``trigger`` happens, ``times`` times in all."""

    trigger: Trigger
    action: Action
    times: int = 1

    def __attrs_post_init__(self) -> None:
        if self.times < 1:
            raise ValueError(f"a fault fires at least once, not {self.times} times")

    @property
    def kind(self) -> str:
        return self.action.kind

    def __str__(self) -> str:
        again = "" if self.times == 1 else f" ({self.times} times)"
        return f"{self.action} at {self.trigger}{again}"


@attrs.frozen
class FiredDeviceFault:
    """A device fault that took effect: its kind, where (command, offset, time) and what."""

    kind: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}" + (f": {self.detail}" if self.detail else "")


# --- the faults of one device --------------------------------------------------------------------


def _fault_list(faults: Iterable[DeviceFault]) -> list[DeviceFault]:
    """``plan``'s converter (typed: ``list`` itself makes ``plan=[fault]`` a type error)."""
    return list(faults)


@attrs.define
class DeviceFaults:
    """Faults every emulated device has; each emulator's ``*Faults`` adds its own knobs.

    ``plan`` is the list of :class:`DeviceFault` (append to it, or :meth:`add`,
    at any time); ``silent`` makes the device stop answering (and stop acting
    on what it receives) until cleared; ``unsolicited`` lines are printed at
    the device's idle moments, one per moment (which moments is the
    emulator's business, as on the real device). :attr:`fired` records what
    took effect. Replace a device's faults with a fresh value to heal it.
    """

    plan: list[DeviceFault] = attrs.field(factory=list, converter=_fault_list, kw_only=True)
    silent: bool = attrs.field(default=False, kw_only=True)
    unsolicited: list[bytes] = attrs.field(factory=list, kw_only=True)
    fired: list[FiredDeviceFault] = attrs.field(factory=list, init=False)
    """What took effect, in order."""
    _seen: dict[int, int] = attrs.field(factory=dict, init=False, repr=False)
    _left: dict[int, int] = attrs.field(factory=dict, init=False, repr=False)
    _errors: list[tuple[ErrorReply, str]] = attrs.field(factory=list, init=False, repr=False)
    _latency: list[tuple[float, int | None]] = attrs.field(factory=list, init=False, repr=False)
    _mid_line: list[bytes] = attrs.field(factory=list, init=False, repr=False)

    def add(self, *faults: DeviceFault) -> None:
        self.plan.extend(faults)

    def record(self, kind: str, where: str, detail: str = "") -> None:
        """Note a fault that took effect (emulators record their own knobs' firings too)."""
        self.fired.append(FiredDeviceFault(kind, where, detail))

    def _fire(self, index: int) -> bool:
        left = self._left.get(index, self.plan[index].times)
        if left <= 0:
            return False
        self._left[index] = left - 1
        return True

    def on_command(self, name: str, *, shown: str | None = None) -> list[tuple[DeviceFault, str]]:
        """The faults the command ``name`` triggers (counted and spent here).

        ``shown`` is how the command appears in the record (default: ``name``).
        """
        hits = []
        upper = name.upper()
        for index, fault in enumerate(self.plan):
            trigger = fault.trigger
            if not isinstance(trigger, OnCommand) or not upper.startswith(trigger.prefix.upper()):
                continue
            seen = self._seen.get(index, 0) + 1
            self._seen[index] = seen
            if seen >= trigger.number and self._fire(index):
                hits.append((fault, f"{trigger} ({name if shown is None else shown})"))
        hits += [(DeviceFault(OnCommand(), error), where) for error, where in self._errors]
        self._errors.clear()
        return hits

    def next_offset(self, start: int, end: int) -> int | None:
        """The first offset in ``[start, end)`` at which a live fault waits."""
        waiting = [
            fault.trigger.offset
            for index, fault in enumerate(self.plan)
            if isinstance(fault.trigger, AtOffset)
            and start <= fault.trigger.offset < end
            and self._left.get(index, fault.times) > 0
        ]
        return min(waiting, default=None)

    def on_offset(self, offset: int) -> list[tuple[DeviceFault, str]]:
        """The faults waiting at ``offset`` (spent here), and errors due from a timer."""
        hits = [
            (fault, str(fault.trigger))
            for index, fault in enumerate(self.plan)
            if isinstance(fault.trigger, AtOffset)
            and fault.trigger.offset == offset
            and self._fire(index)
        ]
        hits += [(DeviceFault(AtOffset(offset), error), where) for error, where in self._errors]
        self._errors.clear()
        return hits

    def timed(self) -> list[tuple[int, DeviceFault]]:
        """The time-triggered faults, with their index (for the runtime to arm once each)."""
        return [
            (index, fault)
            for index, fault in enumerate(self.plan)
            if isinstance(fault.trigger, AfterSeconds)
        ]

    def take_timed(self, index: int) -> bool:
        """Spend one firing of the time-triggered fault ``index``; whether it had any left."""
        return self._fire(index)

    # The runtime's pending effects, kept here so that replacing the faults heals the device.

    def defer_error(self, error: ErrorReply, where: str) -> None:
        """An error due (from a timer): the next command or offset gets it."""
        self._errors.append((error, where))

    def add_latency(self, latency: Latency) -> None:
        self._latency.append((latency.seconds, latency.answers))

    def take_latency(self) -> float:
        """Seconds of injected latency the next answer takes (and one answer of each spent)."""
        total = sum(seconds for seconds, _ in self._latency)
        self._latency = [
            (seconds, None if left is None else left - 1)
            for seconds, left in self._latency
            if left is None or left > 1
        ]
        return total

    def add_mid_line(self, data: bytes) -> None:
        self._mid_line.append(data)

    def splice(self, data: bytes) -> bytes:
        """``data`` with the pending mid-line insertions put in its middle."""
        if not self._mid_line or len(data) < 2:
            return data
        inserted, self._mid_line = b"".join(self._mid_line), []
        middle = len(data) // 2
        return data[:middle] + inserted + data[middle:]
