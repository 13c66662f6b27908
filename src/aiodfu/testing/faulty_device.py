"""The device side of the shared faults, written once for every emulator on a byte stream.

:class:`FaultyDevice` is the :class:`~aiodfu.testing.emulator.Emulator` base
that carries :class:`~aiodfu.testing.device_faults.DeviceFaults`: it owns how
a device goes silent, prints unsolicited lines, reboots (input lost while it
is away, then its banner) and answers late, and it runs the planned faults
(:class:`~aiodfu.testing.device_faults.DeviceFault`) -- their triggers, their
timers and the record of what fired. An emulator supplies what is its own:

* :meth:`FaultyDevice.restart` -- what a reset loses, and the banner it prints;
* where its idle moments are (it calls :meth:`FaultyDevice.idle` there);
* what an :class:`~aiodfu.testing.device_faults.ErrorReply` means in its
  protocol (:meth:`take_command` and :meth:`take_offset` hand it back);
* its ``FAULT_VOCABULARY``.

It reads through :meth:`receive` (or waits out with :meth:`sit_out`) and
writes through :meth:`send`, and that is all it takes.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar

from aiodfu.core.errors import LinkLostError
from aiodfu.testing.device_faults import (
    DeviceFault,
    DeviceFaults,
    ErrorReply,
    Latency,
    Reboot,
    Silence,
    Unsolicited,
)
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.faults import FaultVocabulary
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing")

__all__ = ["FaultyDevice", "Outcome"]

_SILENCE_POLL = 0.05


class Outcome(enum.Enum):
    """What an emulator does after :meth:`FaultyDevice.take_command` (if no error came back)."""

    PROCEED = "proceed"
    """Act as usual (any unsolicited line or latency has been applied already)."""
    HALT = "halt"
    """The device rebooted or went silent: it does nothing more with this input."""


class FaultyDevice(Emulator):
    """An emulated device with the shared faults; see the module documentation.

    ``reboot_time`` is how long a reset keeps the device away (input arriving
    meanwhile is lost), ``command_latency`` how long it spends on every
    command before answering.
    """

    FAULT_VOCABULARY: ClassVar[FaultVocabulary]
    faults: DeviceFaults

    def __init__(
        self,
        *,
        faults: DeviceFaults,
        link_model: LinkModel | None = None,
        reboot_time: float = 0.0,
        command_latency: float = 0.0,
    ) -> None:
        super().__init__(link_model=link_model)
        self.faults = faults
        self.reboot_time = reboot_time
        self.command_latency = command_latency
        self._stream: ByteStream | None = None
        self._boot_until = 0.0
        self._boot_generation = 0
        self._epoch: float | None = None
        self._armed_for: DeviceFaults | None = None
        self._armed: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()

    # --- what an emulator provides -------------------------------------------------------------

    @abc.abstractmethod
    def restart(self) -> tuple[bytes, float]:
        """Reset: lose the RAM state; return what the device prints once back, and when."""

    async def announce(self, banner: bytes) -> None:
        """Print the banner once booted (an emulator may add an idle moment after it)."""
        await self.send(banner)

    # --- state ---------------------------------------------------------------------------------

    @property
    def booting(self) -> bool:
        """A reset is in progress: the device neither hears nor speaks."""
        return time.monotonic() < self._boot_until

    @property
    def unresponsive(self) -> bool:
        """Booting or silent: input is lost and nothing is said."""
        return self.faults.silent or self.booting

    # --- output and input ----------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Write to the host (nothing while unresponsive), with any mid-line insertion."""
        if not data or self._stream is None or self.unresponsive:
            return
        await self._stream.write(self.faults.splice(data))

    async def idle(self) -> None:
        """An idle moment of the device's output: one queued unsolicited line goes out."""
        if self.faults.unsolicited and self._stream is not None and not self.unresponsive:
            await self.send(self.faults.unsolicited.pop(0))

    async def receive(self, stream: ByteStream, max_bytes: int = 65536) -> bytes:
        """The next bytes the device hears; what arrives while it is unresponsive is lost."""
        while True:
            data = await stream.read(max_bytes)
            if not self.unresponsive:
                return data

    async def sit_out(self, stream: ByteStream) -> None:
        """Wait while the device is booting or silent, losing what arrives meanwhile."""
        while self.unresponsive:
            wait = max(self._boot_until - time.monotonic(), 0.0) or _SILENCE_POLL
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stream.read()

    async def answer_delay(self) -> None:
        """The time the device takes before an answer: ``command_latency`` plus injected latency."""
        delay = self.command_latency + self.faults.take_latency()
        if delay > 0:
            await asyncio.sleep(delay)

    # --- reboots -------------------------------------------------------------------------------

    def reboot(self) -> float:
        """Reset now: RAM state goes at once, input is lost until the banner; seconds away."""
        banner, seconds = self.restart()
        self._boot_generation += 1
        generation = self._boot_generation
        self._boot_until = time.monotonic() + seconds

        async def booted() -> None:
            if generation == self._boot_generation:
                await self.announce(banner)

        if banner:
            self.later(seconds, booted)
        return seconds

    # --- the planned faults --------------------------------------------------------------------

    async def take_command(self, name: str, *, shown: str | None = None) -> ErrorReply | Outcome:
        """The device takes the command ``name``: its faults act, then the answer's latency.

        An :class:`ErrorReply` comes back for the emulator to answer in its
        protocol; :attr:`Outcome.HALT` means it must not act on the command.
        ``shown`` is how the command appears in :attr:`DeviceFaults.fired`.
        """
        self._arm_timers()
        outcome = await self._perform(self.faults.on_command(name, shown=shown))
        if outcome is not Outcome.HALT:
            await self.answer_delay()
        return outcome

    def next_fault_offset(self, start: int, end: int) -> int | None:
        """Where in ``[start, end)`` a fault waits: the emulator stops its data there."""
        return self.faults.next_offset(start, end)

    async def take_offset(self, offset: int) -> ErrorReply | Outcome:
        """The transfer reached ``offset``: its faults act (latency pauses the data here)."""
        outcome = await self._perform(self.faults.on_offset(offset))
        if outcome is not Outcome.HALT:
            delay = self.faults.take_latency()
            if delay > 0:
                await asyncio.sleep(delay)
        return outcome

    async def _perform(self, hits: list[tuple[DeviceFault, str]]) -> ErrorReply | Outcome:
        """Do what the fired faults say; a stall (silence for a while) is waited out here, so
        the device then goes on with the command or data it stalled at, as a hung one would."""
        error: ErrorReply | None = None
        halted = stalled = False
        for fault, where in hits:
            action = fault.action
            self.faults.record(action.kind, where, str(action))
            match action:
                case ErrorReply():
                    error = error or action
                case Reboot():
                    self.reboot()
                    halted = True
                case Silence():
                    self._silence(action)
                    halted = halted or action.seconds is None
                    stalled = True
                case Unsolicited(mid_line=True):
                    self.faults.add_mid_line(action.data)
                case Unsolicited():
                    await self.send(action.data)
                case Latency():
                    self.faults.add_latency(action)
        if halted:
            return Outcome.HALT
        if stalled:
            await self._stall()
        return error or Outcome.PROCEED

    async def _stall(self) -> None:
        """Wait while silent; input arriving meanwhile is lost (read here by the serving task,
        else by it elsewhere)."""
        if asyncio.current_task() is self._task and self._stream is not None:
            await self.sit_out(self._stream)
        while self.unresponsive:  # noqa: ASYNC110 - ``silent`` is a plain attribute tests set
            await asyncio.sleep(_SILENCE_POLL)

    def _silence(self, action: Silence) -> None:
        faults = self.faults
        faults.silent = True
        if action.seconds is not None:

            async def speak_again() -> None:
                faults.silent = False

            self.later(action.seconds, speak_again)

    def _arm_timers(self) -> None:
        """Arm the time-triggered faults not armed yet (time counts from the first connection)."""
        now = time.monotonic()
        if self._epoch is None:
            self._epoch = now
        faults = self.faults
        if faults is not self._armed_for:
            self._armed_for, self._armed = faults, set()
        for index, fault in faults.timed():
            if index in self._armed:
                continue
            self._armed.add(index)
            seconds = getattr(fault.trigger, "seconds", 0.0)
            self.later(max(self._epoch + seconds - now, 0.0), self._timer(faults, index, fault))

    def _timer(
        self, faults: DeviceFaults, index: int, fault: DeviceFault
    ) -> Callable[[], Awaitable[None]]:
        async def fire() -> None:
            if self.faults is not faults or not faults.take_timed(index):
                return  # healed (the faults were replaced) or spent
            where = str(fault.trigger)
            if isinstance(fault.action, ErrorReply):
                faults.defer_error(fault.action, where)  # the next command or offset gets it
            else:
                await self._perform([(fault, where)])

        return fire

    # --- background work -----------------------------------------------------------------------

    def attach(self, stream: ByteStream) -> None:
        self.check_faults()
        super().attach(stream)
        self._arm_timers()

    def check_faults(self) -> None:
        """Refuse, with :class:`ValueError`, a planned fault this device cannot do."""
        for fault in self.faults.plan:
            self.FAULT_VOCABULARY.check(fault)

    def later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` after ``delay`` seconds, whatever connection is up then."""

        async def run() -> None:
            await asyncio.sleep(delay)
            try:
                await action()
            except LinkLostError:
                pass
            except Exception as exc:
                self.failures.append(exc)
                log.exception("%s failed in the background", type(self).__name__)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await super().aclose()
