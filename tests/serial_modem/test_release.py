"""However a session ends, the next one can update the device (issue 10, defect 1).

A session that gives up or is cancelled mid-chunk must finish the data mode
it left pending (the release), and a fresh session must also free a modem it
finds stuck in data mode by someone else (the handshake), because an ``AT``
sent to such a modem is swallowed as firmware.
"""

from __future__ import annotations

import asyncio

import attrs
import pytest

from aiodfu.core.errors import DfuError, RetriesExhaustedError
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.serial_modem import SerialModemEmulator, SerialModemFaults
from aiodfu.transports.memory import LinkFaults, LinkModel

from .conftest import APP, FAST_TIMEOUTS, session_for

NO_FLOW_CONTROL = LinkModel(baud=1_000_000, rx_buffer=256, flow_control=False)


async def assert_a_fresh_session_updates(
    emulator: SerialModemEmulator, connector=None, **options
) -> None:  # type: ignore[no-untyped-def]
    async with session_for(connector or emulator.connect, **options) as session:
        result = await asyncio.wait_for(session.update(APP, reset=True), timeout=60)
    assert emulator.received[0] == APP
    assert emulator.active_app == APP
    assert result.details["application"] == "2.1.0+3"


async def wait_for_data_mode(emulator: SerialModemEmulator) -> None:
    async with asyncio.timeout(30):
        while not emulator.in_data_mode:  # noqa: ASYNC110 - polls the device, not an event
            await asyncio.sleep(0.002)


async def test_late_ok_for_a_write_leaves_no_data_mode_behind(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(faults=SerialModemFaults(ok_delay=1.5)))
    async with session_for(emulator.connect, chunk_size=4096) as session:
        with pytest.raises(RetriesExhaustedError):
            await session.update(APP)
    assert not emulator.in_data_mode
    emulator.faults.ok_delay = 0.0
    await assert_a_fresh_session_updates(emulator)


async def test_uart_overflow_without_flow_control_leaves_no_data_mode_behind(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    # Without RTS/CTS, bytes arriving while the device writes flash are lost: a 4 KiB chunk never
    # completes. Chunks no larger than the data-mode buffer do (the device reads them whole).
    emulator = aiodfu_emulators(
        SerialModemEmulator(
            link_model=NO_FLOW_CONTROL, datamode_buffer=1024, flash_write_rate=20_000
        )
    )
    async with session_for(emulator.connect, chunk_size=4096) as session:
        with pytest.raises(DfuError):
            await asyncio.wait_for(session.update(APP), timeout=60)
    assert not emulator.in_data_mode
    # Still without flow control, but with a receive buffer (2048 bytes, as on a Thingy:91 X) that
    # a busy test machine cannot overflow at 115200 baud.
    roomy = LinkModel(baud=115_200, rx_buffer=2048, flow_control=False)
    await assert_a_fresh_session_updates(
        emulator, lambda: emulator.connect(model=roomy), chunk_size=1024, baudrate=115_200
    )


async def test_task_cancelled_mid_chunk_propagates_and_leaves_no_data_mode_behind(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(link_model=LinkModel(baud=38_400)))
    async with session_for(emulator.connect, chunk_size=4096, baudrate=38_400) as session:
        task = asyncio.create_task(session.update(APP))
        await wait_for_data_mode(emulator)
        await asyncio.sleep(0.1)  # well inside the first chunk's 1.07 s on the wire
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=30)  # a hang fails here
        assert task.cancelled()
    assert not emulator.in_data_mode
    await assert_a_fresh_session_updates(emulator, baudrate=38_400)


async def test_wait_for_timeout_mid_chunk_leaves_no_data_mode_behind(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(SerialModemEmulator(link_model=LinkModel(baud=38_400)))
    async with session_for(emulator.connect, chunk_size=4096, baudrate=38_400) as session:
        with pytest.raises(TimeoutError):
            # The first chunk occupies the wire from about 0.01 s to 1.08 s.
            await asyncio.wait_for(session.update(APP), timeout=0.5)
    assert not emulator.in_data_mode
    await assert_a_fresh_session_updates(emulator, baudrate=38_400)


@pytest.mark.parametrize("announced", [4096, 20_000])
async def test_a_fresh_session_frees_a_modem_another_host_left_in_data_mode(
    aiodfu_emulators, announced
) -> None:  # type: ignore[no-untyped-def]
    # Another program (or a crashed process) announced a chunk and sent only part of it: the
    # fresh session cannot know how many bytes are outstanding.
    emulator = aiodfu_emulators(SerialModemEmulator())
    stream = emulator.connect()
    await stream.write(b"AT#XDFUINIT=0,30000\rAT#XDFUWRITE=0,0,%d\r" % announced)
    await stream.write(b"\x55" * 100)
    await wait_for_data_mode(emulator)
    await stream.aclose()
    await assert_a_fresh_session_updates(emulator, chunk_size=1024)
    assert not emulator.in_data_mode


async def test_cancellation_still_propagates_when_the_device_no_longer_listens(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    # The link stalls mid-chunk: the release cannot reach the device, gives up within its bound,
    # and the cancellation (not an error of the release) reaches the caller.
    emulator = aiodfu_emulators(SerialModemEmulator())
    timeouts = attrs.evolve(FAST_TIMEOUTS, release=0.5)
    connector = FaultyFirstLink(emulator, host_to_device=LinkFaults(stall_after=3000))
    async with session_for(connector, chunk_size=4096, timeouts=timeouts) as session:
        task = asyncio.create_task(session.update(APP))
        await wait_for_data_mode(emulator)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=30)
    await assert_a_fresh_session_updates(emulator)
