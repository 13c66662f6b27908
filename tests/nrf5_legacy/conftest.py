"""Fixtures: an in-process radio, emulated targets on it, sessions with fast timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Nrf5LegacySession, Timeouts
from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.nrf5_legacy import BootloaderConfig, Nrf5LegacyEmulator

FAST_FLASH = 1e9

FAST = Timeouts(
    connect=1.0,
    gatt=2.0,
    start=3.0,
    init=2.0,
    packet_receipt=2.0,
    receive_complete=3.0,
    validate=2.0,
    response=2.0,
    disconnect=2.0,
    bootloader_search=5.0,
    activation=1.0,
    release=2.0,
)


@pytest.fixture
async def radio() -> AsyncIterator[BleRadio]:
    async with BleRadio() as radio:
        yield radio


SessionFactory = Callable[..., Nrf5LegacySession]


@pytest.fixture
def make_session(radio: BleRadio) -> SessionFactory:
    def make(target: str, **options: Any) -> Nrf5LegacySession:
        options.setdefault("timeouts", FAST)
        options.setdefault("retry", RetryPolicy(attempts=6, initial_delay=0.01, max_delay=0.05))
        return Nrf5LegacySession(
            target,
            client_options={"backend": BumbleBleakClient, "radio": radio},
            scanner_options={"backend": BumbleBleakScanner, "radio": radio},
            **options,
        )

    return make


@pytest.fixture
async def make_target(radio: BleRadio) -> AsyncIterator[Callable[..., Any]]:
    started: list[Nrf5LegacyEmulator] = []

    async def make(
        factory: Callable[..., Nrf5LegacyEmulator] = Nrf5LegacyEmulator, **options: Any
    ) -> Nrf5LegacyEmulator:
        # The in-process link is unpaced (faster than any radio): unless a test models the
        # link, give the flash a rate no unpaced sender can outrun.
        options.setdefault("config", BootloaderConfig(flash_rate=FAST_FLASH))
        emulator = factory(radio, **options)
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.aclose()
        assert not emulator.failures, emulator.failures


def fast(timeouts: Timeouts = FAST, **changes: float) -> Timeouts:
    return attrs.evolve(timeouts, **changes)
