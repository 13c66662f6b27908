"""Chunks sized from the link (issue 14), end to end: every update type at several baud rates
ends with the device holding exactly the image sent, and each chunk keeps its type's rules."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.serial_modem import UpdateType
from aiodfu.serial_modem.sizing import ADDRESSED_CHUNK_MAX, GRANULE
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.images import build_full_modem_package, build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator, SerialModemFaults
from aiodfu.testing.serial_modem.signing import (
    build_signed_modem_bootloader,
    build_signed_modem_delta,
)
from aiodfu.transports.memory import LinkFaults, LinkModel

from .conftest import session_for

LATENCY = 0.005  # every command costs at least this: chunk sizing always has something to amortise
BIG_APP = build_mcuboot_image(random_firmware(36_000, seed=20), version=(3, 0, 0, 1))
BIG_DELTA = build_signed_modem_delta(random_firmware(30_000, seed=21))
SEGMENTS = [(0x50000, random_firmware(13_000, seed=22)), (0x90000, random_firmware(5_000, 23))]
BOOTLOADER = build_signed_modem_bootloader(random_firmware(14_000, seed=24), SEGMENTS)
BIG_FULL = build_full_modem_package(BOOTLOADER, SEGMENTS)
IMAGES = {
    UpdateType.APPLICATION: BIG_APP,
    UpdateType.MODEM_DELTA: BIG_DELTA,
    UpdateType.MODEM_FULL: BIG_FULL,
    UpdateType.MCUBOOT_BOOTLOADER: BIG_APP,
}


def writes(emulator: SerialModemEmulator) -> list[tuple[int, int]]:
    """``(address, length)`` of every ``AT#XDFUWRITE``, in order."""
    found = []
    for command in emulator.commands:
        if command.startswith("AT#XDFUWRITE="):
            _type, address, length = command.split("=", 1)[1].split(",")
            found.append((int(address), int(length)))
    return found


@pytest.mark.parametrize("update_type", list(UpdateType))
@pytest.mark.parametrize("baud", [115_200, 1_000_000, 3_000_000])
async def test_sized_chunks_deliver_the_identical_image(
    aiodfu_emulators, baud, update_type
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(
            link_model=LinkModel(baud=baud, rx_buffer=4096, tx_buffer=4096),
            command_latency=LATENCY,
        )
    )
    async with session_for(emulator.connect, baudrate=baud) as session:
        await asyncio.wait_for(session.update(IMAGES[update_type], update_type=update_type), 60)
    chunks = writes(emulator)
    if update_type is UpdateType.MODEM_FULL:
        assert emulator.received[2] == BOOTLOADER
        assert emulator.modem_firmware_segments() == SEGMENTS
        assert emulator.mode == "normal"
        firmware = [(address, length) for address, length in chunks if address >= 0x50000]
        assert all(length <= ADDRESSED_CHUNK_MAX for _, length in firmware)
        expected = [address + at for address, data in SEGMENTS for at in range(0, len(data), 4096)]
        assert [address for address, _ in firmware] == expected
        appended = [length for address, length in chunks if address < 0x50000]
    else:
        image = IMAGES[update_type]
        assert emulator.received[update_type.value] == image
        assert emulator.applied[update_type.value] == image
        appended = [length for _, length in chunks]
    # Two round trips of >= 5 ms are over 2 % of a 4096-byte chunk's wire time at any of
    # these rates, so the appended streams go out in bigger chunks, in whole buffers.
    assert max(appended) > GRANULE
    assert all(length % GRANULE == 0 for length in appended[:-1])


