"""Faults on the wire and on the board: a verified image, or a typed error and a board that a
fresh session then updates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import attrs
import pytest

from aiodfu.core.errors import DfuError, RetriesExhaustedError
from aiodfu.core.progress import Progress
from aiodfu.nrf5_legacy import BootloaderStuckError
from aiodfu.testing import FaultyLinks, LinkFaults, LinkPlan, random_link_plan
from aiodfu.testing.nrf5_legacy_serial import AdafruitBoard, AdafruitSerialEmulator

from .conftest import BOARDS, NEW_APP, UART, USB, app_package, session_for

MakeBoard = Callable[..., AdafruitSerialEmulator]

# An update of NEW_APP sends about 21 500 bytes host -> device; acks are 6 bytes each.
MID_DATA = 9_000
ACKS_IN = 6 * 8  # the 8th ack (a data packet's)


def _in_dfu(
    make_board: MakeBoard, board: AdafruitBoard, **options: object
) -> AdafruitSerialEmulator:
    """A board already in DFU mode, so that link 1 carries the transfer (entering reconnects)."""
    return make_board(board, in_bootloader=True, **options)


async def _update(
    emulator: AdafruitSerialEmulator, connector: FaultyLinks, **options: object
) -> int:
    async with session_for(emulator, connector=connector, **options) as session:
        result = await session.update(app_package())
    assert emulator.application == NEW_APP
    return int(result.details["retransmissions"])


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(LinkFaults(lose_at={MID_DATA}), id="lost-byte"),
        pytest.param(LinkFaults(flip_bits={MID_DATA: 0x10}), id="flipped-bit"),
        pytest.param(LinkFaults(duplicate_at={MID_DATA}), id="duplicated-byte"),
        pytest.param(LinkFaults(insert_before={MID_DATA: b"\xc0\x00\xc0"}), id="garbage"),
        pytest.param(
            LinkFaults(lose_at=set(range(MID_DATA, MID_DATA + 700))), id="lost-whole-packet"
        ),
    ],
)
async def test_a_damaged_packet_is_retransmitted_in_the_same_attempt(
    make_board: MakeBoard, board: AdafruitBoard, faults: LinkFaults
) -> None:
    emulator = _in_dfu(make_board, board)
    connector = FaultyLinks(emulator, {1: LinkPlan(host_to_device=faults)})
    assert await _update(emulator, connector) >= 1
    assert connector.fired
    assert connector.connections == 1  # no reconnection: the link layer repaired it


@pytest.mark.parametrize("board", BOARDS)
async def test_a_lost_ack_makes_a_duplicate_that_the_bootloader_drops(
    make_board: MakeBoard, board: AdafruitBoard
) -> None:
    emulator = _in_dfu(make_board, board)
    lost_ack = LinkFaults(lose_at=set(range(ACKS_IN, ACKS_IN + 6)))
    connector = FaultyLinks(emulator, {1: LinkPlan(device_to_host=lost_ack)})
    # one packet at a time, so no later ack confirms the lost one's packet
    assert await _update(emulator, connector, window=1) >= 1
    assert emulator.chip.wrong_sequence >= 1  # the retransmitted copy was acked, not taken
    assert emulator.chip.dropped_after_ack == 0


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("fault", ["drop", "stall"])
async def test_a_lost_or_silent_link_restarts_the_part_cleanly(
    make_board: MakeBoard, board: AdafruitBoard, fault: str
) -> None:
    emulator = _in_dfu(make_board, board)
    faults = (
        LinkFaults(drop_after=MID_DATA) if fault == "drop" else LinkFaults(stall_after=MID_DATA)
    )
    connector = FaultyLinks(emulator, {1: LinkPlan(host_to_device=faults)})
    async with session_for(emulator, connector=connector) as session:
        result = await session.update(app_package())
    assert emulator.application == NEW_APP
    assert result.attempts == 2
    assert connector.connections >= 2


async def test_a_reset_mid_transfer_restarts_the_part_on_native_usb(
    make_board: MakeBoard,
) -> None:
    """USB goes away with the reset: the session sees it at once and starts the part again."""
    emulator = make_board(USB)
    pressed = _press_reset_halfway(emulator)
    async with session_for(emulator) as session:
        result = await session.update(app_package(), progress=pressed)
    assert emulator.application == NEW_APP
    assert result.attempts == 2


async def test_a_reset_mid_transfer_on_a_uart_board(make_board: MakeBoard) -> None:
    """A UART board's reboot shows only as an ack with an unexpected sequence number, which
    a window of acks can mistake for progress (the bootloader then takes the rest of the
    stream as a fresh session: it ignores the data and blocks on the stop packet). Either
    way: a verified image, or a typed error and a fresh session -- whose connector resets
    the board as DTR does -- updates it."""
    emulator = make_board(UART)
    try:
        async with session_for(emulator) as session:
            await session.update(app_package(), progress=_press_reset_halfway(emulator))
    except DfuError:

        def dtr_reset_then_connect() -> object:
            emulator.reset()
            return emulator.connect()

        async with session_for(emulator, connector=dtr_reset_then_connect) as fresh:
            await fresh.update(app_package())
    assert emulator.application == NEW_APP


def _press_reset_halfway(emulator: AdafruitSerialEmulator) -> Callable[[Progress], None]:
    pressed: list[int] = []

    def press(progress: Progress) -> None:
        if progress.done >= len(NEW_APP) // 2 and not pressed:
            pressed.append(progress.done)
            emulator.reset()

    return press


async def test_packets_lost_after_their_ack_are_caught(make_board: MakeBoard) -> None:
    """A UART board taken for a native-USB one: its queue overflows during page writes.

    The bootloader acknowledged the lost packets, so only its image check can tell: it
    does not activate the image, and the session restarts the part holding back more.
    If the stop packet stuck first in the bootloader's queue, the bootloader ignores
    everything (a typed error says so) until its DFU timeout -- after which a fresh
    session, told the truth about the board, updates it.
    """
    board = attrs.evolve(UART, word_write=5e-5, dfu_timeout=1.0)  # 51 ms page writes
    emulator = make_board(board)
    try:
        async with session_for(emulator, native_usb=True, window=3) as session:
            result = await session.update(app_package())
        assert result.attempts >= 2
    except (BootloaderStuckError, RetriesExhaustedError) as exc:
        failure = exc
        await asyncio.sleep(board.dfu_timeout)
        async with session_for(emulator, native_usb=False) as fresh:
            await fresh.update(app_package())
        assert isinstance(failure, BootloaderStuckError) or "did not activate" in str(failure)
    assert emulator.chip.dropped_after_ack > 0
    assert emulator.application == NEW_APP


@pytest.mark.parametrize("board", BOARDS)
async def test_cancelling_leaves_a_board_a_fresh_session_updates(
    make_board: MakeBoard, board: AdafruitBoard
) -> None:
    emulator = make_board(board)
    session = session_for(emulator)
    tasks: list[asyncio.Task[object]] = []

    def cancel_halfway(progress: Progress) -> None:
        if progress.done > len(NEW_APP) // 2:
            tasks[0].cancel()  # as Ctrl-C would, in the middle of the data

    async with session:
        tasks.append(asyncio.create_task(session.update(app_package(), progress=cancel_halfway)))
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
    assert session.device.reboots == 1  # release rebooted it out of the half-done session
    async with session_for(emulator) as fresh:
        await fresh.update(app_package())
    assert emulator.application == NEW_APP


@pytest.mark.parametrize("board", [USB, UART], ids=["nrf52840-usb", "nrf52832-uart"])
@pytest.mark.parametrize("seed", range(12))
async def test_random_link_faults(make_board: MakeBoard, board: AdafruitBoard, seed: int) -> None:
    plan = random_link_plan(random.Random(seed), 22_000, upstream_span=6 * 50)
    emulator = _in_dfu(make_board, board)
    connector = FaultyLinks(emulator, {1: plan})
    try:
        async with session_for(emulator, connector=connector) as session:
            await session.update(app_package())
    except DfuError:
        async with session_for(emulator) as fresh:  # typed error: a fresh session recovers
            await fresh.update(app_package())
    assert emulator.application == NEW_APP, plan.description
