"""Drogue serial DFU: throughput against the modelled 115200-baud link, and CPU cost.

The protocol is strict lock-step with fixed 1024-byte frames: every block
costs one Command frame down and one Status frame up, whatever its size. So
two limits are shown: the raw link (payload bytes at 115200 baud 8N1) and
the protocol's own (two whole frames per block), each as the fraction of it
the update achieved. A device built with the reference default
``backoff_ms = 1000`` sleeps a second after every block; that row shows why
firmware meant for serial updates should use less.
"""

from __future__ import annotations

import random

from aiodfu.drogue import DrogueSession, serial_connector
from aiodfu.drogue.serial import FRAME_SIZE
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.transports.memory import LinkModel
from benchmarks.common import Stopwatch, print_table

MIB = 1 << 20
BAUD = 115_200


async def update_once(
    image: bytes, *, baud: int | None, mtu: int, backoff_ms: int = 0
) -> tuple[float, float]:
    """Returns (wall seconds, process CPU seconds) of one verified update."""
    device = DrogueEmulator(
        image=b"\0" * 1024,
        mtu=mtu,
        backoff_ms=backoff_ms,
        partition_size=len(image) + MIB,
        link_model=LinkModel(baud=baud),
    )
    async with device, DrogueSession(serial_connector(device.connect)) as session:
        with Stopwatch() as watch:
            await session.update(image, version="2.0.0")
    if device.image[: len(image)] != image or device.boot_state is not BootMagic.BOOT:
        raise AssertionError("the emulated device holds a different or unconfirmed image")
    return watch.wall, watch.cpu


async def throughput(blocks: int, quick: bool) -> None:
    rows = []
    cases = [(968, 0), (512, 0), (64, 0)] + ([] if quick else [(968, 1000)])
    for mtu, backoff_ms in cases:
        block = min(mtu, 968) // 8 * 8
        count = blocks if backoff_ms == 0 else 4
        image = random.Random(mtu).randbytes(block * count)
        wall, _cpu = await update_once(image, baud=BAUD, mtu=mtu, backoff_ms=backoff_ms)
        raw = len(image) * 10 / BAUD
        framed = count * 2 * FRAME_SIZE * 10 / BAUD
        rows.append(
            (
                f"mtu {mtu}, backoff {backoff_ms} ms",
                f"{len(image) // 1024} KiB",
                f"{len(image) / wall / 1024:.2f} KiB/s",
                f"{raw / wall:.3f}",
                f"{framed / wall:.3f}",
            )
        )
    print_table(
        f"Drogue serial update at {BAUD} baud (Write blocks, Swap, reboot, Sync)",
        ["device", "image", "payload rate", "of link limit", "of protocol limit"],
        rows,
    )


async def cpu_cost(size: int) -> None:
    image = random.Random(7).randbytes(size)
    await update_once(image, baud=None, mtu=968)  # warm-up
    wall, cpu = await update_once(image, baud=None, mtu=968)
    print_table(
        f"Drogue CPU cost, {size / MIB:.2f} MiB, unthrottled in-memory link",
        ["measure", "value"],
        [
            ("CPU s per MiB (host + emulator)", f"{cpu / (size / MIB):.4f}"),
            ("wall s", f"{wall:.3f}"),
        ],
    )


async def run(quick: bool) -> None:
    await throughput(16 if quick else 64, quick)
    await cpu_cost(MIB // 4 if quick else MIB)