async def test_without_flow_control_chunks_fit_the_data_mode_buffer(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    # The device drops what arrives while it writes flash: in a chunk larger than its buffer,
    # the 0.4 s write of the first 4096 bytes would overflow the 2048-byte receive buffer;
    # a chunk that fits is read whole before the write.
    model = LinkModel(baud=115_200, rx_buffer=2048, flow_control=False)
    emulator = aiodfu_emulators(
        SerialModemEmulator(link_model=model, command_latency=LATENCY, flash_write_rate=10_000)
    )
    image = build_mcuboot_image(random_firmware(11_000, seed=25))
    async with session_for(emulator.connect, baudrate=115_200, flow_control=False) as session:
        await asyncio.wait_for(session.update(image), 60)
    assert emulator.received[0] == image
    assert all(length <= GRANULE for _, length in writes(emulator))


@pytest.mark.parametrize("chunk_size", [1000, 4096, 20_000])
async def test_an_explicit_chunk_size_overrides_the_sizing(aiodfu_emulators, chunk_size) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(link_model=LinkModel(baud=1_000_000), command_latency=LATENCY)
    )
    async with session_for(emulator.connect, baudrate=1_000_000, chunk_size=chunk_size) as s:
        await asyncio.wait_for(s.update(BIG_APP), 60)
    assert emulator.received[0] == BIG_APP
    lengths = [length for _, length in writes(emulator)]
    assert set(lengths[:-1]) == {chunk_size} and lengths[-1] <= chunk_size


# --- faults inside sized chunks: the recovery sends filler for the whole announced chunk ----

LARGE_APP = build_mcuboot_image(random_firmware(200_000, seed=26))
FAST_LINK = LinkModel(baud=1_000_000, rx_buffer=4096, tx_buffer=4096)


@pytest.mark.parametrize("upstream", [False, True])
async def test_a_link_lost_inside_a_sized_chunk_restarts_with_the_identical_image(
    aiodfu_emulators, upstream
) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(link_model=FAST_LINK, command_latency=LATENCY, slot_size=1 << 20)
    )
    # Downstream: 120 kB into the data; upstream: inside the first chunk's #XDFU line (the
    # handshake, the type list and INIT's OK take 52 bytes, the chunk's OK 6 more).
    fault = LinkFaults(drop_after=120_000) if not upstream else LinkFaults(drop_after=70)
    connector = (
        FaultyFirstLink(emulator, device_to_host=fault)
        if upstream
        else FaultyFirstLink(emulator, host_to_device=fault)
    )
    async with session_for(connector, baudrate=1_000_000) as session:
        result = await asyncio.wait_for(session.update(LARGE_APP), 60)
    assert [(number, fault.kind) for number, fault in connector.fired] == [(1, "drop")]
    # (A loaded machine may need a second reopen while the filler drains: not counted exactly.)
    assert connector.connections >= 2
    assert emulator.received[0] == LARGE_APP  # appended: a duplicated byte would show
    assert emulator.applied[0] == LARGE_APP
    assert result.attempts >= 2
    assert max(length for _, length in writes(emulator)) > GRANULE


async def test_a_failed_sized_chunk_restarts_the_image_never_retries_it(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(
            link_model=FAST_LINK,
            command_latency=LATENCY,
            slot_size=1 << 20,
            faults=SerialModemFaults(fail_chunks={1}),
        )
    )
    async with session_for(emulator.connect, baudrate=1_000_000) as session:
        result = await asyncio.wait_for(session.update(LARGE_APP), 60)
    assert emulator.received[0] == LARGE_APP
    assert result.attempts == 2


async def test_cancelled_inside_a_sized_chunk_leaves_no_data_mode_behind(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    emulator = aiodfu_emulators(
        SerialModemEmulator(link_model=FAST_LINK, command_latency=LATENCY, slot_size=1 << 20)
    )
    async with session_for(emulator.connect, baudrate=1_000_000) as session:
        task = asyncio.create_task(session.update(LARGE_APP))
        async with asyncio.timeout(30):
            while not emulator.in_data_mode:  # noqa: ASYNC110 - polls the device, not an event
                await asyncio.sleep(0.002)
        await asyncio.sleep(0.05)  # well inside a chunk of at least 73 kB (0.7 s of wire)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=30)
    assert not emulator.in_data_mode
    assert max(length for _, length in writes(emulator)) > GRANULE
    async with session_for(emulator.connect, baudrate=1_000_000) as session:
        await asyncio.wait_for(session.update(LARGE_APP), 60)
    assert emulator.applied[0] == LARGE_APP
