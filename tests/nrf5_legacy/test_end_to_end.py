"""Whole updates through bleak's BleakClient on Bumble, compared byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aiodfu.nrf5_legacy import ImageType, Package
from aiodfu.nrf5_legacy.init_packet import DfuVersion
from aiodfu.nrf5_legacy.protocol import OpCode
from aiodfu.testing import random_firmware
from aiodfu.testing.nrf5_legacy import BootloaderConfig, InitFormat, Mode, Nrf5LegacyEmulator
from tests.nrf5_legacy.conftest import FAST_FLASH, SessionFactory

MakeTarget = Callable[..., Any]


async def test_application_update(make_target: MakeTarget, make_session: SessionFactory) -> None:
    target: Nrf5LegacyEmulator = await make_target()
    firmware = random_firmware(4000, seed=1)
    package = Package.from_images(application=firmware, application_version=7)
    async with make_session(target.bootloader_address) as session:
        result = await session.update(package)
    assert target.application == firmware
    assert target.application_version == 7
    assert target.mode is Mode.APPLICATION
    assert target.pool_overflows == 0
    assert result.bytes_moved == len(firmware)
    assert result.details["revision"] == "0x0008"


async def test_bootloader_update(make_target: MakeTarget, make_session: SessionFactory) -> None:
    old_app = random_firmware(800, seed=2)
    target: Nrf5LegacyEmulator = await make_target(application=old_app)
    await target.enter_bootloader()
    bootloader = random_firmware(2000, seed=3)
    async with make_session(target.bootloader_address) as session:
        await session.update(Package.from_images(bootloader=bootloader))
    assert target.bootloader == bootloader
    assert target.application == old_app  # a bootloader update keeps the app


async def test_softdevice_update_leaves_the_device_in_dfu_mode(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target(application=random_firmware(400, seed=4))
    await target.enter_bootloader()
    softdevice = random_firmware(6000, seed=5)
    async with make_session(target.bootloader_address) as session:
        await session.update(Package.from_images(softdevice=softdevice))
    assert target.softdevice == softdevice
    assert target.application is None
    assert target.mode is Mode.BOOTLOADER


async def test_sd_bl_then_application_in_two_sessions_from_a_zip(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target()
    sd, bl, app = random_firmware(5000, 6), random_firmware(1200, 7), random_firmware(3000, 8)
    package = Package.from_zip(
        Package.from_images(softdevice=sd, bootloader=bl, application=app).to_zip()
    )
    assert [p.image_type for p in package] == [
        ImageType.SOFTDEVICE_BOOTLOADER,
        ImageType.APPLICATION,
    ]
    async with make_session(target.bootloader_address) as session:
        result = await session.update(package)
    assert (target.softdevice, target.bootloader, target.application) == (sd, bl, app)
    assert target.mode is Mode.APPLICATION
    assert set(result.details) >= {"part1", "part2"}
    starts = [value for mode, value in target.control_point_log if value[0] == OpCode.START_DFU]
    assert starts == [bytes([1, 3]), bytes([1, 4])]


async def test_sd_bl_only(make_target: MakeTarget, make_session: SessionFactory) -> None:
    target: Nrf5LegacyEmulator = await make_target()
    sd, bl = random_firmware(4000, 9), random_firmware(1000, 10)
    async with make_session(target.bootloader_address) as session:
        await session.update(Package.from_images(softdevice=sd, bootloader=bl))
    assert (target.softdevice, target.bootloader) == (sd, bl)


@pytest.mark.parametrize("peer_data", [False, True])
async def test_buttonless_entry_from_the_application(
    make_target: MakeTarget, make_session: SessionFactory, peer_data: bool
) -> None:
    old, new = random_firmware(1000, 11), random_firmware(3000, 12)
    target: Nrf5LegacyEmulator = await make_target(
        mode="application", application=old, peer_data=peer_data
    )
    async with make_session(target.address) as session:
        result = await session.update(Package.from_images(application=new))
        expected = target.address if peer_data else target.bootloader_address
        assert session.dfu_address == expected
    assert target.application == new
    assert target.mode is Mode.APPLICATION
    assert (Mode.APPLICATION, bytes([1, 4])) in target.control_point_log
    assert result.details["dfu_address"] == expected


async def test_interrupted_session_on_the_target_is_reset_first(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """Start answered INVALID_STATE: Reset (06) and start clean, like Nordic's tools."""
    target: Nrf5LegacyEmulator = await make_target()
    firmware = random_firmware(2000, 13)
    package = Package.from_images(application=firmware)
    target.machine.state = target.machine.state.RX_DATA  # a leftover of someone else's session
    async with make_session(target.bootloader_address) as session:
        await session.update(package)
    assert target.application == firmware
    assert (Mode.BOOTLOADER, bytes([OpCode.RESET])) in target.control_point_log


