"""Fixtures for the shared BLE pieces: an in-process radio with one advertising peripheral."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiodfu.testing.ble import BlePeripheral, BleRadio

PRESENT = "C0:FF:EE:00:00:10"
ABSENT = "C0:FF:EE:00:00:99"


@pytest.fixture
async def radio() -> AsyncIterator[BleRadio]:
    async with BleRadio() as radio:
        yield radio


@pytest.fixture
async def peripheral(radio: BleRadio) -> BlePeripheral:
    peripheral = await radio.add_peripheral(PRESENT, "Present")
    await peripheral.advertise("Present")
    return peripheral
