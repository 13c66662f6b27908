"""Every update type, end to end, against the emulator: the device's image equals the one sent."""

from __future__ import annotations

import pytest

from aiodfu.core.progress import Phase, Progress
from aiodfu.serial_modem import UpdateType
from aiodfu.testing.pty import serve_pty
from aiodfu.testing.serial_modem import FirmwareGeneration, SerialModemEmulator, UrcOrder
from aiodfu.transports.serial import open_serial

from .conftest import APP, BOOTLOADER_SEGMENT, DELTA, FIRMWARE_SEGMENTS, FULL, session_for


def full_modem_written(emulator: SerialModemEmulator) -> tuple[bytes, list[tuple[int, bytes]]]:
    return emulator.received[2], emulator.modem_firmware_segments()


async def test_application_update_activates_and_reports_version(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    events: list[Progress] = []
    async with session_for(emulator.connect, chunk_size=4096) as session:
        result = await session.update(APP, reset=True, progress=events.append)
    assert emulator.active_app == APP
    assert emulator.applied[0] == APP
    assert result.details["application"] == "2.1.0+3"
    assert result.attempts == 1 and result.bytes_moved == len(APP)
    dones = [e.done for e in events if e.phase is Phase.TRANSFERRING]
    assert dones == sorted(dones) and dones[-1] == len(APP)
    assert events[-1].phase is Phase.DONE
    writes = [c for c in emulator.commands if c.startswith("AT#XDFUWRITE")]
    assert len(writes) == -(-len(APP) // 4096)


async def test_application_without_reset_is_applied_not_activated(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    old = b"old app"
    emulator = aiodfu_emulators(SerialModemEmulator(app_image=old))
    async with session_for(emulator.connect) as session:
        result = await session.update(APP)
    assert emulator.applied[0] == APP
    assert emulator.active_app == old
    assert "next reset" in result.details["state"]
    assert not any(c.startswith("AT#XRESET") for c in emulator.commands)


async def test_delta_update_activates_with_modem_reset(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(modem_version="nrf91x1_2.0.2"))
    async with session_for(emulator.connect) as session:
        result = await session.update(DELTA, reset=True)
    assert emulator.received[1] == DELTA
    assert emulator.applied[1] == DELTA
    assert result.details["modem_firmware"] == emulator.modem_version != "nrf91x1_2.0.2"


@pytest.mark.parametrize("generation", list(FirmwareGeneration))
async def test_full_modem_update_both_firmware_generations(aiodfu_emulators, generation) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(firmware=generation))
    async with session_for(emulator.connect, chunk_size=2048) as session:
        result = await session.update(FULL)
    bootloader, firmware = full_modem_written(emulator)
    assert bootloader == BOOTLOADER_SEGMENT
    assert firmware == FIRMWARE_SEGMENTS
    assert emulator.mode == "normal"
    assert result.details["modem_firmware"] == emulator.modem_version
    chunk_addresses = [
        int(c.split(",")[1]) for c in emulator.commands if c.startswith("AT#XDFUWRITE=2")
    ]
    assert 0x50000 in chunk_addresses and 0x50000 + 2048 in chunk_addresses


async def test_mcuboot_bootloader_update_switches_slot(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    before = emulator.active_bootloader_slot
    async with session_for(emulator.connect) as session:
        result = await session.update(APP, update_type=UpdateType.MCUBOOT_BOOTLOADER, reset=True)
    assert emulator.applied[3] == APP
    assert emulator.active_bootloader_slot != before
    assert result.details["bootloader_slot"] == str(emulator.active_bootloader_slot)


@pytest.mark.parametrize("order", list(UrcOrder))
@pytest.mark.parametrize("legacy", [False, True])
async def test_urc_order_and_legacy_format_are_both_accepted(
    aiodfu_emulators, order, legacy
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(urc_order=order, legacy_urc_format=legacy))
    async with session_for(emulator.connect, chunk_size=3000) as session:
        await session.update(APP, reset=True)
    assert emulator.active_app == APP


async def test_echo_on_and_crlf_terminator(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(echo=True, terminator=b"\r\n"))
    async with session_for(emulator.connect, terminator=b"\r\n") as session:
        await session.update(APP, reset=True)
    assert emulator.active_app == APP


async def test_unsupported_type_is_refused_before_any_write(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    from aiodfu.core.errors import UnsupportedError

    emulator = aiodfu_emulators(SerialModemEmulator(supported_types=(0, 1)))
    async with session_for(emulator.connect) as session:
        with pytest.raises(UnsupportedError, match="modem-full"):
            await session.update(FULL)
    assert not any(c.startswith("AT#XDFUINIT=2") for c in emulator.commands)


@pytest.mark.parametrize(
    ("image", "update_type"),
    [
        (APP, UpdateType.APPLICATION),
        (DELTA, UpdateType.MODEM_DELTA),
        (FULL, UpdateType.MODEM_FULL),
        (APP, UpdateType.MCUBOOT_BOOTLOADER),
    ],
)
async def test_every_type_over_a_pty_with_pyserial_asyncio(
    aiodfu_emulators, image, update_type
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with serve_pty(emulator) as path:

        async def connector():  # type: ignore[no-untyped-def]
            return await open_serial(path, 115200, rtscts=False)

        async with session_for(connector) as session:
            await session.update(image, update_type=update_type, reset=True)
    if update_type is UpdateType.MODEM_FULL:
        assert full_modem_written(emulator) == (BOOTLOADER_SEGMENT, FIRMWARE_SEGMENTS)
    else:
        assert emulator.applied[update_type.value] == image
        assert emulator.received[update_type.value] == image
