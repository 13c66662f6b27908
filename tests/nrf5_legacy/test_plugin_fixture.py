"""The pytest plugin's nRF5 fixture: an Emulator, registered and torn down like every other."""

from __future__ import annotations

from typing import Any

from aiodfu.nrf5_legacy import Nrf5LegacySession, Package
from aiodfu.testing import Emulator, random_firmware
from aiodfu.testing.ble import BumbleBleakClient, BumbleBleakScanner
from tests.nrf5_legacy.conftest import FAST


async def test_nrf5_legacy_target_fixture_updates(
    nrf5_legacy_target: Any, ble_radio: Any, aiodfu_emulators: Any
) -> None:
    assert isinstance(nrf5_legacy_target, Emulator)
    assert nrf5_legacy_target in aiodfu_emulators.emulators
    firmware = random_firmware(800, seed=61)
    session = Nrf5LegacySession(
        nrf5_legacy_target.bootloader_address,
        timeouts=FAST,
        client_options={"backend": BumbleBleakClient, "radio": ble_radio},
        scanner_options={"backend": BumbleBleakScanner, "radio": ble_radio},
    )
    async with session:
        await session.update(Package.from_images(application=firmware))
    assert nrf5_legacy_target.image == firmware


async def test_a_ble_emulator_has_no_byte_stream(nrf5_legacy_target: Any) -> None:
    import pytest

    from aiodfu.core.errors import UsageError

    assert not nrf5_legacy_target.serves_byte_stream
    with pytest.raises(UsageError, match="not reached over a byte stream"):
        nrf5_legacy_target.connect()


async def test_adafruit_ble_board_fixture_updates_through_its_application(
    adafruit_ble_board: Any, ble_radio: Any, aiodfu_emulators: Any
) -> None:
    assert adafruit_ble_board in aiodfu_emulators.emulators
    firmware = random_firmware(1200, seed=62)
    session = Nrf5LegacySession(
        adafruit_ble_board.address,
        timeouts=FAST,
        client_options={"backend": BumbleBleakClient, "radio": ble_radio},
        scanner_options={"backend": BumbleBleakScanner, "radio": ble_radio},
    )
    async with session:
        await session.update(Package.from_images(application=firmware, device_type=0x0052))
    assert adafruit_ble_board.image == firmware
