"""Issue 10, defect 7: every result says how the image was verified. A corrupted byte on the
way to firmware that ignores the Swap checksum (all known firmware) cannot be detected, and the
result says so; checksum-aware firmware refuses the swap and the image is written again."""

from __future__ import annotations

from aiodfu.core.session import VerificationMethod
from aiodfu.drogue.protocol.messages import Write
from aiodfu.testing.drogue import BootMagic
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.transports.memory import LinkFaults

from .conftest import NEW, NEW_VERSION, emulator, session_for

IN_FIRST_BLOCK = frozenset({500})  # a data byte of the first Write frame


async def test_corruption_under_firmware_that_ignores_the_checksum_is_reported_unverified() -> None:
    device = emulator()
    connector = FaultyFirstLink(device, host_to_device=LinkFaults(corrupt_at=IN_FIRST_BLOCK))
    async with device, session_for(connector) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image != NEW  # nothing on the path can notice: the firmware swapped anyway
    assert result.verification.method is VerificationMethod.NONE
    assert not result.verification.verified
    assert "ignores the SHA-256" in result.verification.detail


async def test_checksum_aware_firmware_refuses_a_corrupted_image_and_it_is_rewritten() -> None:
    device = emulator(verify_checksum=True)
    connector = FaultyFirstLink(device, host_to_device=LinkFaults(corrupt_at=IN_FIRST_BLOCK))
    async with device, session_for(connector, firmware_checks_sha256=True) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert result.verification.method is VerificationMethod.DEVICE_DIGEST
    assert any("Swap refused" in error for error in device.errors)
    starts = [c for c in device.commands if isinstance(c, Write) and c.offset == 0]
    assert len(starts) == 2  # written again from offset 0 after the refused swap


async def test_checksum_aware_firmware_takes_an_intact_image_first_time() -> None:
    device = emulator(verify_checksum=True)
    async with device, session_for(device.connect, firmware_checks_sha256=True) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW and not device.errors
    assert result.verification.verified
    assert "SHA-256" in str(result.verification)


async def test_a_device_already_on_the_version_is_not_verified() -> None:
    device = emulator(version=NEW_VERSION)
    async with device, session_for(device.connect, firmware_checks_sha256=True) as session:
        result = await session.update(NEW, version="0.2.0")
    assert result.verification.method is VerificationMethod.NONE
    assert "already ran" in result.verification.detail
