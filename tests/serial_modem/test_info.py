"""``SerialModemSession.info()``: the device's own account of itself, through the library."""

from __future__ import annotations

from aiodfu.serial_modem import DeviceInfo, Mode, UpdateType
from aiodfu.testing import SerialModemEmulator, build_mcuboot_image, random_firmware

from .conftest import session_for

OLD = build_mcuboot_image(random_firmware(2048, seed=1), version=(1, 0, 0, 0))


async def test_info_in_normal_mode_with_a_bootloader_slot() -> None:
    device = SerialModemEmulator(app_image=OLD, supported_types=(0, 1, 3))
    async with device, session_for(device.connect) as session:
        info = await session.info()
    assert info == DeviceInfo(
        Mode.NORMAL,
        "1.0.0+0",
        device.modem_version,
        (UpdateType.APPLICATION, UpdateType.MODEM_DELTA, UpdateType.MCUBOOT_BOOTLOADER),
        device.active_bootloader_slot,
    )
    assert info.note is None


async def test_info_without_the_bootloader_type_asks_no_slot() -> None:
    device = SerialModemEmulator(app_image=OLD, supported_types=(0, 1))
    async with device, session_for(device.connect) as session:
        info = await session.info()
    assert info.bootloader_slot is None
    assert not any(line.startswith("AT#XBOOTINFO") for line in device.commands)


async def test_info_in_bootloader_mode_says_only_a_full_modem_update_runs() -> None:
    device = SerialModemEmulator()
    device.mode = Mode.BOOTLOADER
    async with device, session_for(device.connect) as session:
        info = await session.info()
    assert (info.mode, info.application, info.supported_types) == (
        Mode.BOOTLOADER,
        None,
        (UpdateType.MODEM_FULL,),
    )
    assert info.note is not None and "full modem" in info.note
