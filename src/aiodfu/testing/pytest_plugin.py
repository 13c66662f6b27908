"""pytest fixtures for testing code against aiodfu's emulated devices.

Installed with aiodfu (the ``pytest11`` entry point ``aiodfu``), so a project
that depends on aiodfu gets these fixtures without any configuration. They
are async fixtures and need pytest-asyncio; without it they are not defined.

* ``aiodfu_emulators`` -- register emulators you build with options of your
  own; each is closed at teardown, and the test fails if one of them crashed
  while serving (an emulator bug, never a mere link loss).
* ``serial_modem_emulator`` -- a Nordic Serial Modem with default options.
* ``serial_modem_pty`` -- the path of a pseudo-terminal serving
  ``serial_modem_emulator``, for code that opens a real serial port.
* ``drogue_emulator`` / ``drogue_pty`` -- the same for a Drogue device
  (embedded-update on embassy-boot); ``drogue_gatt_host`` serves that same
  device's BLE firmware service on ``ble_radio`` (needs the ``emulators`` extra).
* ``notecard_emulator`` / ``notecard_pty`` -- a Blues Notecard offering a
  64 KiB host firmware image; ``notecard_i2c_bus`` -- that card at 0x17 on an
  emulated 400 kHz I2C bus (pass it to ``aiodfu.notecard.open_i2c``).
* ``ble_radio`` / ``nrf5_legacy_target`` -- Bumble's in-process BLE link and
  a legacy nRF5 DFU target advertising on it (needs the ``emulators`` extra);
  connect with ``BleakClient(address, backend=BumbleBleakClient, radio=...)``.
* ``rainmaker_emulator`` / ``rainmaker_pty`` -- an ESP-AT RainMaker module with
  a pending host-MCU OTA job served from its own loopback HTTP server;
  ``rainmaker_server`` -- a bare loopback :class:`FirmwareServer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

from aiodfu.testing import notecard as notecard_testing
from aiodfu.testing.drogue import DrogueEmulator
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.rainmaker import FirmwareServer, RainMakerEmulator
from aiodfu.testing.serial_modem import SerialModemEmulator

E = TypeVar("E", bound=Emulator)


class EmulatorRegistry:
    """Keeps the emulators a test creates, to close and check them at teardown."""

    def __init__(self) -> None:
        self.emulators: list[Emulator] = []

    def __call__(self, emulator: E) -> E:
        self.emulators.append(emulator)
        return emulator

    async def close_and_check(self) -> None:
        for emulator in self.emulators:
            await emulator.aclose()
        crashes = [
            f"{type(emulator).__name__}: {failure!r}"
            for emulator in self.emulators
            for failure in emulator.failures
        ]
        if crashes:
            pytest.fail("emulator crashed while serving: " + "; ".join(crashes))


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def aiodfu_emulators() -> AsyncIterator[EmulatorRegistry]:
        """Register emulators with ``aiodfu_emulators(SomeEmulator(...))``."""
        registry = EmulatorRegistry()
        yield registry
        await registry.close_and_check()

    @pytest_asyncio.fixture
    async def serial_modem_emulator(
        aiodfu_emulators: EmulatorRegistry,
    ) -> SerialModemEmulator:
        """A Serial Modem emulator with default options (all four DFU types)."""
        return aiodfu_emulators(SerialModemEmulator())

    @pytest_asyncio.fixture
    async def serial_modem_pty(serial_modem_emulator: SerialModemEmulator) -> AsyncIterator[str]:
        """A pty path on which ``serial_modem_emulator`` answers."""
        async with serve_pty(serial_modem_emulator) as path:
            yield path

    @pytest_asyncio.fixture
    async def drogue_emulator(aiodfu_emulators: EmulatorRegistry) -> DrogueEmulator:
        """A Drogue device with no pause between its commands."""
        return aiodfu_emulators(DrogueEmulator(backoff_ms=0))

    @pytest_asyncio.fixture
    async def drogue_pty(drogue_emulator: DrogueEmulator) -> AsyncIterator[str]:
        """A pty path on which ``drogue_emulator`` answers."""
        async with serve_pty(drogue_emulator) as path:
            yield path

    @pytest_asyncio.fixture
    async def rainmaker_emulator(aiodfu_emulators: EmulatorRegistry) -> RainMakerEmulator:
        """An ESP-AT RainMaker module with default options."""
        return aiodfu_emulators(RainMakerEmulator())

    @pytest_asyncio.fixture
    async def rainmaker_pty(rainmaker_emulator: RainMakerEmulator) -> AsyncIterator[str]:
        """A pty path on which ``rainmaker_emulator`` answers."""
        async with serve_pty(rainmaker_emulator) as path:
            yield path

    @pytest_asyncio.fixture
    async def rainmaker_server() -> AsyncIterator[FirmwareServer]:
        """A firmware HTTP server on 127.0.0.1 with Range support and fault injection."""
        async with FirmwareServer() as server:
            yield server

    @pytest_asyncio.fixture
    async def notecard_emulator(aiodfu_emulators: EmulatorRegistry) -> NotecardEmulator:
        """A Notecard offering 64 KiB of host firmware."""
        return aiodfu_emulators(NotecardEmulator(image=random_firmware(65536, seed=4)))

    @pytest_asyncio.fixture
    async def notecard_pty(notecard_emulator: NotecardEmulator) -> AsyncIterator[str]:
        """A pty path on which ``notecard_emulator`` answers."""
        async with serve_pty(notecard_emulator) as path:
            yield path

    @pytest_asyncio.fixture
    async def notecard_i2c_bus(notecard_emulator: NotecardEmulator) -> EmulatedI2cBus:
        """``notecard_emulator`` at 0x17 on an emulated 400 kHz I2C bus."""
        model = I2cBusModel(clock_hz=400_000)
        return notecard_testing.notecard_i2c_bus(notecard_emulator, model=model)

    @pytest_asyncio.fixture
    async def ble_radio() -> AsyncIterator[Any]:
        """Bumble's in-process BLE link (a :class:`~aiodfu.testing.ble.BleRadio`)."""
        from aiodfu.testing.ble import BleRadio

        async with BleRadio() as radio:
            yield radio

    @pytest_asyncio.fixture
    async def nrf5_legacy_target(ble_radio: Any) -> AsyncIterator[Any]:
        """A legacy nRF5 DFU target (:class:`~aiodfu.testing.nrf5_legacy.Nrf5LegacyEmulator`)."""
        from aiodfu.testing.nrf5_legacy import Nrf5LegacyEmulator

        target = Nrf5LegacyEmulator(ble_radio)
        await target.start()
        try:
            yield target
        finally:
            await target.aclose()
        if target.failures:
            pytest.fail(f"nRF5 legacy target crashed while serving: {target.failures!r}")

    @pytest_asyncio.fixture
    async def drogue_gatt_host(
        ble_radio: Any, drogue_emulator: DrogueEmulator
    ) -> AsyncIterator[Any]:
        """``drogue_emulator``'s GATT firmware service on ``ble_radio`` (a ``DrogueGattHost``)."""
        from aiodfu.testing.drogue.gatt import DrogueGattHost

        host = DrogueGattHost(drogue_emulator, ble_radio)
        await host.start()
        try:
            yield host
        finally:
            await host.aclose()
        if host.failures:
            pytest.fail(f"Drogue GATT host crashed while serving: {host.failures!r}")
