"""Link loss at random points, desync and resets: the update resumes from the device's offset and
ends with an identical image, or fails typed within its timeouts -- never a hang."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import LinkLostError
from aiodfu.drogue import DeviceRevertedError
from aiodfu.drogue import open as open_serial_session
from aiodfu.drogue.protocol.messages import Write
from aiodfu.testing.drogue import BootMagic, BootOutcome, DrogueEmulator
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.pty import serve_pty
from aiodfu.transports.memory import LinkFaults, LinkModel, MemoryStream

from .conftest import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    NEW,
    NEW_VERSION,
    NO_RETRY,
    OLD,
    emulator,
    session_for,
)

FRAMES = len(NEW) // 512 + 4  # Writes, Swap, Sync and the statuses around them
SYNC_AT = (-(-len(NEW) // 960) + 1) * 1024
"""With 960-byte blocks (mtu 968), the first byte host -> device of the Sync frame."""
WIRE_SPAN = FRAMES * 1024
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(drop_at=st.integers(min_value=1, max_value=WIRE_SPAN), upstream=st.booleans())
@example(drop_at=2048, upstream=True)  # a Status read on the lost link, answered on the new one
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


class MidFrameOpen(FaultyFirstLink):
    """The first link opens ``skip`` bytes into the device's first Status frame, as a serial
    port opened (and flushed by pyserial) while the device is sending does."""

    def __init__(self, device: DrogueEmulator, skip: int) -> None:
        super().__init__(device)
        self.skip = skip

    async def __call__(self) -> MemoryStream:  # type: ignore[override]
        stream = super().__call__()
        if self.connections == 1:
            missed = 0
            while missed < self.skip:
                missed += len(await stream.read(self.skip - missed))
        return stream


@given(skip=st.integers(min_value=1, max_value=1023))
@settings(max_examples=10, deadline=None)
async def test_a_port_opened_mid_frame_resynchronises_on_the_next_frame(skip: int) -> None:
    """Issue 10, defect 8: the rest of the frame is read as the start of a Status (zeros: an
    empty version, no update), and every later frame straddles two of the device's frames."""
    device = emulator()
    connector = MidFrameOpen(device, skip)
    async with device, session_for(connector, retry=NO_RETRY) as session:
        await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert not device.errors and connector.connections == 1


async def test_a_second_update_shortly_after_the_first_over_a_pty() -> None:
    """Issue 10, defect 8 as reported: 0.2.0, then 0.3.0 a moment later, each session opening
    the port (pyserial flushes its input) while the device may be sending."""
    device = emulator(link_model=LinkModel(baud=115200))
    third = NEW[::-1]
    async with serve_pty(device) as path:
        for version, image in (("0.2.0", NEW), ("0.3.0", third)):
            session = open_serial_session(path, timeouts=FAST_TIMEOUTS, retry=FAST_RETRY)
            async with session:
                result = await session.update(image, version=version)
            assert result.details["state"] == "booted"
            await asyncio.sleep(0.35)  # the device re-sends its Status meanwhile
    assert device.image == third and device.version == b"0.3.0"
    assert device.boot_state is BootMagic.BOOT


@pytest.mark.parametrize("lost", [1024 + 600, 3 * 1024 + 5])
async def test_a_byte_lost_on_the_way_to_the_device_costs_one_timeout_not_the_image(
    lost: int,
) -> None:
    """The device drops a partial command frame when its updater times out (the read is
    abandoned with the request), so the frame sent next is read whole, not shifted by a byte."""
    device = emulator()
    connector = FaultyFirstLink(device, host_to_device=LinkFaults(lose_at={lost}))
    async with device, session_for(connector) as session:
        result = await session.update(NEW, version="0.2.0")
    assert device.image == NEW and device.boot_state is BootMagic.BOOT
    assert result.details["state"] == "booted"
    assert connector.connections == 1  # recovered on the same link


@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(0x01, id="Sync read as Wait: not decodable, its Status still echoes"),
        pytest.param(0x03, id="Sync read as an empty Write at 0: a new update begins"),
    ],
)
async def test_a_corrupted_sync_is_never_taken_for_a_confirmation(mask: int) -> None:
    """The serial protocol's only acknowledgement is the Status echoing a command frame's tail,
    and a device echoes a frame it could not decode, or decoded as another command, all the
    same. A Sync whose first byte was hit must not count: the firmware would stay unconfirmed
    while the session says "booted" (it did, before a second Sync was required)."""
    device = emulator(mtu=968)
    connector = FaultyFirstLink(device, host_to_device=LinkFaults(flip_bits={SYNC_AT: mask}))
    async with device, session_for(connector) as session:
        result = await session.update(NEW, version="0.2.0")
    assert [(fault.kind, fault.at) for _, fault in connector.fired] == [("corrupt", SYNC_AT)]
    assert result.details["state"] == "booted"
    assert device.boot_state is BootMagic.BOOT  # confirmed: a reset keeps the new image
    device.reset()
    assert device.image[: len(NEW)] == NEW and device.version == NEW_VERSION


async def test_a_sync_corrupted_into_a_swap_is_a_typed_failure_a_fresh_session_mends() -> None:
    """Read as Swap, the Sync makes the device swap back to the old firmware: no success can
    be claimed (the device reports a revert), and the next session updates it again."""
    device = emulator(mtu=968)
    connector = FaultyFirstLink(device, host_to_device=LinkFaults(flip_bits={SYNC_AT: 0x02}))
    async with device:
        async with session_for(connector) as session:
            with pytest.raises(DeviceRevertedError):
                await session.update(NEW, version="0.2.0")
        assert device.version == b"0.1.0"
        async with session_for(device.connect) as session:
            result = await session.update(NEW, version="0.2.0")
    assert result.details["state"] == "booted" and device.boot_state is BootMagic.BOOT
    assert device.image[: len(NEW)] == NEW and device.version == NEW_VERSION