async def test_v1_bootloader_fallback_for_application_only(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """Start answered NOT_SUPPORTED: retry as DFU v1 (``01`` + 4-byte size, ``02`` + CRC)."""
    target: Nrf5LegacyEmulator = await make_target(
        config=BootloaderConfig(v1_protocol=True, flash_rate=FAST_FLASH), revision=None
    )
    firmware = random_firmware(1600, 14)
    async with make_session(target.bootloader_address) as session:
        result = await session.update(Package.from_images(application=firmware))
    assert target.application == firmware
    assert "DFU v1" in result.details["part1"]


async def test_customised_bootloader_takes_0_7_sha256_packages(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    target: Nrf5LegacyEmulator = await make_target(
        config=BootloaderConfig(init_format=InitFormat.CUSTOM, flash_rate=FAST_FLASH)
    )
    firmware = random_firmware(2400, 15)
    package = Package.from_images(application=firmware, version=DfuVersion.V0_7)
    async with make_session(target.bootloader_address) as session:
        await session.update(package)
    assert target.application == firmware


async def test_larger_packets_when_the_bootloader_accepts_them(
    radio: Any, make_target: MakeTarget
) -> None:
    from aiodfu.nrf5_legacy import Nrf5LegacySession
    from aiodfu.testing.ble import BleLinkModel, BumbleBleakClient
    from tests.nrf5_legacy.conftest import FAST

    # Adafruit-style bootloader (244-byte writes), realistic flash, 2 packets per 7.5 ms event.
    target: Nrf5LegacyEmulator = await make_target(config=BootloaderConfig(max_packet=244))
    firmware = random_firmware(5000, 16)
    model = BleLinkModel(connection_interval=0.0075, packets_per_event=2, mtu=247)
    options = {"backend": BumbleBleakClient, "radio": radio, "link_model": model}
    session = Nrf5LegacySession(
        target.bootloader_address, packet_size=244, timeouts=FAST, client_options=options
    )
    async with session:
        await session.update(Package.from_images(application=firmware))
    assert target.application == firmware
    assert target.oversize_packets == 0
    assert target.pool_overflows == 0


async def test_a_connected_bleak_client_can_be_handed_in(
    radio: Any, make_target: MakeTarget
) -> None:
    from bleak import BleakClient

    from aiodfu.nrf5_legacy import Nrf5LegacySession
    from aiodfu.testing.ble import BumbleBleakClient
    from tests.nrf5_legacy.conftest import FAST

    target: Nrf5LegacyEmulator = await make_target()
    firmware = random_firmware(1000, 17)
    options = {"backend": BumbleBleakClient, "radio": radio}
    async with BleakClient(target.bootloader_address, **options) as client:
        session = Nrf5LegacySession(client, timeouts=FAST, client_options=options)
        async with session:
            await session.update(Package.from_images(application=firmware))
    assert target.application == firmware


async def test_slow_notifications_are_waited_for(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    from aiodfu.testing.nrf5_legacy import LegacyDfuFaults

    target: Nrf5LegacyEmulator = await make_target(faults=LegacyDfuFaults(notification_delay=0.02))
    firmware = random_firmware(800, 18)
    async with make_session(target.bootloader_address) as session:
        await session.update(Package.from_images(application=firmware))
    assert target.application == firmware
