"""Legacy nRF5 BLE DFU: throughput on the modelled BLE link, and CPU per MiB.

* Throughput: an application image through bleak on Bumble, with the link
  modelled at connection intervals 7.5, 15 and 30 ms and 1, 4 and 6 packets per
  event, against the emulated SDK 11 bootloader (8-buffer pool, flash at
  100 kB/s). Measured over the data phase (first to last firmware byte) as a
  fraction of min(link capacity, flash rate), with the pool overflows seen
  (the goal: >= 0.9 and none). A flash-bound row shows the other limit.
* CPU seconds per MiB on an unpaced link, split by
  :class:`~benchmarks.cpu.CpuSplit`: aiodfu's host code apart from the
  emulated bootloader, from the BLE stacks (bleak, both Bumble host stacks,
  the emulated controller and radio) and from the shared runtime.
"""

from __future__ import annotations

import asyncio

from aiodfu.core.progress import Phase, Progress
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Nrf5LegacySession, Package
from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.images import random_firmware
from aiodfu.testing.nrf5_legacy import BootloaderConfig, Nrf5LegacyEmulator
from benchmarks.common import Stopwatch, print_table
from benchmarks.cpu import CpuSplit

MIB = 1 << 20
PACKET = 20
INTERVALS = (0.0075, 0.015, 0.030)
PACKETS_PER_EVENT = (1, 4, 6)
FLASH_RATE = 100_000.0
SLOW_FLASH = 8_000.0
POOL_BUFFERS = 8
"""The SDK 11 bootloader's receive pool (``RX_BUF_QUEUE_SIZE``)."""


async def update_once(
    size: int,
    model: BleLinkModel,
    flash_rate: float,
    prn: int = 4,
    window: int = 8,
    max_rate: float | None = None,
) -> tuple[float, float, int]:
    """One verified update: (data-phase seconds, process CPU seconds, pool overflows)."""
    firmware = random_firmware(size - size % PACKET, seed=size)
    marks: list[float] = []

    def on_progress(progress: Progress) -> None:
        # The first TRANSFERRING event (done == 0) comes just before the first packet.
        if progress.phase is Phase.TRANSFERRING:
            marks.append(asyncio.get_running_loop().time())

    async with BleRadio() as radio:
        target = Nrf5LegacyEmulator(radio, config=BootloaderConfig(flash_rate=flash_rate))
        await target.start()
        session = Nrf5LegacySession(
            target.bootloader_address,
            prn=prn,
            window=window,
            max_rate=max_rate,
            retry=RetryPolicy(attempts=4, initial_delay=0.05),
            client_options={"backend": BumbleBleakClient, "radio": radio, "link_model": model},
            scanner_options={"backend": BumbleBleakScanner, "radio": radio},
        )
        with Stopwatch() as watch:
            async with session:
                await session.update(
                    Package.from_images(application=firmware), progress=on_progress
                )
        await target.aclose()
    if target.application != firmware:
        raise AssertionError("the emulated target holds a different image")
    data_phase = marks[-1] - marks[0] if len(marks) > 1 else watch.wall
    return data_phase, watch.cpu, target.pool_overflows


