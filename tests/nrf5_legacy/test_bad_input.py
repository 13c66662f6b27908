"""Every target status code and ATT error surfaces as a typed error naming the operation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError

from aiodfu.core.errors import DfuError, ImageIntegrityError, UsageError
from aiodfu.nrf5_legacy import DfuVersion, Package, PackageError, TargetStatusError, protocol
from aiodfu.nrf5_legacy.init_packet import InitPacket
from aiodfu.nrf5_legacy.package import Part
from aiodfu.nrf5_legacy.protocol import ImageType, Status
from aiodfu.testing import random_firmware
from aiodfu.testing.ble import BleRadio, BumbleBleakClient
from aiodfu.testing.nrf5_legacy import BootloaderConfig, Nrf5LegacyEmulator
from tests.nrf5_legacy.conftest import FAST_FLASH, SessionFactory

MakeTarget = Callable[..., Any]


async def _refused(
    make_target: MakeTarget, make_session: SessionFactory, package: Package, **target: Any
) -> TargetStatusError:
    emulator: Nrf5LegacyEmulator = await make_target(**target)
    async with make_session(emulator.bootloader_address) as session:
        with pytest.raises(TargetStatusError) as caught:
            await session.update(package)
    assert emulator.application is None  # nothing was installed
    return caught.value


async def test_image_too_large_for_the_bank_is_data_size(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    package = Package.from_images(application=random_firmware(8000, 1))
    config = BootloaderConfig(bank_size=4096, flash_rate=FAST_FLASH)
    error = await _refused(make_target, make_session, package, config=config)
    assert error.status == Status.DATA_SIZE
    assert error.operation == "Start DFU"
    assert "data size" in str(error)


async def test_0_6_package_on_the_stock_template_is_a_crc_error(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """The stock template reads ext_packet_id 0 as the CRC (reference section 5)."""
    package = Package.from_images(application=random_firmware(400, 2), version=DfuVersion.V0_6)
    error = await _refused(make_target, make_session, package)
    assert (error.status, error.operation) == (Status.CRC_ERROR, "Validate")


async def test_init_packet_for_another_device_type_is_operation_failed(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    package = Package.from_images(application=random_firmware(400, 3), device_type=0x52)
    config = BootloaderConfig(uicr_device_type=0x41, flash_rate=FAST_FLASH)
    error = await _refused(make_target, make_session, package, config=config)
    assert (error.status, error.operation) == (Status.OPERATION_FAILED, "Initialize DFU parameters")


async def test_softdevice_requirement_not_met_is_operation_failed(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    package = Package.from_images(application=random_firmware(400, 4), softdevice_req=(0x88,))
    error = await _refused(make_target, make_session, package)
    assert error.status == Status.OPERATION_FAILED


async def test_v1_target_refuses_a_softdevice_with_not_supported(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    package = Package.from_images(softdevice=random_firmware(400, 5))
    config = BootloaderConfig(v1_protocol=True, flash_rate=FAST_FLASH)
    error = await _refused(make_target, make_session, package, config=config, revision=None)
    assert (error.status, error.operation) == (Status.NOT_SUPPORTED, "Start DFU")


def test_every_status_has_a_message() -> None:
    for status in Status:
        error = TargetStatusError(
            protocol.describe_status(status), operation="Validate", status=int(status)
        )
        assert f"device status {int(status)}" in str(error)
    assert protocol.describe_status(0x42) == "unknown status 66"


async def test_wrong_crc_in_the_dat_never_reaches_the_radio(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    emulator: Nrf5LegacyEmulator = await make_target()
    firmware = random_firmware(400, 6)
    bad = InitPacket(DfuVersion.V0_5, firmware_crc16=0xBEEF).encode()
    package = Package((Part(ImageType.APPLICATION, firmware, bad),))
    async with make_session(emulator.bootloader_address) as session:
        with pytest.raises(ImageIntegrityError, match="0xBEEF"):
            await session.update(package)
    assert emulator.control_point_log == []


async def test_corrupt_zip_is_a_package_error(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    emulator: Nrf5LegacyEmulator = await make_target()
    async with make_session(emulator.bootloader_address) as session:
        with pytest.raises(PackageError):
            await session.update(b"PK\x03\x04garbage")


async def test_packets_larger_than_the_link_allows_are_refused(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    emulator: Nrf5LegacyEmulator = await make_target()
    async with make_session(emulator.bootloader_address, packet_size=64) as session:
        with pytest.raises(UsageError, match="ATT MTU 23"):
            await session.update(Package.from_images(application=random_firmware(400, 7)))


def test_packet_size_must_be_a_multiple_of_four(make_session: SessionFactory) -> None:
    with pytest.raises(UsageError):
        make_session("C0:FF:EE:00:00:02", packet_size=18)


async def test_nothing_there_is_a_typed_error_not_a_hang(make_session: SessionFactory) -> None:
    from aiodfu.core.transfer import RetryPolicy
    from tests.nrf5_legacy.conftest import fast

    quick = fast(bootloader_search=1.0)
    retry = RetryPolicy(attempts=2, initial_delay=0.01)
    async with make_session("C0:FF:EE:00:00:99", timeouts=quick, retry=retry) as session:
        with pytest.raises(DfuError):
            await session.update(Package.from_images(application=random_firmware(40, 8)))


async def test_control_point_without_notifications_is_att_0xfd(
    make_target: MakeTarget, radio: BleRadio
) -> None:
    emulator: Nrf5LegacyEmulator = await make_target()
    client = BleakClient(emulator.bootloader_address, backend=BumbleBleakClient, radio=radio)
    async with client:
        with pytest.raises(BleakGATTProtocolError) as caught:
            await client.write_gatt_char(protocol.CONTROL_POINT_UUID, b"\x01\x04", response=True)
        assert caught.value.code == protocol.ATT_CCCD_IMPROPERLY_CONFIGURED
        revision = await client.read_gatt_char(protocol.REVISION_UUID)
        assert bytes(revision) == b"\x08\x00"
        packet = client.services.get_characteristic(protocol.PACKET_UUID)
        assert packet is not None and packet.properties == ["write-without-response"]


async def test_target_drops_the_link_mid_request_raises_at_once(
    make_target: MakeTarget, make_session: SessionFactory
) -> None:
    """With a single attempt, a dropped link is a LinkLostError-rooted failure, not a hang."""
    from aiodfu.core.transfer import RetryPolicy
    from aiodfu.testing.nrf5_legacy import LegacyDfuFaults

    emulator: Nrf5LegacyEmulator = await make_target(
        faults=LegacyDfuFaults(disconnect_on_opcode=protocol.OpCode.VALIDATE)
    )
    async with make_session(emulator.bootloader_address, retry=RetryPolicy(attempts=1)) as session:
        async with asyncio.timeout(5):
            with pytest.raises(DfuError) as caught:
                await session.update(Package.from_images(application=random_firmware(400, 9)))
    assert caught.value.operation == "Validate"
