"""RainMaker host-MCU OTA: download throughput against the modelled UART, and CPU cost.

* Throughput: an image served by the loopback HTTP server, streamed by the
  emulated module as ``+HTTPCGET`` chunks over a paced 8N1 link, as a
  fraction of the UART's limit (payload wire time / elapsed). The framing
  (``+HTTPCGET:<n>,`` and CR LF per chunk) and the command exchange are the
  overhead; larger rx sizes mean fewer, larger chunks.
* CPU seconds per MiB on an unthrottled in-memory link, split by
  :class:`~benchmarks.cpu.CpuSplit`: aiodfu's host code apart from the
  emulated module, its HTTP client and the HTTP server (all ``aiodfu.testing``).
"""

from __future__ import annotations

from aiodfu.rainmaker import RainMakerSession
from aiodfu.testing.images import random_firmware
from aiodfu.testing.rainmaker import RainMakerEmulator
from aiodfu.transports.memory import LinkModel
from benchmarks.common import Stopwatch, print_table
from benchmarks.cpu import CpuSplit

MIB = 1 << 20


async def download_once(image: bytes, baud: int | None, rx_size: int) -> tuple[float, float]:
    """Returns (elapsed wall seconds, process CPU seconds) of one verified update."""
    emulator = RainMakerEmulator(serve_image=image, link_model=LinkModel(baud=baud), seed=1)
    installed: list[bytes] = []
    session = RainMakerSession(emulator.connect, baudrate=baud, rx_size=rx_size)
    async with emulator, session:
        with Stopwatch() as watch:
            await session.update(install=lambda received: installed.append(received.data))
    if installed != [image]:
        raise AssertionError("the host installed a different image")
    return watch.wall, watch.cpu


async def throughput(size: int) -> None:
    image = random_firmware(size, seed=2)
    rows = []
    for baud, rx_size in ((115_200, 2048), (115_200, 10240), (921_600, 10240)):
        wall, _cpu = await download_once(image, baud, rx_size)
        wire = size * 10 / baud
        rows.append(
            (
                f"{baud} baud",
                rx_size,
                f"{size / wall / 1024:.1f} KiB/s",
                f"{wire / wall:.3f}",
            )
        )
    print_table(
        f"RainMaker host-MCU download, {size / 1024:.0f} KiB",
        ["link", "rx size", "payload rate", "of UART limit"],
        rows,
    )


async def cpu(size: int) -> None:
    image = random_firmware(size, seed=3)
    await download_once(image, None, 10240)  # warm-up
    _, split = await CpuSplit.measure(lambda: download_once(image, None, 10240))
    print_table(
        f"RainMaker CPU s per MiB, {size / MIB:.2f} MiB, unthrottled link",
        ["CPU s per MiB of", "value"],
        split.per_mib(size).rows(),
    )


async def run(quick: bool) -> None:
    await throughput(64 * 1024 if quick else 256 * 1024)
    await cpu(MIB // 4 if quick else MIB)
