"""Notecard host-firmware retrieval: throughput against the modelled link and card.

For 115200 baud (AUX UART) and 9600 baud (main UART), base64 and binary
retrieval of the same image from an emulated card with a per-request
latency, over the same modelled in-memory UART, in the largest chunks the
card allows (8192 bytes) and, at 115200, in 1024-byte chunks. The chunk loop (first
``dfu.get`` to last verified byte) is timed and printed two ways:

* **of link rate** -- the image's own wire time (10 bits a byte) over the
  elapsed time: what fraction of the raw UART the firmware gets;
* **of best possible** -- the least time any host could take on that link
  and card: every byte the protocol must move for the loop (requests with
  their CRC field, JSON responses, COBS frames) at the baud rate, plus the
  card's latency for each request, over the elapsed time. Goal: >= 0.95.

Beside it, the same base64 loop driven through Blues' note-python
``Transaction`` on the same emulator and link model (through a small
synchronous adapter that gives it the ``write``/``read``/``in_waiting`` of a
pyserial port). Its 250 ms pause after every request segment, the last
included, hides behind the response's wire time with 8192-byte chunks and
shows with small ones.

Then the same over serial-over-I2C (``benchmarks/notecard_i2c.py``).
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import importlib.util
import threading
import time
from typing import Any

from aiodfu.core.progress import Phase, Progress
from aiodfu.notecard import NotecardSession
from aiodfu.notecard.protocol import MAX_CHUNK, encode_json, stamp_crc
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator
from aiodfu.testing.notecard.state import BinaryReply
from aiodfu.transports.memory import LinkModel, MemoryStream
from benchmarks.common import print_table

KIB = 1024
LATENCY = 0.02
"""Seconds the modelled card spends on each request."""


def _line(message: dict[str, Any]) -> int:
    return len(stamp_crc(encode_json(message), 0))


def exchanges(image: bytes, binary: bool, chunk: int = MAX_CHUNK) -> list[tuple[int, list[int]]]:
    """The chunk loop's requests: bytes of each request line, and of each part of its answer.

    An answer is its JSON line and, for ``card.binary.get``, the COBS frame after it.
    """
    scratch = NotecardEmulator(image=image)
    loop: list[tuple[int, list[int]]] = []
    for offset in range(0, len(image), chunk):
        request: dict[str, Any] = {"req": "dfu.get", "offset": offset, "length": chunk}
        if binary:
            request["binary"] = True
        reply = scratch.handle(request, 0.0)
        assert not isinstance(reply, BinaryReply)
        loop.append((_line(request) + 1, [_line(reply) + 2]))
        if binary:
            length = min(chunk, len(image) - offset)
            get: dict[str, Any] = {"req": "card.binary.get", "offset": 0, "length": length}
            frame = scratch.handle(get, 0.0)
            assert isinstance(frame, BinaryReply)
            loop.append((_line(get) + 1, [_line(frame.response) + 2, len(frame.frame) + 1]))
    return loop


def best_seconds(image: bytes, baud: int, binary: bool, chunk: int = MAX_CHUNK) -> float:
    """The least time the chunk loop can take on this link and card (see the module docs)."""
    loop = exchanges(image, binary, chunk)
    wire_bytes = sum(request + sum(answer) for request, answer in loop)
    return wire_bytes * 10 / baud + len(loop) * LATENCY


def _emulator(image: bytes, baud: int) -> NotecardEmulator:
    return NotecardEmulator(image=image, link_model=LinkModel(baud=baud), request_latency=LATENCY)


async def aiodfu_loop(image: bytes, baud: int, binary: bool, chunk: int = MAX_CHUNK) -> float:
    """Seconds from the chunk loop's start to its last verified byte."""
    marks: dict[str, float] = {}

    def on_progress(event: Progress) -> None:
        if event.phase is Phase.TRANSFERRING and "start" not in marks:
            marks["start"] = time.perf_counter()
        elif event.phase is Phase.VERIFYING:
            marks["end"] = time.perf_counter()

    emulator = _emulator(image, baud)
    card_session = NotecardSession(emulator.connect, baudrate=baud, binary=binary, chunk_size=chunk)
    async with emulator, card_session as card:
        result = await card.retrieve(progress=on_progress)
    if result.image.data != image:
        raise AssertionError("retrieved a different image")
    return marks["end"] - marks["start"]


class _ThreadedPort:
    """A blocking pyserial-like port over an in-memory stream, for a client in another thread."""

    def __init__(self, stream: MemoryStream, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._buffer = bytearray()
        self._lock = threading.Lock()

    async def pump(self) -> None:
        while True:
            data = await self._stream.read()
            with self._lock:
                self._buffer += data

    def write(self, data: bytes) -> None:
        asyncio.run_coroutine_threadsafe(self._stream.write(data), self._loop).result(10)

    @property
    def in_waiting(self) -> int:
        with self._lock:
            return len(self._buffer)

    def read(self, size: int = 1) -> bytes:
        with self._lock:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data


def _note_python_loop(port: _ThreadedPort, length: int, chunk: int) -> tuple[bytes, float]:
    note_python: Any = importlib.import_module("notecard.notecard")
    card = note_python.OpenSerial(port)
    started = time.perf_counter()
    image = bytearray()
    while len(image) < length:
        size = min(chunk, length - len(image))
        reply = card.Transaction({"req": "dfu.get", "offset": len(image), "length": size})
        image += base64.b64decode(reply["payload"])
    return bytes(image), time.perf_counter() - started


async def note_python_loop(image: bytes, baud: int, chunk: int = MAX_CHUNK) -> float:
    emulator = _emulator(image, baud)
    async with emulator:
        port = _ThreadedPort(emulator.connect(), asyncio.get_running_loop())
        pump = asyncio.get_running_loop().create_task(port.pump())
        try:
            got, wall = await asyncio.to_thread(_note_python_loop, port, len(image), chunk)
        finally:
            pump.cancel()
    if got != image:
        raise AssertionError("note-python retrieved a different image")
    return wall


async def run(quick: bool) -> None:
    size = 16 * KIB if quick else 64 * KIB
    image = random_firmware(size, seed=9)
    have_note_python = importlib.util.find_spec("notecard") is not None
    rows = []
    for baud, chunk in ((115_200, MAX_CHUNK), (115_200, 1024), (9_600, MAX_CHUNK)):
        link = size * 10 / baud
        where = f"{baud} baud, {chunk}-byte chunks"
        runs = [
            (f"aiodfu base64, {where}", False, await aiodfu_loop(image, baud, False, chunk)),
            (f"aiodfu binary, {where}", True, await aiodfu_loop(image, baud, True, chunk)),
        ]
        if have_note_python:
            wall = await note_python_loop(image, baud, chunk)
            runs.append((f"note-python base64, {where}", False, wall))
        else:
            rows.append((f"note-python, {where}", "not installed (aiodfu[test])", "", ""))
        for label, binary, wall in runs:
            best = best_seconds(image, baud, binary, chunk)
            rows.append(
                (
                    label,
                    f"{size / wall / KIB:.2f} KiB/s",
                    f"{link / wall:.3f}",
                    f"{best / wall:.3f}",
                )
            )
    print_table(
        f"Notecard retrieval loop, {size // KIB} KiB, card latency {LATENCY * 1000:.0f} ms/request",
        ["host, mode, link", "firmware rate", "of link rate", "of best possible"],
        rows,
    )

    from benchmarks import notecard_i2c  # it builds on this module

    await notecard_i2c.run(quick)
