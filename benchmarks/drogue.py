"""Drogue serial DFU: throughput against the modelled 115200-baud link, and CPU cost.

The protocol is strict lock-step with fixed 1024-byte frames: every block
costs one Command frame down and one Status frame up, whatever its size, and
an update of N blocks exchanges 2N + 7 frames in all -- the first Status,
N x (Write, Status), then Swap, the first Status of the new firmware, and
two Syncs, each with the Status that acknowledges it (over serial an echo
can follow a Sync the device could not decode, so one does not prove it).
Three figures are shown: the whole update against the raw link (payload
bytes at 115200 baud 8N1), the whole update against the protocol's limit
(2N + 7 frame times), and the data phase (first to last block) against its
lock-step limit (two frames per block). The difference between "two frames
per block" and "2N + 7 frames" is the protocol's, not the host's: with 16
blocks the seven extra frames alone cap the whole update at 32 / 39 = 0.821
of "two frames per block". So of the raw link, a block of B bytes can get at
most B / (2 x 1024) (0.473 for 968-byte blocks) and a whole update of N
blocks N x B / ((2N + 7) x 1024): the column
"protocol's most, of link" -- the host's share is "of protocol". A device
built with the reference default ``backoff_ms = 1000`` sleeps a second after
every block; that row shows why firmware meant for serial updates should use less.

Over BLE (drogue-device's GATT firmware service, bleak on Bumble with the
link modelled) every block is a write with response and a read of the
offset: two connection events at least, whatever the packets per event. The
data phase (first to last block) is shown against the raw link (blocks
streamed at ``packets_per_event`` per interval) and against that lock-step
limit. CPU per MiB is measured on an unpaced link and split by
:class:`~benchmarks.cpu.CpuSplit`: aiodfu's host code apart from the emulator,
the link model and both Bumble stacks (bleak and asyncio count as the shared runtime).
"""

from __future__ import annotations

import asyncio
import random

from aiodfu.core.progress import Phase, Progress
from aiodfu.drogue import DrogueSession, connect, serial_connector
from aiodfu.drogue.serial import FRAME_SIZE
from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.testing.drogue.gatt import DrogueGattHost
from aiodfu.transports.memory import LinkModel
from benchmarks.common import Stopwatch, print_table
from benchmarks.cpu import CpuSplit

MIB = 1 << 20
BAUD = 115_200
EXTRA_FRAMES = 7
"""Frames of a serial update beyond two per block: the first Status, Swap and the new
firmware's first Status, and two Syncs with their Statuses."""


async def update_once(
    image: bytes, *, baud: int | None, mtu: int, backoff_ms: int = 0
) -> tuple[float, float, float]:
    """Returns (wall seconds, process CPU seconds, data-phase seconds per block) of one
    verified update."""
    marks: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.phase is Phase.TRANSFERRING:
            marks.append(asyncio.get_running_loop().time())

    device = DrogueEmulator(
        image=b"\0" * 1024,
        mtu=mtu,
        backoff_ms=backoff_ms,
        partition_size=len(image) + MIB,
        link_model=LinkModel(baud=baud),
    )
    async with device, DrogueSession(serial_connector(device.connect)) as session:
        with Stopwatch() as watch:
            await session.update(image, version="2.0.0", progress=on_progress)
    if device.image[: len(image)] != image or device.boot_state is not BootMagic.BOOT:
        raise AssertionError("the emulated device holds a different or unconfirmed image")
    return watch.wall, watch.cpu, (marks[-1] - marks[0]) / (len(marks) - 1)


async def throughput(blocks: int, quick: bool) -> None:
    rows = []
    cases = [(968, 0), (512, 0), (64, 0)] + ([] if quick else [(968, 1000)])
    for mtu, backoff_ms in cases:
        block = min(mtu, 968) // 8 * 8
        count = blocks if backoff_ms == 0 else 4
        image = random.Random(mtu).randbytes(block * count)
        wall, _cpu, per_block = await update_once(image, baud=BAUD, mtu=mtu, backoff_ms=backoff_ms)
        frame_time = FRAME_SIZE * 10 / BAUD
        raw = len(image) * 10 / BAUD
        protocol = (2 * count + EXTRA_FRAMES) * frame_time
        rows.append(
            (
                f"mtu {mtu}, backoff {backoff_ms} ms",
                f"{len(image) // 1024} KiB",
                f"{len(image) / wall / 1024:.2f} KiB/s",
                f"{raw / wall:.3f}",
                f"{raw / protocol:.3f}",
                f"{protocol / wall:.3f}",
                f"{2 * frame_time / per_block:.3f}",
            )
        )
    print_table(
        f"Drogue serial update at {BAUD} baud (Write blocks, Swap, reboot, Sync)",
        [
            "device",
            "image",
            "rate",
            "of link",
            "protocol's most, of link",
            f"of protocol (2N+{EXTRA_FRAMES} frames)",
            "data phase (2 frames/block)",
        ],
        rows,
    )


