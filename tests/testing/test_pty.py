"""Serving an emulator on a pseudo-terminal, paced like the UART it models."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Iterator

import pytest

from aiodfu.testing.emulator import Emulator
from aiodfu.testing.pty import PtyStream, serve_pty
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel
from aiodfu.transports.serial import open_serial
from tests.late_clock import LateClock, pace_by

PAYLOAD = bytes(range(256)) * 9  # 2304 bytes: 0.2 s of wire time at 115200 baud 8N1


class Talker(Emulator):
    """Sends PAYLOAD as soon as it hears anything, then echoes nothing more."""

    @property
    def image(self) -> bytes | None:
        return None

    async def serve(self, stream: ByteStream) -> None:
        await stream.read()
        await stream.write(PAYLOAD)
        await asyncio.Event().wait()


async def test_a_paced_pty_never_delivers_before_the_wire_time() -> None:
    model = LinkModel(baud=115200)
    async with serve_pty(Talker(), model=model) as path:
        port = await open_serial(path, 115200, rtscts=False)
        loop = asyncio.get_running_loop()
        await port.write(b"go")
        started = loop.time()
        received = b""
        while len(received) < len(PAYLOAD):
            received += await asyncio.wait_for(port.read(), 5)
        elapsed = loop.time() - started
        await port.aclose()
    assert received == PAYLOAD
    assert elapsed >= model.wire_time(len(PAYLOAD)) * 0.95


LATE = 0.02
"""How late every pacer wake-up is in the busy-loop tests."""


@pytest.fixture
def late_clock(monkeypatch: pytest.MonkeyPatch) -> LateClock:
    return pace_by(monkeypatch, late=LATE)


FRAME = bytes(range(256)) * 4  # 1 KiB: 89 ms of wire at 115200 baud, 45 slices of 2 ms
MODEL = LinkModel(baud=115200)


@contextlib.contextmanager
def paced_pty() -> Iterator[tuple[PtyStream, int]]:
    """The emulator's end of a raw pty paced by MODEL, and the host's file descriptor."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        yield PtyStream(master, MODEL), slave
    finally:
        os.close(master)
        os.close(slave)


async def read_frame(stream: PtyStream) -> bytes:
    received = b""
    while len(received) < len(FRAME):
        received += await asyncio.wait_for(stream.read(), 5)
    return received


async def test_a_busy_loop_does_not_slow_the_modelled_wire_writing(late_clock: LateClock) -> None:
    # Seed 30291 of the fault campaign: late wake-ups were taken for pauses, each 2 ms slice
    # cost a wake-up, and a 1 KiB frame took about a second under load -- longer than the
    # device's own wait for the next command, so every Write arrived torn.
    with paced_pty() as (stream, host):
        await stream.write(FRAME)
        received = b""
        while len(received) < len(FRAME):  # all of it was written: these reads never block
            received += os.read(host, len(FRAME) - len(received))
    assert received == FRAME
    assert late_clock.now <= MODEL.wire_time(len(FRAME)) + 2 * LATE


async def test_a_busy_loop_does_not_slow_the_modelled_wire_reading(late_clock: LateClock) -> None:
    with paced_pty() as (stream, host):
        os.write(host, FRAME)  # handed over at once, as a host's write is
        assert await read_frame(stream) == FRAME
    assert late_clock.now <= MODEL.wire_time(len(FRAME)) + 2 * LATE


async def test_a_pause_on_the_line_banks_no_credit_for_what_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = pace_by(monkeypatch, late=0.0)
    with paced_pty() as (stream, host):
        os.write(host, FRAME[:23])  # exactly one 2 ms slice, read whole
        assert await asyncio.wait_for(stream.read(), 5) == FRAME[:23]
        clock.now += 1.0  # the line sits idle
        os.write(host, FRAME)
        started = clock.now
        assert await read_frame(stream) == FRAME
    # Paced from when it was seen, not from before the pause: never faster than the wire.
    assert clock.now - started >= MODEL.wire_time(len(FRAME)) * 0.99
