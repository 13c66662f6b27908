"""Shared pieces for the Drogue tests: fast timeouts, images, a scripted device."""

from __future__ import annotations

import asyncio
import random

import attrs

from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue import DrogueSession, Timeouts, serial_connector
from aiodfu.drogue.protocol import postcard
from aiodfu.drogue.protocol.messages import Command, Status
from aiodfu.drogue.serial import FRAME_SIZE, FrameReader
from aiodfu.testing.drogue import DrogueEmulator
from aiodfu.transports.memory import MemoryLink, MemoryStream

FAST_TIMEOUTS = attrs.evolve(
    Timeouts(),
    connect=1.0,
    status=1.0,
    send=1.0,
    reboot=2.0,
    resync_gap=0.02,
    reconnect_pause=0.01,
    gatt_operation=0.5,
    offset_settle=0.3,
    offset_poll_interval=0.005,
    gatt_reset=0.3,
)
FAST_RETRY = RetryPolicy(attempts=6, initial_delay=0.005, max_delay=0.02)
NO_RETRY = RetryPolicy(attempts=1)

OLD = random.Random(1).randbytes(6000)
NEW = random.Random(2).randbytes(9000)  # a multiple of 8: what the device holds is NEW itself
OLD_VERSION = b"0.1.0"
NEW_VERSION = b"0.2.0"


def emulator(**options: object) -> DrogueEmulator:
    """A device running OLD, with the updater's pauses and timeouts shortened for tests."""
    options.setdefault("image", OLD)
    options.setdefault("version", OLD_VERSION)
    options.setdefault("backoff_ms", 0)
    options.setdefault("timeout_ms", 300)
    options.setdefault("watchdog_time", 0.01)
    return DrogueEmulator(**options)  # type: ignore[arg-type]


def session_for(connector, **options) -> DrogueSession:  # type: ignore[no-untyped-def]
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    return DrogueSession(serial_connector(connector), **options)


class ScriptedDevice:
    """A device that sends the given frames in turn, one per command it reads, then stays silent.

    ``frames`` items are Status values (encoded, stale tail added) or raw bytes (sent as they
    are: malformed frames, after which it waits ``device_timeout`` for nothing). The commands
    it received are kept in ``commands``.
    """

    device_timeout = 0.1

    def __init__(self, frames: list[Status | bytes]) -> None:
        self.frames = frames
        self.commands: list[Command] = []
        self._tasks: list[asyncio.Task[None]] = []

    def connect(self) -> MemoryStream:
        link = MemoryLink()
        self._tasks.append(asyncio.get_running_loop().create_task(self._serve(link)))
        return link.host

    async def _serve(self, link: MemoryLink) -> None:
        frames = FrameReader(link.device)
        for item in self.frames:
            if isinstance(item, Status):
                body = postcard.encode(item)
                await link.device.write(body + b"\xa5" * (FRAME_SIZE - len(body)))
                self.commands.append(postcard.decode_command(await frames.read_frame()))
            else:  # a frame the host cannot answer: the device times out, then goes on
                await link.device.write(item)
                await asyncio.sleep(self.device_timeout)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
