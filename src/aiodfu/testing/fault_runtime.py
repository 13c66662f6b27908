"""The transport-neutral runtime of the shared device faults, for every emulator.

:class:`FaultRuntime` runs a device's :class:`~aiodfu.testing.device_faults.DeviceFaults`
whatever carries its bytes -- a byte stream
(:class:`~aiodfu.testing.faulty_device.FaultyDevice`) or a GATT server (the
BLE emulators): it takes commands and offsets through the plan
(:meth:`~FaultRuntime.take_command`, :meth:`~FaultRuntime.take_offset`),
records what fired, arms the time-triggered faults, keeps the reboot
bookkeeping (:attr:`~FaultRuntime.booting`), the latency and the silence,
and runs background work (:meth:`~FaultRuntime.later`).

What depends on the transport is a hook an emulator overrides:

* :meth:`~FaultRuntime.restart` -- what a reset loses, and the banner it prints
  (:meth:`~FaultRuntime.reboot` calls it; a device that resets its own way
  overrides :meth:`~FaultRuntime.fault_reboot` instead);
* :meth:`~FaultRuntime.announce` -- how the banner goes out once booted;
* :meth:`~FaultRuntime.fault_unsolicited` -- how an
  :class:`~aiodfu.testing.device_faults.Unsolicited` goes out (a line, a notification);
* :meth:`~FaultRuntime.wait_out` -- how a stall is waited out;
* :meth:`~FaultRuntime.timed_fault` -- where a time-triggered fault acts (a device
  with one ordered task hands it to that task).

``reboot_listeners`` are told (with the seconds away) of every reset, so
whatever serves the device over another transport can drop its link.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

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
from aiodfu.testing.faults import FaultVocabulary

log = logging.getLogger("aiodfu.testing")

__all__ = ["FaultRuntime", "Outcome"]

SILENCE_POLL = 0.05


class Outcome(enum.Enum):
    """What an emulator does after :meth:`FaultRuntime.take_command` (if no error came back)."""

    PROCEED = "proceed"
    """Act as usual (any unsolicited output or latency has been applied already)."""
    HALT = "halt"
    """The device rebooted or went silent: it does nothing more with this input."""


class FaultRuntime:
    """The shared device faults, whatever the transport; see the module documentation.

    A cooperative mixin: put it before the emulator base
    (``class MyDevice(FaultRuntime, Emulator)``); it takes ``faults``,
    ``reboot_time`` (how long a reset keeps the device away) and
    ``command_latency`` (how long it spends on every command) and passes the
    other keyword arguments on.
    """

    FAULT_VOCABULARY: ClassVar[FaultVocabulary]
    faults: DeviceFaults
    failures: list[BaseException]

    def __init__(
        self,
        *,
        faults: DeviceFaults,
        reboot_time: float = 0.0,
        command_latency: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.faults = faults
        self.reboot_time = reboot_time
        self.command_latency = command_latency
        self.reboot_listeners: list[Callable[[float], None]] = []
        """Called with the seconds away at every reset (another transport drops its link)."""
        self._boot_until = 0.0
        self._boot_generation = 0
        self._epoch: float | None = None
        self._armed_for: DeviceFaults | None = None
        self._armed: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()

    # --- hooks ---------------------------------------------------------------------------------

    def restart(self) -> tuple[bytes, float]:
        """Reset: lose the RAM state; return what the device prints once back, and when."""
        raise NotImplementedError(f"{type(self).__name__} does not restart this way")

    async def announce(self, banner: bytes) -> None:
        """Say the banner once booted (nowhere, unless the transport has a way)."""

    async def fault_reboot(self) -> None:
        """A planned :class:`Reboot`: :meth:`reboot` (a device with its own reset overrides)."""
        self.reboot()

    async def fault_unsolicited(self, action: Unsolicited) -> None:
        """A planned :class:`Unsolicited`: how the transport puts it out."""

    async def wait_out(self) -> None:
        """Wait while booting or silent (a stall)."""
        while self.unresponsive:  # noqa: ASYNC110 - ``silent`` is a plain attribute tests set
            await asyncio.sleep(SILENCE_POLL)

    async def timed_fault(self, fault: DeviceFault, where: str) -> None:
        """A time-triggered fault acts now (a device with one ordered task may queue it)."""
        await self.perform([(fault, where)])

    # --- state ---------------------------------------------------------------------------------

    @property
    def booting(self) -> bool:
        """A reset is in progress: the device neither hears nor speaks."""
        return time.monotonic() < self._boot_until

    @property
    def unresponsive(self) -> bool:
        """Booting or silent: input is lost and nothing is said."""
        return self.faults.silent or self.booting

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
        for listener in list(self.reboot_listeners):
            listener(seconds)
        return seconds

    # --- the planned faults --------------------------------------------------------------------

    async def take_command(self, name: str, *, shown: str | None = None) -> ErrorReply | Outcome:
        """The device takes the command ``name``: its faults act, then the answer's latency.

        An :class:`ErrorReply` comes back for the emulator to answer in its
        protocol; :attr:`Outcome.HALT` means it must not act on the command.
        ``shown`` is how the command appears in :attr:`DeviceFaults.fired`.
        """
        self.arm_timers()
        outcome = await self.perform(self.faults.on_command(name, shown=shown))
        if outcome is not Outcome.HALT:
            await self.answer_delay()
        return outcome

    def next_fault_offset(self, start: int, end: int) -> int | None:
        """Where in ``[start, end)`` a fault waits: the emulator stops its data there."""
        return self.faults.next_offset(start, end)

    async def take_offset(self, offset: int) -> ErrorReply | Outcome:
        """The transfer reached ``offset``: its faults act (latency pauses the data here)."""
        outcome = await self.perform(self.faults.on_offset(offset))
        if outcome is not Outcome.HALT:
            delay = self.faults.take_latency()
            if delay > 0:
                await asyncio.sleep(delay)
        return outcome

    async def perform(self, hits: list[tuple[DeviceFault, str]]) -> ErrorReply | Outcome:
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
                    await self.fault_reboot()
                    halted = True
                case Silence():
                    self._silence(action)
                    halted = halted or action.seconds is None
                    stalled = True
                case Unsolicited():
                    await self.fault_unsolicited(action)
                case Latency():
                    self.faults.add_latency(action)
        if halted:
            return Outcome.HALT
        if stalled:
            await self.wait_out()
        return error or Outcome.PROCEED

    def _silence(self, action: Silence) -> None:
        faults = self.faults
        faults.silent = True
        if action.seconds is not None:

            async def speak_again() -> None:
                faults.silent = False

            self.later(action.seconds, speak_again)

    def arm_timers(self) -> None:
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
            self.later(
                max(self._epoch + seconds - now, 0.0), self._timed_fire(faults, index, fault)
            )

    def _timed_fire(
        self, faults: DeviceFaults, index: int, fault: DeviceFault
    ) -> Callable[[], Awaitable[None]]:
        async def fire() -> None:
            if self.faults is not faults or not faults.take_timed(index):
                return  # healed (the faults were replaced) or spent
            where = str(fault.trigger)
            if isinstance(fault.action, ErrorReply):
                faults.defer_error(fault.action, where)  # the next command or offset gets it
            else:
                await self.timed_fault(fault, where)

        return fire

    def check_faults(self) -> None:
        """Refuse, with :class:`ValueError`, a planned fault this device cannot do."""
        for fault in self.faults.plan:
            self.FAULT_VOCABULARY.check(fault)

    # --- background work -----------------------------------------------------------------------

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

    def cancel_background(self) -> None:
        """Cancel the work :meth:`later` scheduled (at ``aclose``)."""
        for task in list(self._background):
            task.cancel()
