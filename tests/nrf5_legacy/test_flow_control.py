"""A target whose flash is slower than the link: receipts cannot reveal it, a rate cap can."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aiodfu.core.errors import RetriesExhaustedError
from aiodfu.nrf5_legacy import Package
from aiodfu.testing import random_firmware
from aiodfu.testing.nrf5_legacy import BootloaderConfig, Nrf5LegacyEmulator
from tests.nrf5_legacy.conftest import SessionFactory

SLOW_FLASH = 2_000.0  # bytes per second: slower than even one packet per in-process round trip
FIRMWARE = random_firmware(4000, seed=41)


async def test_receipts_alone_cannot_protect_a_slow_flash_and_fail_typed(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target(config=BootloaderConfig(flash_rate=SLOW_FLASH))
    async with make_session(target.bootloader_address) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(Package.from_images(application=FIRMWARE))
    assert info.value.status == 6  # OPERATION_FAILED: receive pool overflow
    assert target.pool_overflows > 0
    assert target.application != FIRMWARE


async def test_a_rate_cap_below_the_flash_rate_never_overflows(
    make_target: Callable[..., Any], make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target(config=BootloaderConfig(flash_rate=SLOW_FLASH))
    async with make_session(target.bootloader_address, max_rate=0.9 * SLOW_FLASH) as session:
        result = await session.update(Package.from_images(application=FIRMWARE))
    assert target.application == FIRMWARE
    assert target.pool_overflows == 0
    assert result.attempts == 1
