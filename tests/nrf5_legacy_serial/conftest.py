"""Shared pieces: fast emulated boards, fast timeouts, packages and a session factory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Package, SerialDfuSession, SerialTimeouts
from aiodfu.testing.images import random_firmware
from aiodfu.testing.nrf5_legacy_serial import (
    FEATHER_NRF52832,
    FEATHER_NRF52840,
    AdafruitBoard,
    AdafruitSerialEmulator,
)

TIMEOUTS = SerialTimeouts().scaled(0.25)
RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)


def fast(board: AdafruitBoard, **changes: Any) -> AdafruitBoard:
    """The board with a flash a hundred times faster (timing relations kept)."""
    return attrs.evolve(
        board, page_erase=board.page_erase / 100, word_write=board.word_write / 100, **changes
    )


USB = fast(FEATHER_NRF52840)
UART = fast(FEATHER_NRF52832)
BOARDS = [pytest.param(USB, id="nrf52840-usb"), pytest.param(UART, id="nrf52832-uart")]

OLD_APP = random_firmware(6000, seed=1)
NEW_APP = random_firmware(21000, seed=2)
SOFTDEVICE = random_firmware(24576, seed=3)
BOOTLOADER = random_firmware(12000, seed=4)


def identity(board: AdafruitBoard) -> dict[str, Any]:
    """Init packet fields the Adafruit bootloader of ``board`` accepts for any part."""
    return {"device_type": 0x0052, "device_revision": board.device_revision}


def app_package(image: bytes = NEW_APP) -> Package:
    return Package.from_images(application=image, device_type=0x0052)


def session_for(emulator: AdafruitSerialEmulator, **options: Any) -> SerialDfuSession:
    options.setdefault("timeouts", TIMEOUTS)
    options.setdefault("retry", RETRY)
    options.setdefault("native_usb", emulator.board.native_usb)
    options.setdefault("enter", emulator.touch_1200)
    connector = options.pop("connector", emulator.connect)
    return SerialDfuSession(connector, **options)


@pytest.fixture
async def make_board() -> AsyncIterator[Callable[..., AdafruitSerialEmulator]]:
    made: list[AdafruitSerialEmulator] = []

    def make(board: AdafruitBoard = USB, **options: Any) -> AdafruitSerialEmulator:
        options.setdefault("application", OLD_APP)
        emulator = AdafruitSerialEmulator(board, **options)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        await emulator.aclose()
        assert not emulator.failures


def nrfutil() -> str:
    """adafruit-nrfutil next to this interpreter (the test extra installs it), or on PATH."""
    beside = Path(sys.executable).parent / "adafruit-nrfutil"
    found = str(beside) if beside.exists() else shutil.which("adafruit-nrfutil")
    if found is None:
        pytest.skip("adafruit-nrfutil is not installed")
    return found


def genpkg(tmp_path: Path, *args: str) -> Path:
    """Build a package with adafruit-nrfutil's own ``dfu genpkg``."""
    out = tmp_path / "package.zip"
    subprocess.run([nrfutil(), "dfu", "genpkg", *args, str(out)], check=True, capture_output=True)
    return out