async def throughput(quick: bool) -> None:
    seconds = 0.5 if quick else 2.0
    rows = []
    slow_flash: dict[float | None, tuple[float, int]] = {}
    cases: list[tuple[float, int, float, float | None]] = [
        (i, p, FLASH_RATE, None) for i in INTERVALS for p in PACKETS_PER_EVENT
    ]
    cases.append((0.0075, 6, SLOW_FLASH, None))  # flash slower than the link: receipts cannot tell
    cases.append((0.0075, 6, SLOW_FLASH, 0.9 * SLOW_FLASH))  # ... unless told the flash rate
    for interval, per_event, flash, max_rate in cases:
        model = BleLinkModel(connection_interval=interval, packets_per_event=per_event)
        capacity = model.capacity(PACKET)
        limit = min(capacity, flash)
        size = max(2000, int(limit * seconds))
        elapsed, _, overflows = await update_once(size, model, flash, max_rate=max_rate)
        # Packets leave at connection events: k events span k - 1 intervals of elapsed time,
        # so the link was busy for one interval more than was measured.
        rate = (size - size % PACKET) / (elapsed + interval)
        if flash == SLOW_FLASH:
            slow_flash[max_rate] = (rate / limit, overflows)
        rows.append(
            (
                f"{interval * 1000:g} ms x {per_event}"
                + (f", max_rate {max_rate / 1024:.1f} KiB/s" if max_rate else ""),
                f"{capacity / 1024:.2f}",
                f"{flash / 1024:.1f}",
                f"{rate / 1024:.2f}",
                f"{rate / limit:.2f}",
                overflows,
            )
        )
    print_table(
        "nRF5 legacy DFU throughput (20-byte packets, PRN 4, window 8)",
        ["link", "link KiB/s", "flash KiB/s", "measured KiB/s", "fraction of limit", "overflows"],
        rows,
    )
    print_table(
        "nRF5 legacy, flash slower than the link: the limit is the protocol's (arithmetic)",
        ["", "value"],
        flash_limit_rows(
            BleLinkModel(connection_interval=0.0075, packets_per_event=6).capacity(PACKET),
            SLOW_FLASH,
            slow_flash,
        ),
    )


def flash_limit_rows(
    link: float, flash: float, measured: dict[float | None, tuple[float, int]]
) -> list[tuple[str, str]]:
    """Why no host reaches 0.9 of a flash slower than the link without being told its rate.

    The SDK 11 transport (``dfu_transport_ble.c``) copies each packet into its
    receive pool and counts it -- and sends the receipt -- at once; the buffer is
    freed only when its flash write completes. Receipts, their timing and
    opcode 7 therefore report bytes *accepted*, the same for every flash rate,
    until the pool is full and the next packet is dropped (``10 03 06``). The
    one flash signal before the final ``10 03 01`` is that overflow. (The Start
    response's delay times the bank *erase*, a different operation from the
    writes, which the SoftDevice schedules between radio events: no write rate
    follows from it.)
    """
    pool = POOL_BUFFERS * PACKET
    fill = pool / (link - flash)
    rows = [
        ("receive pool", f"{POOL_BUFFERS} buffers x {PACKET} B = {pool} B"),
        ("link, flash", f"{link:,.0f} B/s, {flash:,.0f} B/s"),
        (
            "pool full at the link's rate after",
            f"{pool} / ({link:,.0f} - {flash:,.0f}) = {fill * 1000:.0f} ms, "
            f"{link * fill:,.0f} B accepted",
        ),
        ("what receipts count", "bytes accepted into the pool: the same for any flash rate"),
        (
            "zero overflows, flash rate not known",
            "never send faster than the slowest flash allowed for: 0.9 of an unknown rate "
            "is out of every host's reach",
        ),
    ]
    for max_rate, (fraction, overflows) in sorted(
        measured.items(), key=lambda item: item[0] or 0.0
    ):
        how = "default (halves its window at each overflow)"
        if max_rate is not None:
            how = f"max_rate {max_rate:,.0f} B/s (told the flash rate)"
        rows.append((f"measured, {how}", f"{fraction:.2f} of the flash, {overflows} overflows"))
    return rows


async def cpu(quick: bool) -> None:
    size = (128 if quick else 512) * 1024
    _, split = await CpuSplit.measure(lambda: update_once(size, BleLinkModel(), 1e12))
    print_table(
        f"nRF5 legacy DFU CPU s per MiB, {size // 1024} KiB, unpaced link (20-byte packets)",
        ["CPU s per MiB of", "value"],
        split.per_mib(size).rows(),
    )


async def run(quick: bool) -> None:
    await throughput(quick)
    await cpu(quick)


if __name__ == "__main__":
    asyncio.run(run(quick=True))
