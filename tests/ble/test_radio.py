"""The emulated radio behaves as a controller does: connects end, by timeout or by cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest
from bleak import BleakClient
from bleak.exc import BleakError

from aiodfu.testing.ble import BlePeripheral, BleRadio, BumbleBleakClient

from .conftest import ABSENT, PRESENT

T = TypeVar("T")

HANG_GUARD = 10.0  # far beyond every connect timeout below: only a hang reaches it


async def finishes(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s outcome; a test failure (not a TimeoutError) if it hangs."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=HANG_GUARD)
    if not done:
        task.cancel()
        pytest.fail(f"still waiting after {HANG_GUARD} s")
    return task.result()


async def _connects(radio: BleRadio) -> None:
    """The radio can still connect to the advertising peripheral."""
    peripheral = radio.peripherals[PRESENT]
    if not peripheral.is_advertising:  # advertising stops with a connection
        await peripheral.advertise("Present")
    client = BleakClient(PRESENT, backend=BumbleBleakClient, radio=radio, timeout=2.0)
    await finishes(client.connect())
    assert client.is_connected
    await client.disconnect()


async def test_connect_to_an_absent_address_times_out(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    client = BleakClient(ABSENT, backend=BumbleBleakClient, radio=radio, timeout=0.3)
    with pytest.raises(TimeoutError):
        await finishes(client.connect())
    assert not client.is_connected
    await _connects(radio)  # the pending LE connection was cancelled on the controller


async def test_a_cancelled_connect_leaves_the_radio_usable(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    client = BleakClient(ABSENT, backend=BumbleBleakClient, radio=radio, timeout=30.0)
    attempt = asyncio.create_task(client.connect())
    await asyncio.sleep(0.1)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await _connects(radio)
    # and twice more: every cancelled attempt is cleaned up, not only the first
    for _ in range(2):
        attempt = asyncio.create_task(
            BleakClient(ABSENT, backend=BumbleBleakClient, radio=radio, timeout=30.0).connect()
        )
        await asyncio.sleep(0.05)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
    await _connects(radio)


async def test_connecting_to_a_present_address_after_a_timeout_on_another(
    radio: BleRadio, peripheral: BlePeripheral
) -> None:
    """Timeouts of other clients do not disturb a connection that exists."""
    first = BleakClient(PRESENT, backend=BumbleBleakClient, radio=radio, timeout=2.0)
    await first.connect()
    with pytest.raises((TimeoutError, BleakError)):
        await finishes(
            BleakClient(ABSENT, backend=BumbleBleakClient, radio=radio, timeout=0.2).connect()
        )
    assert first.is_connected
    await first.disconnect()
