"""Link loss at random points, desync and resets: the update resumes from the device's offset and
ends with an identical image, or fails typed within its timeouts -- never a hang."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import LinkLostError
from aiodfu.drogue import DeviceRevertedError
from aiodfu.drogue.messages import Write
from aiodfu.testing.drogue import BootMagic, BootOutcome
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.transports.memory import LinkFaults

from .conftest import NEW, NEW_VERSION, OLD, emulator, session_for

FRAMES = len(NEW) // 512 + 4  # Writes, Swap, Sync and the statuses around them
WIRE_SPAN = FRAMES * 1024
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(drop_at=st.integers(min_value=1, max_value=WIRE_SPAN), upstream=st.booleans())
@HYPOTHESIS
async def test_link_loss_anywhere_resumes_with_identical_image(
    drop_at: int, upstream: bool
) -> None:
    device = emulator(mtu=512)
    faults = LinkFaults(drop_after=drop_at)
    connector = (
        FaultyFirstLink(device, device_to_host=faults)
        if upstream
        else FaultyFirstLink(device, host_to_device=faults)
    )
    async with device, session_for(connector) as session:
        result = await asyncio.wait_for(session.update(NEW, version="0.2.0"), 30)
    assert device.image == NEW
    assert device.boot_state is BootMagic.BOOT
    assert not device.errors and not device.failures  # no block twice, none out of order
    writes = [c for c in device.commands if isinstance(c, Write)]
    assert sum(len(w.data) for w in writes) == len(NEW)  # resumed, never restarted
    assert result.bytes_moved <= len(NEW)  # a block the device took unconfirmed is not counted


BEFORE_SWAP = -(-len(NEW) // 512) * 1024  # host-to-device bytes of the Write frames


@given(drop_at=st.integers(min_value=1, max_value=BEFORE_SWAP))
@HYPOTHESIS
async def test_power_cut_mid_update_restarts_from_zero(drop_at: int) -> None:
    device = emulator(mtu=512)

    class ResettingConnector(FaultyFirstLink):
        def __call__(self):  # type: ignore[no-untyped-def]
            if self.connections == 1:
                device.reset()  # the power cut that broke the link also reset the device
            return super().__call__()

    connector = ResettingConnector(device, host_to_device=LinkFaults(drop_after=drop_at))
    async with device, session_for(connector) as session:
        await asyncio.wait_for(session.update(NEW, version="0.2.0"), 30)
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert not device.failures


async def test_power_cut_before_confirmation_reverts() -> None:
    device = emulator(mtu=512)

    class ResettingConnector(FaultyFirstLink):
        def __call__(self):  # type: ignore[no-untyped-def]
            if self.connections == 1:
                device.reset()
            return super().__call__()

    after_swap = BEFORE_SWAP + 1024 + 1  # one byte into the Sync frame
    connector = ResettingConnector(device, host_to_device=LinkFaults(drop_after=after_swap))
    async with device, session_for(connector) as session:
        with pytest.raises(DeviceRevertedError):
            await session.update(NEW, version="0.2.0")
    assert device.image == OLD and device.boot_state is BootMagic.REVERT
    assert device.boots == [BootOutcome.SWAPPED, BootOutcome.REVERTED]


async def test_extra_byte_desynchronises_and_the_host_resyncs() -> None:
    device = emulator()
    device.apply(Write(NEW_VERSION, None, 0, NEW[:512]))
    device.faults.extra_bytes = b"\x07"
    async with device, session_for(device.connect) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert result.attempts == 2
    assert not device.errors


async def test_lost_swap_frame_is_sent_again() -> None:
    device = emulator(mtu=968)
    frames_before_swap = (len(NEW) + 959) // 960  # 960-byte blocks, then Swap
    connector = FaultyFirstLink(
        device, host_to_device=LinkFaults(drop_after=frames_before_swap * 1024 + 10)
    )
    async with device, session_for(connector) as session:
        await session.update(NEW, version="0.2.0")
    swaps = [type(c).__name__ for c in device.commands].count("Swap")
    assert swaps == 1 and device.image == NEW and device.boot_state is BootMagic.BOOT
    assert connector.connections == 2


async def test_a_failed_first_open_is_retried() -> None:
    device = emulator()
    opens = 0

    def connector():  # type: ignore[no-untyped-def]
        nonlocal opens
        opens += 1
        if opens == 1:
            raise LinkLostError("the port is not there yet")
        return device.connect()

    async with device, session_for(connector) as session:
        await session.update(NEW, version=NEW_VERSION.decode())
    assert opens == 2
    assert device.image == NEW
    assert device.boot_state is BootMagic.BOOT


async def test_lost_sync_frame_is_sent_again_until_the_device_takes_it() -> None:
    """Issue 10, defect 6: the device re-sends its Status on its own timer when the Sync frame
    never arrives; that Status is no proof of Sync, so the firmware was left unconfirmed."""
    device = emulator(mtu=968)
    sync_frame = -(-len(NEW) // 960) + 1  # the Writes, the Swap, then Sync
    connector = FaultyFirstLink(
        device, host_to_device=LinkFaults(stall_after=sync_frame * 1024 + 10)
    )
    async with device, session_for(connector) as session:
        result = await session.update(NEW, version="0.2.0")
    assert result.details["state"] == "booted"
    assert device.boot_state is BootMagic.BOOT  # confirmed: a reset keeps the new image
    device.reset()
    assert device.image == NEW and device.version == NEW_VERSION
    assert connector.connections == 2