async def cpu_cost(size: int) -> None:
    image = random.Random(7).randbytes(size)
    await update_once(image, baud=None, mtu=968)  # warm-up
    _, split = await CpuSplit.measure(lambda: update_once(image, baud=None, mtu=968))
    print_table(
        f"Drogue serial CPU s per MiB, {size / MIB:.2f} MiB, unthrottled in-memory link",
        ["CPU s per MiB of", "value"],
        split.per_mib(size).rows(),
    )


async def gatt_update_once(image: bytes, model: BleLinkModel) -> tuple[float, float]:
    """One verified BLE update: (data-phase bytes per second, process CPU seconds of it all)."""
    marks: list[tuple[float, int]] = []

    def on_progress(progress: Progress) -> None:
        if progress.phase is Phase.TRANSFERRING:
            marks.append((asyncio.get_running_loop().time(), progress.done))

    device = DrogueEmulator(image=b"\0" * 1024, partition_size=len(image) + MIB)
    async with BleRadio() as radio, DrogueGattHost(device, radio) as host:
        await host.start()
        client = {"backend": BumbleBleakClient, "radio": radio, "link_model": model}
        with Stopwatch() as watch:
            async with connect(host.address, client_options=client) as session:
                await session.update(image, version="2.0.0", progress=on_progress)
            await host.idle()
    if device.image[: len(image)] != image or device.boot_state is not BootMagic.BOOT:
        raise AssertionError("the emulated device holds a different or unconfirmed image")
    (start, first), (end, last) = marks[0], marks[-1]
    return (last - first) / (end - start), watch.cpu


async def gatt_throughput(quick: bool) -> None:
    seconds = 0.5 if quick else 2.0
    rows = []
    cases = [(0.0075, 6, 247), (0.015, 6, 247), (0.030, 6, 247), (0.0075, 6, 23)]
    for interval, per_event, att_mtu in cases:
        model = BleLinkModel(connection_interval=interval, packets_per_event=per_event, mtu=att_mtu)
        block = min(64, att_mtu - 3) // 8 * 8
        lock_step = block / (2 * interval)
        blocks = max(16, int(lock_step * seconds) // block)
        image = random.Random(blocks).randbytes(block * blocks)
        rate, _cpu = await gatt_update_once(image, model)
        rows.append(
            (
                f"{interval * 1000:g} ms x {per_event}, ATT MTU {att_mtu}",
                f"{block} B",
                f"{rate / 1024:.2f} KiB/s",
                f"{rate / model.capacity(block):.3f}",
                f"{rate / lock_step:.3f}",
            )
        )
    print_table(
        "Drogue BLE update (GATT firmware service, device mtu 64)",
        ["link", "block", "data rate", "of link limit", "of lock-step limit"],
        rows,
    )


async def gatt_cpu_cost(size: int) -> None:
    image = random.Random(8).randbytes(size)
    _, split = await CpuSplit.measure(lambda: gatt_update_once(image, BleLinkModel(mtu=247)))
    print_table(
        f"Drogue BLE CPU s per MiB, {size // 1024} KiB, unpaced link (64-byte blocks)",
        ["CPU s per MiB of", "value"],
        split.per_mib(size).rows(),
    )


async def run(quick: bool) -> None:
    await throughput(16 if quick else 64, quick)
    await cpu_cost(MIB // 4 if quick else MIB)
    await gatt_throughput(quick)
    await gatt_cpu_cost(64 * 1024 if quick else 256 * 1024)


def serial_only(quick: bool = True) -> None:
    """The serial table alone (``from benchmarks.drogue import serial_only``)."""
    asyncio.run(throughput(16 if quick else 64, quick))
