"""Updates against the emulated device: the active image byte for byte, state BOOT; the revert
path; resume from the device's offset; a restart on another version; a pty and a real port."""

from __future__ import annotations

import pytest

from aiodfu.core.integrity import sha256
from aiodfu.drogue import DeviceRevertedError
from aiodfu.drogue import open as open_serial_session
from aiodfu.drogue.protocol.messages import Swap, Sync, Write
from aiodfu.testing.drogue import BootMagic, BootOutcome
from aiodfu.testing.pty import serve_pty

from .conftest import FAST_RETRY, FAST_TIMEOUTS, NEW, NEW_VERSION, OLD, emulator, session_for


@pytest.mark.parametrize("mtu", [16, 64, 512, 968, 4096])
async def test_update_installs_image_byte_for_byte(mtu: int) -> None:
    device = emulator(mtu=mtu)
    async with device, session_for(device.connect) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW
    assert device.version == NEW_VERSION
    assert device.boot_state is BootMagic.BOOT
    assert device.dfu_image == OLD  # the swap keeps the old image for a revert
    assert device.checksums == [sha256(NEW)]
    writes = [c for c in device.commands if isinstance(c, Write)]
    assert max(len(w.data) for w in writes) == min(mtu, 968) // 8 * 8
    # Two Syncs: over serial a Status echoes even a frame the device could not decode.
    assert [type(c) for c in device.commands[-3:]] == [Swap, Sync, Sync]
    assert result.details["state"] == "booted"
    assert result.details["previous_version"] == "0.1.0"
    assert not device.errors and not device.failures


async def test_unaligned_image_is_padded_with_erased_flash() -> None:
    image = NEW[:1001]
    device = emulator(write_size=8)
    async with device, session_for(device.connect) as session:
        await session.update(image, version="0.2.0")
    assert device.image == image + b"\xff" * 7
    assert not device.errors


async def test_revert_raises_typed_error_and_keeps_old_image() -> None:
    device = emulator()
    device.faults.new_firmware_fails_to_boot = True
    async with device, session_for(device.connect) as session:
        with pytest.raises(DeviceRevertedError) as caught:
            await session.update(NEW, version="0.2.0")
    assert device.image == OLD
    assert device.version == b"0.1.0"
    assert device.boot_state is BootMagic.REVERT
    assert device.boots == [BootOutcome.SWAPPED, BootOutcome.REVERTED]
    assert "0.1.0" in str(caught.value.status)


async def test_unconfirmed_firmware_reverts_on_the_next_reset() -> None:
    device = emulator()
    async with device, session_for(device.connect, confirm=False) as session:
        result = await session.update(NEW, version="0.2.0")
    assert result.details["state"] == "running, unconfirmed"
    assert device.image == NEW and device.boot_state is BootMagic.SWAP
    device.reset()
    assert device.image == OLD and device.boot_state is BootMagic.REVERT


async def test_resumes_from_the_device_offset() -> None:
    device = emulator(mtu=512)
    device.apply(Write(NEW_VERSION, None, 0, NEW[:2048]))
    async with device, session_for(device.connect) as session:
        result = await session.update(NEW, version="0.2.0")
    writes = [c for c in device.commands if isinstance(c, Write)]
    assert writes[1].offset == 2048  # the first Write is the one applied above
    assert result.details["resumed_at"] == "2048"
    assert result.bytes_moved == len(NEW) - 2048
    assert device.image == NEW


async def test_other_version_in_progress_starts_over_from_zero() -> None:
    device = emulator()
    device.apply(Write(b"0.3.0", None, 0, NEW[:1024]))
    async with device, session_for(device.connect) as session:
        await session.update(NEW, version="0.2.0")
    writes = [c for c in device.commands if isinstance(c, Write)]
    assert writes[1].offset == 0 and writes[1].version == NEW_VERSION
    assert device.image == NEW


async def test_device_already_running_the_version_is_synced() -> None:
    device = emulator(version=NEW_VERSION)
    async with device, session_for(device.connect) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.commands == [Sync(NEW_VERSION)] * 2
    assert result.details["state"] == "already up to date"
    assert device.image == OLD  # nothing was written: the version says it all


async def test_partial_read_device_works_with_whole_frame_writes() -> None:
    device = emulator(partial_reads=True)
    async with device, session_for(device.connect) as session:
        await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT


async def test_status_query_keeps_lock_step() -> None:
    device = emulator()
    async with device, session_for(device.connect) as session:
        first = await session.status()
        await session.update(NEW, version="0.2.0")
    assert first.version == b"0.1.0" and first.mtu == 512
    assert device.image == NEW


async def test_update_over_a_pty_with_the_serial_port_session() -> None:
    device = emulator(reboot_time=0.05)
    async with serve_pty(device) as path:
        session = open_serial_session(path, timeouts=FAST_TIMEOUTS, retry=FAST_RETRY)
        async with session:
            await session.update(NEW, version="0.2.0")
    assert device.image == NEW
    assert device.boot_state is BootMagic.BOOT
    assert not device.failures
