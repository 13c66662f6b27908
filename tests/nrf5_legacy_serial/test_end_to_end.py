"""Whole updates of the emulated Adafruit bootloader: every package kind, both boards, a pty."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from aiodfu.core.session import VerificationMethod
from aiodfu.nrf5_legacy import Package, open_serial
from aiodfu.testing.nrf5_legacy_serial import AdafruitBoard, AdafruitSerialEmulator
from aiodfu.testing.pty import serve_pty

from .conftest import (
    BOARDS,
    BOOTLOADER,
    NEW_APP,
    SOFTDEVICE,
    TIMEOUTS,
    USB,
    app_package,
    genpkg,
    identity,
    nrfutil,
    session_for,
)

MakeBoard = Callable[..., AdafruitSerialEmulator]


@pytest.mark.parametrize("board", BOARDS)
async def test_application_update_from_the_running_application(
    make_board: MakeBoard, board: AdafruitBoard
) -> None:
    emulator = make_board(board)
    assert emulator.running == "application"
    async with session_for(emulator) as session:
        result = await session.update(app_package())
    assert emulator.application == NEW_APP
    assert emulator.running == "application"
    assert result.verification.method is VerificationMethod.DEVICE_CRC
    assert result.image.data == NEW_APP
    assert emulator.chip.dropped_after_ack == 0


@pytest.mark.parametrize("board", BOARDS)
async def test_softdevice_and_bootloader_then_application(
    make_board: MakeBoard, board: AdafruitBoard
) -> None:
    emulator = make_board(board, in_bootloader=True)
    package = Package.from_images(
        softdevice=SOFTDEVICE, bootloader=BOOTLOADER, application=NEW_APP, **identity(board)
    )
    assert len(package.parts) == 2
    async with session_for(emulator) as session:
        result = await session.update(package)
    assert emulator.softdevice == SOFTDEVICE
    assert emulator.bootloader == BOOTLOADER
    assert emulator.application == NEW_APP
    assert result.attempts == 2  # one session per part, none restarted


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("kind", ["softdevice", "bootloader"])
async def test_softdevice_or_bootloader_alone(
    make_board: MakeBoard, board: AdafruitBoard, kind: str
) -> None:
    emulator = make_board(board, in_bootloader=True)
    image = SOFTDEVICE if kind == "softdevice" else BOOTLOADER
    package = Package.from_images(**{kind: image}, **identity(board))  # type: ignore[arg-type]
    async with session_for(emulator) as session:
        await session.update(package)
    assert getattr(emulator, kind) == image
    # single bank: the application area held the new image, so no application is valid
    assert emulator.application is None
    assert emulator.running == "bootloader"


async def test_dual_bank_keeps_the_application_through_a_bootloader_update(
    make_board: MakeBoard,
) -> None:
    import attrs

    board = attrs.evolve(USB, dual_bank=True)
    emulator = make_board(board, in_bootloader=True)
    old = emulator.application
    async with session_for(emulator) as session:
        await session.update(Package.from_images(bootloader=BOOTLOADER, **identity(board)))
    assert emulator.bootloader == BOOTLOADER
    assert emulator.application == old is not None
    async with session_for(emulator) as session:  # the app runs: the touch brings DFU back
        await session.update(app_package())
    assert emulator.application == NEW_APP


@pytest.mark.parametrize("board", BOARDS)
async def test_packages_written_by_adafruit_nrfutil_genpkg(
    make_board: MakeBoard, board: AdafruitBoard, tmp_path: Path
) -> None:
    (tmp_path / "sd.bin").write_bytes(SOFTDEVICE)
    (tmp_path / "bl.bin").write_bytes(BOOTLOADER)
    (tmp_path / "app.bin").write_bytes(NEW_APP)
    ident = ["--dev-type", "0x0052", "--dev-revision", str(board.device_revision)]
    system = genpkg(
        tmp_path,
        *ident,
        "--softdevice",
        str(tmp_path / "sd.bin"),
        "--bootloader",
        str(tmp_path / "bl.bin"),
    )
    system = system.rename(tmp_path / "system.zip")
    application = genpkg(tmp_path, *ident, "--application", str(tmp_path / "app.bin"))
    emulator = make_board(board)
    async with session_for(emulator) as session:
        await session.update(Package.load(system))
        await session.update(Package.load(application))
    assert (emulator.softdevice, emulator.bootloader) == (SOFTDEVICE, BOOTLOADER)
    assert emulator.application == NEW_APP


async def test_update_over_a_pty_entering_the_bootloader_by_a_1200_baud_touch(
    make_board: MakeBoard,
) -> None:
    emulator = make_board(USB)
    assert emulator.running == "application"
    async with (
        serve_pty(emulator) as path,
        open_serial(path, touch_1200=True, timeouts=TIMEOUTS) as session,
    ):
        result = await session.update(app_package())
    assert emulator.application == NEW_APP
    assert [what for _, what in emulator.log].count("1200-baud touch") == 1
    assert "went silent" in result.details["part1"]  # a pty cannot go away as USB does


async def test_adafruit_nrfutil_updates_the_pty_emulator(
    make_board: MakeBoard, tmp_path: Path
) -> None:
    """Fidelity: the vendor's own tool completes an update against the emulated board."""
    (tmp_path / "app.bin").write_bytes(NEW_APP)
    package = genpkg(tmp_path, "--dev-type", "0x0052", "--application", str(tmp_path / "app.bin"))
    emulator = make_board(USB)
    async with serve_pty(emulator) as path:
        # a pty has no DTR, so the tool must touch instead of its default DTR reset
        process = await asyncio.create_subprocess_exec(
            nrfutil(),
            "dfu",
            "serial",
            "--package",
            str(package),
            "-p",
            path,
            "-b",
            "115200",
            "--singlebank",
            "--touch",
            "1200",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert b"Device programmed." in output, output.decode(errors="replace")
    assert emulator.application == NEW_APP
