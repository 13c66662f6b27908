"""Link loss, failed chunks, reboots and silence at random points: the update completes with an
identical image (never a duplicated or missing byte), or fails typed within its timeouts."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import RetriesExhaustedError
from aiodfu.core.transfer import RetryPolicy
from aiodfu.serial_modem import UpdateType
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.serial_modem import SerialModemEmulator, SerialModemFaults
from aiodfu.transports.memory import LinkFaults

from .conftest import APP, BOOTLOADER_SEGMENT, DELTA, FIRMWARE_SEGMENTS, FULL, session_for

IMAGES = {
    UpdateType.APPLICATION: APP,
    UpdateType.MODEM_DELTA: DELTA,
    UpdateType.MODEM_FULL: FULL,
    UpdateType.MCUBOOT_BOOTLOADER: APP,
}
# Bytes the host sends for a whole update, roughly: used to place faults anywhere in it.
WIRE_SPAN = 14_000
HYPOTHESIS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_device_holds(emulator: SerialModemEmulator, update_type: UpdateType) -> None:
    if update_type is UpdateType.MODEM_FULL:
        assert emulator.received[2] == BOOTLOADER_SEGMENT
        assert emulator.modem_firmware_segments() == FIRMWARE_SEGMENTS
        assert emulator.mode == "normal"
    else:
        image = IMAGES[update_type]
        assert emulator.received[update_type.value] == image  # appended: a duplicate would show
        assert emulator.applied[update_type.value] == image


async def run_update(emulator: SerialModemEmulator, connector, update_type: UpdateType):  # type: ignore[no-untyped-def]
    async with session_for(connector, chunk_size=2048) as session:
        return await asyncio.wait_for(
            session.update(IMAGES[update_type], update_type=update_type), timeout=30
        )


@pytest.mark.parametrize("update_type", list(UpdateType))
@given(drop_at=st.integers(min_value=1, max_value=WIRE_SPAN), upstream=st.booleans())
@HYPOTHESIS
async def test_link_loss_anywhere_recovers_with_identical_image(
    update_type, drop_at, upstream
) -> None:  # type: ignore[no-untyped-def]
    emulator = SerialModemEmulator()
    faults = LinkFaults(drop_after=drop_at if not upstream else max(drop_at // 20, 1))
    connector = (
        FaultyFirstLink(emulator, device_to_host=faults)
        if upstream
        else FaultyFirstLink(emulator, host_to_device=faults)
    )
    try:
        result = await run_update(emulator, connector, update_type)
    finally:
        await emulator.aclose()
    assert_device_holds(emulator, update_type)
    assert not emulator.failures
    if connector.connections > 1:
        assert result.attempts >= 1


@pytest.mark.parametrize("update_type", list(UpdateType))
@given(stall_at=st.integers(min_value=1, max_value=WIRE_SPAN))
@settings(HYPOTHESIS, max_examples=5)  # each example waits out real timeouts
async def test_stalled_link_times_out_then_recovers(update_type, stall_at) -> None:  # type: ignore[no-untyped-def]
    emulator = SerialModemEmulator()
    connector = FaultyFirstLink(emulator, host_to_device=LinkFaults(stall_after=stall_at))
    try:
        await run_update(emulator, connector, update_type)
    finally:
        await emulator.aclose()
    assert_device_holds(emulator, update_type)


@pytest.mark.parametrize(
    ("update_type", "chunks"),
    [(UpdateType.APPLICATION, 6), (UpdateType.MODEM_DELTA, 5), (UpdateType.MODEM_FULL, 10)],
)
@given(data=st.data())
@HYPOTHESIS
async def test_failed_chunk_restarts_the_image_never_retries_it(update_type, chunks, data) -> None:  # type: ignore[no-untyped-def]
    chunk = data.draw(st.integers(min_value=0, max_value=chunks - 1), label="failing chunk")
    emulator = SerialModemEmulator(faults=SerialModemFaults(fail_chunks={chunk}))
    try:
        result = await run_update(emulator, emulator.connect, update_type)
    finally:
        await emulator.aclose()
    assert_device_holds(emulator, update_type)
    assert result.attempts == 2


@pytest.mark.parametrize("update_type", list(UpdateType))
@given(at=st.integers(min_value=1, max_value=9_000))
@HYPOTHESIS
async def test_reboot_mid_transfer_restarts_cleanly(update_type, at) -> None:  # type: ignore[no-untyped-def]
    emulator = SerialModemEmulator(faults=SerialModemFaults(reboot_after_data_bytes=at))
    try:
        await run_update(emulator, emulator.connect, update_type)
    finally:
        await emulator.aclose()
    assert_device_holds(emulator, update_type)


async def test_unsolicited_lines_between_every_step_are_ignored(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    noise = [
        b"\r\n+CEREG: 5\r\n",
        b"\r\n#XMODEM: 1\r\n",
        b"\r\nOK\r\n",
        b"\r\n#XDATAMODE: 0\r\n",
    ] * 20
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(unsolicited=noise)))
    async with session_for(emulator.connect, chunk_size=1024) as session:
        result = await session.update(APP, reset=True)
    assert emulator.active_app == APP
    assert result.attempts == 1


async def test_late_ok_for_a_write_is_a_timeout_then_recovery(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(ok_delay=1.5)))
    async with session_for(emulator.connect, chunk_size=4096) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(APP)
    assert "AT#XDFUWRITE" in str(info.value)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert 0 not in emulator.applied  # a garbled image was never applied


async def test_a_device_that_never_answers_fails_typed_within_its_timeouts(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(silent=True)))
    session = session_for(emulator.connect, retry=RetryPolicy(attempts=2, initial_delay=0))
    with pytest.raises(RetriesExhaustedError) as info:
        await asyncio.wait_for(session.update(APP), timeout=20)  # a hang fails here, not typed
    await session.aclose()
    assert isinstance(info.value.__cause__, TimeoutError)
    assert info.value.operation == "AT"
    assert "connect failed after 2 attempt(s)" in str(info.value)


async def test_link_lost_on_every_connection_gives_up_typed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator())

    def always_breaks():  # type: ignore[no-untyped-def]
        return emulator.connect(host_to_device=LinkFaults(drop_after=3000))

    async with session_for(always_breaks, chunk_size=1024) as session:
        with pytest.raises(RetriesExhaustedError) as info:
            await session.update(APP)
    assert info.value.offset is not None
    assert 0 not in emulator.applied
