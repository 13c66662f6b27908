"""The device side of the shared faults on a byte stream, written once for every such emulator.

:class:`FaultyDevice` is the :class:`~aiodfu.testing.emulator.Emulator` base
that carries :class:`~aiodfu.testing.device_faults.DeviceFaults` over a byte
stream. The transport-neutral part -- the plan's triggers, its timers, the
record of what fired, reboots, latency and silence -- is
:class:`~aiodfu.testing.fault_runtime.FaultRuntime`, which the BLE emulators
use too; this class adds what a byte stream makes of it: a device that goes
silent loses what it reads, prints unsolicited lines (or splices them into
its next line), and prints its banner after a reboot. An emulator supplies
what is its own:

* :meth:`FaultyDevice.restart` -- what a reset loses, and the banner it prints;
* where its idle moments are (it calls :meth:`FaultyDevice.idle` there);
* what an :class:`~aiodfu.testing.device_faults.ErrorReply` means in its
  protocol (:meth:`~FaultRuntime.take_command` and :meth:`~FaultRuntime.take_offset`
  hand it back);
* its ``FAULT_VOCABULARY``.

It reads through :meth:`receive` (or waits out with :meth:`sit_out`) and
writes through :meth:`send`, and that is all it takes.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time

from aiodfu.testing.device_faults import DeviceFaults, Unsolicited
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.fault_runtime import SILENCE_POLL, FaultRuntime, Outcome
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

__all__ = ["FaultyDevice", "Outcome"]


class FaultyDevice(FaultRuntime, Emulator):
    """An emulated device with the shared faults on a byte stream; see the module documentation.

    ``reboot_time`` is how long a reset keeps the device away (input arriving
    meanwhile is lost), ``command_latency`` how long it spends on every
    command before answering.
    """

    def __init__(
        self,
        *,
        faults: DeviceFaults,
        link_model: LinkModel | None = None,
        reboot_time: float = 0.0,
        command_latency: float = 0.0,
    ) -> None:
        super().__init__(
            faults=faults,
            reboot_time=reboot_time,
            command_latency=command_latency,
            link_model=link_model,
        )
        self._stream: ByteStream | None = None

    # --- what an emulator provides -------------------------------------------------------------

    @abc.abstractmethod
    def restart(self) -> tuple[bytes, float]:
        """Reset: lose the RAM state; return what the device prints once back, and when."""

    async def announce(self, banner: bytes) -> None:
        """Print the banner once booted (an emulator may add an idle moment after it)."""
        await self.send(banner)

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
            wait = max(self._boot_until - time.monotonic(), 0.0) or SILENCE_POLL
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stream.read()

    # --- the byte stream's side of the planned faults ------------------------------------------

    async def fault_unsolicited(self, action: Unsolicited) -> None:
        if action.mid_line:
            self.faults.add_mid_line(action.data)
        else:
            await self.send(action.data)

    async def wait_out(self) -> None:
        """Wait while silent; input arriving meanwhile is lost (read here by the serving task,
        else by it elsewhere)."""
        if asyncio.current_task() is self._task and self._stream is not None:
            await self.sit_out(self._stream)
        await super().wait_out()

    # --- background work -----------------------------------------------------------------------

    def attach(self, stream: ByteStream) -> None:
        self.check_faults()
        super().attach(stream)
        self.arm_timers()

    async def aclose(self) -> None:
        self.cancel_background()
        await super().aclose()
