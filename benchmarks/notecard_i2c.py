"""Notecard retrieval over serial-over-I2C: throughput against the emulated bus at 100 and 400 kHz.

The same emulated card (20 ms per request) on an emulated I2C bus
(:class:`~aiodfu.testing.i2c.EmulatedI2cBus`: 9 clocks a byte, address bytes,
starts and stops), retrieved in 8192-byte chunks by aiodfu (its pacing:
:class:`~aiodfu.notecard.I2cPacing`, 253-byte transfers) and by Blues'
note-python ``OpenI2C`` (its own pacing: 5 ms before and 20 ms after every
write transfer, 50 ms between polls and once more after the poll that found
an answer; 255-byte transfers) over :class:`~aiodfu.testing.i2c.PeripheryI2c`.
The chunk loop (first ``dfu.get`` to last verified byte) is timed; printed:

* **of bus limit** -- the firmware's bytes per second over the bus's raw
  data rate (``clock / 9`` bytes a second): what fraction of the bus the
  firmware gets;
* **of best possible** -- the least time any host could take: every byte
  the loop must move in 255-byte transfers, one poll per answer, the
  card's latency per request, over the elapsed time;
* **bus busy** -- the fraction of the elapsed time the bus carried transfers.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import importlib.util
import time
from typing import Any

from aiodfu.core.progress import Phase, Progress
from aiodfu.notecard import open_i2c
from aiodfu.notecard.protocol import MAX_CHUNK
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel, PeripheryI2c
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, notecard_i2c_bus
from benchmarks.common import print_table
from benchmarks.notecard import KIB, LATENCY, exchanges

TRANSFER = 255


def best_seconds(image: bytes, model: I2cBusModel, binary: bool) -> float:
    """The least time the chunk loop can take on this bus and card (see the module docs)."""
    seconds = 0.0
    loop = exchanges(image, binary)
    for request, answer in loop:
        for start in range(0, request, TRANSFER):
            seconds += model.wire_time(min(TRANSFER, request - start) + 1, 0)
        for part in answer:
            seconds += model.wire_time(2, 2)  # the poll that finds it
            for start in range(0, part, TRANSFER):
                seconds += model.wire_time(2, min(TRANSFER, part - start) + 2)
    return seconds + len(loop) * LATENCY


def _setup(image: bytes, clock: int) -> tuple[NotecardEmulator, EmulatedI2cBus]:
    card = NotecardEmulator(image=image, request_latency=LATENCY)
    return card, notecard_i2c_bus(card, model=I2cBusModel(clock_hz=clock))


async def aiodfu_loop(image: bytes, clock: int, binary: bool) -> tuple[float, float]:
    """Seconds of the chunk loop, and of bus time during it."""
    marks: dict[str, float] = {}
    card, bus = _setup(image, clock)

    def on_progress(event: Progress) -> None:
        if event.phase is Phase.TRANSFERRING and "start" not in marks:
            marks["start"], marks["busy"] = time.perf_counter(), bus.busy_time
        elif event.phase is Phase.VERIFYING and "end" not in marks:
            marks["end"], marks["busy"] = time.perf_counter(), bus.busy_time - marks["busy"]

    async with card, open_i2c(bus, binary=binary) as session:
        result = await session.retrieve(progress=on_progress)
    if result.image.data != image:
        raise AssertionError("retrieved a different image")
    return marks["end"] - marks["start"], marks["busy"]


def _note_python_loop(
    periphery: PeripheryI2c, length: int, binary: bool
) -> tuple[bytes, float, float]:
    note_python: Any = importlib.import_module("notecard.notecard")
    helpers: Any = importlib.import_module("notecard.binary_helpers")
    card = note_python.OpenI2C(periphery, 0x17, 0)
    started, busy = time.perf_counter(), periphery.bus.busy_time
    image = bytearray()
    while len(image) < length:
        size = min(MAX_CHUNK, length - len(image))
        request = {"req": "dfu.get", "offset": len(image), "length": size}
        if binary:
            staged = card.Transaction({**request, "binary": True})
            image += helpers.binary_store_receive(card, 0, staged["length"])
        else:
            image += base64.b64decode(card.Transaction(request)["payload"])
    return bytes(image), time.perf_counter() - started, periphery.bus.busy_time - busy


async def note_python_loop(image: bytes, clock: int, binary: bool) -> tuple[float, float]:
    card, bus = _setup(image, clock)
    async with card:
        periphery = PeripheryI2c(bus, asyncio.get_running_loop())
        got, wall, busy = await asyncio.to_thread(_note_python_loop, periphery, len(image), binary)
    if got != image:
        raise AssertionError("note-python retrieved a different image")
    return wall, busy


async def run(quick: bool) -> None:
    size = 16 * KIB if quick else 64 * KIB
    image = random_firmware(size, seed=10)
    have_note_python = importlib.util.find_spec("notecard") is not None
    rows = []
    for clock in (100_000, 400_000):
        model = I2cBusModel(clock_hz=clock)
        limit = model.limit()
        assert limit is not None
        for binary in (False, True):
            mode = "binary" if binary else "base64"
            where = f"{clock // 1000} kHz, {mode}"
            runs = [(f"aiodfu, {where}", await aiodfu_loop(image, clock, binary))]
            if have_note_python:
                runs.append((f"note-python, {where}", await note_python_loop(image, clock, binary)))
            else:
                rows.append((f"note-python, {where}", "not installed (aiodfu[test])", "", "", ""))
            best = best_seconds(image, model, binary)
            for label, (wall, busy) in runs:
                rows.append(
                    (
                        label,
                        f"{size / wall / KIB:.2f} KiB/s",
                        f"{size / wall / limit:.3f}",
                        f"{best / wall:.3f}",
                        f"{busy / wall:.3f}",
                    )
                )
    print_table(
        f"Notecard retrieval over I2C, {size // KIB} KiB in {MAX_CHUNK}-byte chunks, "
        f"card latency {LATENCY * 1000:.0f} ms/request",
        ["host, bus, mode", "firmware rate", "of bus limit", "of best possible", "bus busy"],
        rows,
    )
