"""Serving an emulator on a pseudo-terminal, paced like the UART it models."""

from __future__ import annotations

import asyncio

from aiodfu.testing.emulator import Emulator
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel
from aiodfu.transports.serial import open_serial

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
