"""Adafruit nRF52 serial DFU: adafruit-nrfutil and aiodfu against the same emulated board.

Both tools update the same emulated Feather nRF52840 (real flash timing: 85 ms
per page erase, 41 us per word) served on a pseudo-terminal paced at 115200
baud, with the same package, in one run. Each is entered by a 1200-baud touch
(a pty has no DTR, adafruit-nrfutil's default). Two times per tool:

* **target side** -- from the bootloader taking the Start packet to the image
  activated (the emulator's own clock): the transfer as the board sees it;
* **wall** -- the whole command, including entering the bootloader and, for
  adafruit-nrfutil, its fixed sleep after activation.

Throughput is the image size over each time, as a fraction of the link's
limit (115200 baud, 8N1: 11 520 bytes/s).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from aiodfu.nrf5_legacy import Package, open_serial
from aiodfu.testing.images import random_firmware
from aiodfu.testing.nrf5_legacy_serial import FEATHER_NRF52840, AdafruitSerialEmulator
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkModel
from benchmarks.common import print_table

BAUD = 115200
LIMIT = BAUD / 10


def _target_side(board: AdafruitSerialEmulator) -> float:
    started = next(t for t, what in board.log if what == "start")
    done = next(t for t, what in board.log if what == "application activated")
    return done - started


async def _nrfutil(path: str, package: Path) -> None:
    tool = Path(sys.executable).parent / "adafruit-nrfutil"
    process = await asyncio.create_subprocess_exec(
        str(tool), "dfu", "serial", "--package", str(package), "-p", path,
        "-b", str(BAUD), "--singlebank", "--touch", "1200",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if b"Device programmed." not in output:
        raise RuntimeError(f"adafruit-nrfutil failed:\n{output.decode(errors='replace')}")


async def _aiodfu(path: str, package: Path, native_usb: bool) -> None:
    async with open_serial(path, BAUD, touch_1200=True, native_usb=native_usb) as session:
        await session.update(Package.load(package))


async def _one(tool: str, image: bytes, package: Path) -> tuple[float, float]:
    board = AdafruitSerialEmulator(
        FEATHER_NRF52840, application=random_firmware(4096, seed=1), link_model=LinkModel(BAUD)
    )
    async with serve_pty(board) as path:
        started = time.perf_counter()
        if tool == "adafruit-nrfutil":
            await _nrfutil(path, package)
        else:
            await _aiodfu(path, package, native_usb=tool.endswith("native USB)"))
        wall = time.perf_counter() - started
    if board.application != image:
        raise RuntimeError(f"{tool}: the emulated board does not hold the image")
    return _target_side(board), wall


async def run(quick: bool) -> None:
    size = 64 * 1024 if quick else 256 * 1024
    image = random_firmware(size, seed=2)
    with tempfile.TemporaryDirectory() as folder:
        package = Path(folder) / "app.zip"
        package.write_bytes(Package.from_images(application=image, device_type=0x0052).to_zip())
        rows = []
        for tool in ("adafruit-nrfutil", "aiodfu (native USB)", "aiodfu (UART-safe pacing)"):
            target, wall = await _one(tool, image, package)
            rows.append(
                (
                    tool,
                    f"{target:.2f}",
                    f"{size / target / LIMIT:.0%}",
                    f"{wall:.2f}",
                    f"{size / wall / LIMIT:.0%}",
                )
            )
    print_table(
        f"Adafruit nRF52 serial DFU, {size // 1024} KiB application, emulated Feather "
        f"nRF52840 on a {BAUD}-baud pty (limit {LIMIT / 1024:.1f} KiB/s)",
        ["tool", "target-side s", "of link limit", "wall s", "of link limit"],
        rows,
    )


if __name__ == "__main__":
    asyncio.run(run("--quick" in sys.argv))
