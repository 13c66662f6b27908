"""GattLink over the emulated radio: every failure typed, the radio usable afterwards."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.core.errors import DfuTimeoutError
from aiodfu.testing.ble import BlePeripheral, BleRadio, BumbleBleakClient
from aiodfu.transports.gatt import GattLink

from .conftest import ABSENT, PRESENT
from .test_radio import finishes


async def test_connect_to_an_absent_address_is_a_typed_timeout(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    options = {"backend": BumbleBleakClient, "radio": radio}
    with pytest.raises(DfuTimeoutError) as info:
        await finishes(GattLink.connect(ABSENT, timeout=0.3, **options))
    assert info.value.operation == "connect"
    link = await finishes(GattLink.connect(PRESENT, timeout=2.0, **options))
    assert link.is_connected
    await link.aclose()


async def test_a_cancelled_connect_leaves_the_radio_usable(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    options = {"backend": BumbleBleakClient, "radio": radio}
    attempt = asyncio.ensure_future(GattLink.connect(ABSENT, timeout=30.0, **options))
    await asyncio.sleep(0.05)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    link = await finishes(GattLink.connect(PRESENT, timeout=2.0, **options))
    assert link.is_connected
    await link.aclose()
