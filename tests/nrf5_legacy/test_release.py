"""However a session ends, the target is left where a fresh session can update it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aiodfu.nrf5_legacy import Package
from aiodfu.nrf5_legacy.protocol import OpCode
from aiodfu.testing import random_firmware
from aiodfu.testing.nrf5_legacy import BootloaderConfig, Mode, Nrf5LegacyEmulator, State
from tests.nrf5_legacy.conftest import FAST_FLASH, SessionFactory

MakeTarget = Callable[..., Any]
FIRMWARE = random_firmware(6000, seed=31)
PACKAGE = Package.from_images(application=FIRMWARE)
HANG_GUARD = 30.0


async def _cancel_when(update: asyncio.Task[Any], reached: Callable[[], bool]) -> None:
    """Cancel ``update`` once ``reached()`` holds; it must end with CancelledError."""
    async with asyncio.timeout(HANG_GUARD):
        while not reached():
            assert not update.done(), update
            await asyncio.sleep(0.001)
    update.cancel()
    done, _ = await asyncio.wait({update}, timeout=HANG_GUARD)
    assert done, "the cancelled update did not end"
    assert update.cancelled()


async def _fresh_update(make_session: SessionFactory, address: str, target: Any) -> None:
    new = random_firmware(3000, seed=32)
    async with make_session(address) as session:
        await session.update(Package.from_images(application=new))
    assert target.application == new


@pytest.mark.parametrize("when", ["erasing", "streaming", "validated"])
async def test_cancelled_mid_update_the_application_boots_and_a_fresh_session_updates(
    make_target: MakeTarget, make_session: SessionFactory, when: str
) -> None:
    old = random_firmware(900, seed=33)
    target: Nrf5LegacyEmulator = await make_target(
        mode="application",
        application=old,
        config=BootloaderConfig(flash_rate=FAST_FLASH, erase_time_per_kib=0.05),
    )
    reached = {
        "erasing": lambda: target.machine.state is State.ERASING,
        "streaming": lambda: target.machine.received >= 2000,
        "validated": lambda: target.machine.state is State.WAIT_ACTIVATE,
    }[when]
    session = make_session(target.address)
    async with session:
        await _cancel_when(asyncio.ensure_future(session.update(PACKAGE)), reached)
        assert target.mode is Mode.APPLICATION
        if when == "validated" and target.application == FIRMWARE:
            pass  # the cancel came after Activate & Reset: the new application runs
        else:
            # released: Reset ended the unfinished DFU, the old application runs again
            assert (Mode.BOOTLOADER, bytes([OpCode.RESET])) in target.control_point_log
            assert target.application == old
    await _fresh_update(make_session, target.address, target)


async def test_cancelled_mid_transfer_a_bootloader_only_target_is_in_fresh_dfu_mode(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target()
    session = make_session(target.bootloader_address)
    async with session:
        update = asyncio.ensure_future(session.update(PACKAGE))
        await _cancel_when(update, lambda: target.machine.received >= 2000)
        assert target.machine.state is State.IDLE and target.machine.received == 0
        assert target.mode is Mode.BOOTLOADER
    await _fresh_update(make_session, target.bootloader_address, target)


async def test_a_failed_update_is_released_too(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """A typed failure (a CRC error at Validate, on a stock bootloader) resets the target."""
    from aiodfu.nrf5_legacy import DfuVersion, TargetStatusError

    old = random_firmware(900, seed=34)
    target: Nrf5LegacyEmulator = await make_target(mode="application", application=old)
    package = Package.from_images(application=FIRMWARE, version=DfuVersion.V0_6)
    async with make_session(target.address) as session:
        with pytest.raises(TargetStatusError):
            await session.update(package)
    assert target.mode is Mode.APPLICATION and target.application == old
    await _fresh_update(make_session, target.address, target)
