"""Serial Modem AT DFU: throughput against the modelled link, CPU cost, and concurrency.

* Throughput: a 1 MiB application image over a paced link (8N1) against an
  emulator with a per-command latency, as a fraction of the link's limit
  (payload wire time / elapsed), and -- where the emulator also models flash
  writes that pause reception -- as a fraction of that device's own limit.
* CPU seconds per MiB on an unthrottled in-memory link (host and emulator
  share the process, so this is the sum of both).
* 50 concurrent sessions against 50 emulators in one process: every image
  verified, and CPU per session compared with a single session's.
"""

from __future__ import annotations

import asyncio

import attrs

from aiodfu.serial_modem import SerialModemSession, UpdateType
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkModel
from benchmarks.common import Stopwatch, print_table

MIB = 1 << 20
CHUNK = 4096
DATAMODE_BUFFER = 4096


@attrs.frozen
class Device:
    """A modelled device: what it costs per command and per flash flush."""

    name: str
    command_latency: float
    flash_write_rate: float | None


REALISTIC = Device("latency 5 ms", 0.005, None)
WITH_FLASH = Device("latency 5 ms + flash 200 kB/s", 0.005, 200_000.0)


def make_image(size: int, seed: int = 1) -> bytes:
    return build_mcuboot_image(random_firmware(size - 0x200 - 40, seed=seed))


async def update_once(
    image: bytes, baud: int | None, device: Device, chunk_size: int = CHUNK
) -> tuple[float, float]:
    """Returns (elapsed wall seconds, process CPU seconds) of one verified update."""
    emulator = SerialModemEmulator(
        link_model=LinkModel(baud=baud, rx_buffer=4096, tx_buffer=4096),
        command_latency=device.command_latency,
        flash_write_rate=device.flash_write_rate,
        datamode_buffer=DATAMODE_BUFFER,
        slot_size=len(image) + MIB,
    )
    session = SerialModemSession(emulator.connect, baudrate=baud, chunk_size=chunk_size)
    async with emulator, session:
        with Stopwatch() as watch:
            await session.update(image, update_type=UpdateType.APPLICATION)
    if emulator.applied.get(0) != image:
        raise AssertionError("the emulated device holds a different image")
    return watch.wall, watch.cpu


def device_limit(size: int, baud: int, device: Device) -> float:
    """Best possible seconds: the wire time plus the flash pauses during which RX stops."""
    wire = size * 10 / baud
    if device.flash_write_rate is None:
        return wire
    return wire + size / device.flash_write_rate


async def throughput(size: int) -> None:
    image = make_image(size)
    rows = []
    for baud, device, chunk_size in (
        (115_200, REALISTIC, CHUNK),
        (115_200, WITH_FLASH, CHUNK),
        (1_000_000, REALISTIC, CHUNK),
        (1_000_000, REALISTIC, 4 * CHUNK),
        (1_000_000, WITH_FLASH, CHUNK),
    ):
        wall, _cpu = await update_once(image, baud, device, chunk_size)
        wire = len(image) * 10 / baud
        rows.append(
            (
                f"{baud} baud, {device.name}",
                chunk_size,
                f"{len(image) / wall / 1024:.1f} KiB/s",
                f"{wire / wall:.3f}",
                f"{device_limit(len(image), baud, device) / wall:.3f}",
            )
        )
    print_table(
        f"Serial Modem application update, {len(image) / MIB:.2f} MiB",
        ["link and device", "chunk", "payload rate", "of link limit", "of device limit"],
        rows,
    )


async def cpu_and_concurrency(size: int, sessions: int) -> None:
    image = make_image(size)
    await update_once(image, None, Device("unthrottled", 0.0, None))  # warm-up
    _wall, single_cpu = await update_once(image, None, Device("unthrottled", 0.0, None))

    async def one(seed: int) -> None:
        await update_once(image, None, Device("unthrottled", 0.0, None))

    with Stopwatch() as watch:
        await asyncio.gather(*(one(seed) for seed in range(sessions)))
    per_session = watch.cpu / sessions
    print_table(
        f"Serial Modem CPU cost, {len(image) / MIB:.2f} MiB per update, unthrottled link",
        ["measure", "value"],
        [
            ("CPU s per MiB, one session (host + emulator)", f"{single_cpu / (size / MIB):.4f}"),
            (f"{sessions} concurrent sessions, all verified: wall s", f"{watch.wall:.2f}"),
            ("CPU s per session, concurrent", f"{per_session:.4f}"),
            ("concurrent / single CPU per session", f"{per_session / single_cpu:.3f}"),
        ],
    )


async def run(quick: bool) -> None:
    size = MIB // 4 if quick else MIB
    await throughput(size)
    await cpu_and_concurrency(size, 50)
