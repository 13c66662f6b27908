"""Success only on the device's own verdict, and every result says how the image was verified
(issue 10, defect 7): a byte corrupted on the way to the modem never ends in a success report."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.core.session import VerificationMethod
from aiodfu.serial_modem import ActivationFailedError, UpdateType
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkFaults

from .conftest import APP, BOOTLOADER_SEGMENT, DELTA, FIRMWARE_SEGMENTS, FULL, session_for


def corrupting(emulator: SerialModemEmulator, at: int) -> FaultyFirstLink:
    """The first link flips every bit of the byte at ``at``; reconnections are clean."""
    return FaultyFirstLink(emulator, host_to_device=LinkFaults(corrupt_at=frozenset({at})))


async def test_a_delta_corrupted_on_the_wire_is_a_typed_failure_not_a_success(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(corrupting(emulator, 3000), chunk_size=2048) as session:
        with pytest.raises(ActivationFailedError, match="did not apply the delta"):
            await session.update(DELTA, reset=True)
    assert emulator.modem_version == "nrf91x1_2.0.2"
    async with session_for(emulator.connect, chunk_size=2048) as session:
        result = await session.update(DELTA, reset=True)
    assert emulator.applied[1] == DELTA
    assert emulator.modem_version == "nrf91x1_2.0.3"
    assert result.verification.method is VerificationMethod.DEVICE_DIGEST


@pytest.mark.parametrize(
    ("at", "phase"), [(1000, "bootloader segment"), (8000, "firmware segment")]
)
async def test_a_full_modem_image_corrupted_on_the_wire_is_restarted_until_the_modem_verifies_it(
    aiodfu_emulators, at, phase
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(corrupting(emulator, at), chunk_size=2048) as session:
        result = await asyncio.wait_for(session.update(FULL), timeout=60)
    assert result.attempts == 2, phase  # the modem refused the first upload
    assert emulator.received[2] == BOOTLOADER_SEGMENT
    assert emulator.modem_firmware_segments() == FIRMWARE_SEGMENTS
    assert emulator.mode == "normal"
    assert result.verification.method is VerificationMethod.DEVICE_DIGEST


@pytest.mark.parametrize(
    ("image", "update_type", "reset", "method", "words"),
    [
        (APP, UpdateType.APPLICATION, True, VerificationMethod.DEVICE_DIGEST, "MCUboot"),
        (APP, UpdateType.APPLICATION, False, VerificationMethod.NONE, "next reset"),
        (DELTA, UpdateType.MODEM_DELTA, True, VerificationMethod.DEVICE_DIGEST, "modem"),
        (DELTA, UpdateType.MODEM_DELTA, False, VerificationMethod.NONE, "AT#XMODEMRESET"),
        (FULL, UpdateType.MODEM_FULL, False, VerificationMethod.DEVICE_DIGEST, "booted"),
        (APP, UpdateType.MCUBOOT_BOOTLOADER, True, VerificationMethod.DEVICE_DIGEST, "NSIB"),
        (APP, UpdateType.MCUBOOT_BOOTLOADER, False, VerificationMethod.NONE, "next reset"),
    ],
)
async def test_every_result_states_its_verification(
    aiodfu_emulators, image, update_type, reset, method, words
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())
    async with session_for(emulator.connect) as session:
        result = await session.update(image, update_type=update_type, reset=reset)
    assert result.verification.method is method
    assert words in result.verification.detail
