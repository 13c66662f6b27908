"""The emulated target advertises as SDK 11 devices do: an application like ``ble_app_hrs``,
a bootloader as ``DfuTarg`` with the DFU service -- so third-party hosts that tell the two
apart by the advertisement see what they would see on hardware."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.scanner import AdvertisementData

from aiodfu.nrf5_legacy import Package, protocol
from aiodfu.testing import random_firmware
from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner
from aiodfu.testing.nrf5_legacy import ApplicationProfile, Mode, Nrf5LegacyEmulator
from tests.nrf5_legacy.conftest import SessionFactory

MakeTarget = Callable[..., Any]
HEART_RATE = "0000180d-0000-1000-8000-00805f9b34fb"
BATTERY = "0000180f-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION = "0000180a-0000-1000-8000-00805f9b34fb"


async def _advertisement(radio: BleRadio, address: str) -> AdvertisementData:
    found: asyncio.Future[AdvertisementData] = asyncio.get_running_loop().create_future()

    def seen(device: Any, advertisement: AdvertisementData) -> None:
        if device.address.upper() == address and not found.done():
            found.set_result(advertisement)

    async with BleakScanner(seen, backend=BumbleBleakScanner, radio=radio):
        async with asyncio.timeout(5):
            return await found


def _looks_like_a_bootloader(advertisement: AdvertisementData) -> bool:
    """How third-party legacy DFU clients decide (reference: 'The application side')."""
    name = advertisement.local_name or ""
    return "dfu" in name.lower() or protocol.SERVICE_UUID in advertisement.service_uuids


async def test_the_application_advertises_like_ble_app_hrs(
    radio: BleRadio, make_target: MakeTarget
) -> None:
    target: Nrf5LegacyEmulator = await make_target(
        mode="application", application=random_firmware(400, seed=51)
    )
    advertisement = await _advertisement(radio, target.address)
    assert advertisement.local_name == "Nordic_HRM"
    assert advertisement.service_uuids == [HEART_RATE, BATTERY, DEVICE_INFORMATION]
    assert not _looks_like_a_bootloader(advertisement)
    # the DFU service is in GATT (revision 0.1: buttonless), next to the app's own services
    async with BleakClient(target.address, backend=BumbleBleakClient, radio=radio) as client:
        services = {service.uuid for service in client.services}
        assert {protocol.SERVICE_UUID, HEART_RATE, BATTERY, DEVICE_INFORMATION} <= services
        revision = await client.read_gatt_char(protocol.REVISION_UUID)
        assert bytes(revision) == b"\x01\x00"


async def test_the_bootloader_advertises_dfutarg_with_the_dfu_service(
    radio: BleRadio, make_target: MakeTarget
) -> None:
    target: Nrf5LegacyEmulator = await make_target()
    advertisement = await _advertisement(radio, target.bootloader_address)
    assert advertisement.local_name == "DfuTarg"
    assert advertisement.service_uuids == [protocol.SERVICE_UUID]
    assert _looks_like_a_bootloader(advertisement)
    async with BleakClient(
        target.bootloader_address, backend=BumbleBleakClient, radio=radio
    ) as client:
        services = {service.uuid for service in client.services}
        assert protocol.SERVICE_UUID in services
        assert HEART_RATE not in services  # the bootloader has only its DFU service


async def test_the_application_profile_is_configurable(
    radio: BleRadio, make_target: MakeTarget
) -> None:
    custom = "0000feed-0000-1000-8000-00805f9b34fb"
    vendor = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
    target: Nrf5LegacyEmulator = await make_target(
        mode="application",
        application=random_firmware(400, seed=52),
        application_profile=ApplicationProfile(name="Thermo", service_uuids=(custom, vendor)),
    )
    advertisement = await _advertisement(radio, target.address)
    assert advertisement.local_name == "Thermo"
    assert advertisement.service_uuids == [custom, vendor]


async def test_aiodfu_still_finds_and_updates_the_application(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """The application advertises nothing DFU-like: aiodfu goes by its address."""
    target: Nrf5LegacyEmulator = await make_target(
        mode="application", application=random_firmware(400, seed=53)
    )
    firmware = random_firmware(1600, seed=54)
    async with make_session(target.address) as session:
        await session.update(Package.from_images(application=firmware))
    assert target.application == firmware and target.mode is Mode.APPLICATION
