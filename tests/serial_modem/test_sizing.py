"""Chunk sizing (issue 14): pure arithmetic on given measurements, no clocks involved."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.image import FirmwareImage
from aiodfu.formats import load_image
from aiodfu.serial_modem import SerialModemSession, UpdateType, build_payload
from aiodfu.serial_modem.sizing import (
    ADDRESSED_CHUNK_MAX,
    GRANULE,
    MAX_CHUNK,
    TARGET_OVERHEAD,
    ChunkSizer,
)
from aiodfu.serial_modem.transfers import AppendingTransfer, FullModemTransfer

from .conftest import BOOTLOADER_SEGMENT, FIRMWARE_SEGMENTS, FULL


def test_nothing_measured_means_nordics_chunk() -> None:
    assert ChunkSizer(115_200).size() == GRANULE
    assert ChunkSizer(None).size() == GRANULE


def test_a_measured_round_trip_sizes_the_first_chunk_so_it_costs_the_target_share() -> None:
    sizer = ChunkSizer(1_000_000)
    sizer.observe_round_trip(0.007)
    size = sizer.size()
    wire = size * 10 / 1_000_000
    assert size % GRANULE == 0
    assert TARGET_OVERHEAD * wire >= 2 * 0.007  # big enough: two round trips are <= 2 % of it
    assert TARGET_OVERHEAD * (size - GRANULE) * 10 / 1_000_000 < 2 * 0.007  # and no bigger
    assert size == 73_728


def test_the_same_round_trip_asks_for_smaller_chunks_on_a_slower_link() -> None:
    sizes = {}
    for baud in (115_200, 1_000_000, 3_000_000):
        sizer = ChunkSizer(baud)
        sizer.observe_round_trip(0.006)
        sizes[baud] = sizer.size()
    assert sizes[115_200] < sizes[1_000_000] < sizes[3_000_000]
    assert sizes[115_200] == 8192  # 12 ms is 1.7 % of 8192 bytes' 0.71 s at 115200 baud


def test_chunk_timings_raise_the_estimate_when_chunks_cost_more_than_the_round_trip() -> None:
    sizer = ChunkSizer(1_000_000)
    sizer.observe_round_trip(0.002)
    before = sizer.size()
    for _ in range(3):  # a final flash write per chunk: 25 ms beyond the wire time
        sizer.observe_chunk(16_384, 16_384 * 1e-5 + 0.025)
    assert sizer.per_chunk_cost() == pytest.approx(0.025)
    assert sizer.size() > before


def test_one_slow_chunk_does_not_move_the_estimate() -> None:
    sizer = ChunkSizer(1_000_000)
    for extra in (0.010, 0.010, 0.500, 0.010):
        sizer.observe_chunk(8192, 8192 * 1e-5 + extra)
    assert sizer.per_chunk_cost() == pytest.approx(0.010)


def test_the_round_trip_floors_the_per_chunk_cost() -> None:
    # A link faster than its nominal baud rate (chunks took less than their wire time).
    sizer = ChunkSizer(115_200)
    sizer.observe_round_trip(0.004)
    sizer.observe_chunk(8192, 0.3)
    assert sizer.per_chunk_cost() == pytest.approx(0.008)


def test_no_chunk_exceeds_one_and_a_half_seconds_of_wire_at_a_known_baud_rate() -> None:
    sizer = ChunkSizer(115_200)
    sizer.observe_round_trip(0.5)  # a very slow device
    assert sizer.size() == sizer.ceiling == 16_384  # 17,280 bytes in 1.5 s, in whole buffers
    fast = ChunkSizer(10_000_000)
    fast.observe_round_trip(0.5)
    assert fast.size() == MAX_CHUNK


def test_unknown_baud_rate_measures_the_cost_per_byte_from_chunks() -> None:
    sizer = ChunkSizer(None)
    sizer.observe_round_trip(0.005)
    assert sizer.size() == GRANULE  # a probe first
    sizer.observe_chunk(4096, 0.01 + 4096 * 1e-5)
    assert sizer.per_byte_cost() == pytest.approx(1e-5)
    assert sizer.size() == 53_248  # 10 ms / (2 % of 10 us a byte) = 50,000, in whole buffers


def test_an_unthrottled_link_gets_the_largest_chunk() -> None:
    sizer = ChunkSizer(None)
    sizer.observe_round_trip(0.001)
    sizer.observe_chunk(4096, 0.001)
    assert sizer.size() == MAX_CHUNK


def test_without_flow_control_every_chunk_fits_the_data_mode_buffer() -> None:
    sizer = ChunkSizer(1_000_000, flow_control=False)
    sizer.observe_round_trip(0.01)
    sizer.observe_chunk(4096, 0.1)
    assert sizer.size() == sizer.ceiling == GRANULE


@given(
    fixed=st.one_of(st.none(), st.integers(1, 1 << 20)),
    baud=st.one_of(st.none(), st.integers(1200, 12_000_000)),
    round_trip=st.one_of(st.none(), st.floats(0, 2)),
    chunks=st.lists(st.tuples(st.integers(1, 1 << 20), st.floats(0, 30)), max_size=8),
    flow_control=st.booleans(),
)
def test_every_size_stays_within_the_limits(fixed, baud, round_trip, chunks, flow_control) -> None:  # type: ignore[no-untyped-def]
    sizer = ChunkSizer(baud, fixed=fixed, flow_control=flow_control)
    if round_trip is not None:
        sizer.observe_round_trip(round_trip)
    for length, seconds in chunks:
        sizer.observe_chunk(length, seconds)
    size = sizer.size()
    addressed = sizer.size(ADDRESSED_CHUNK_MAX)
    assert 1 <= addressed <= ADDRESSED_CHUNK_MAX
    assert 1 <= size <= sizer.ceiling
    if fixed is not None:
        assert size == fixed and addressed == min(fixed, ADDRESSED_CHUNK_MAX)
    else:
        assert size % GRANULE == 0 and size <= MAX_CHUNK
        if not flow_control:
            assert size == GRANULE


@pytest.mark.parametrize("options", [{"chunk_size": 0}, {"chunk_size": -1}, {"baudrate": 0}])
def test_bad_sizing_options_are_refused(options) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="must be positive"):
        SerialModemSession(lambda: None, **options)  # type: ignore[arg-type, return-value]


def test_filler_covers_the_largest_chunk_the_session_may_announce() -> None:
    for options in ({}, {"chunk_size": 20_000}, {"baudrate": 1_000_000}, {"baudrate": None}):
        session = SerialModemSession(lambda: None, **options)  # type: ignore[arg-type, return-value]
        assert session.device.flush_size == session.sizer.ceiling >= GRANULE
        assert session.device.flush_size >= (session.chunk_size or 0)


def plan_of(transfer: AppendingTransfer) -> list[tuple[int, int, int]]:
    return [(chunk.offset, chunk.length, chunk.address) for chunk in transfer.plan(0)]


@pytest.mark.parametrize("fixed", [None, 1024, 3000, 65_536])
def test_full_modem_firmware_chunks_keep_the_addressing_rule(fixed) -> None:  # type: ignore[no-untyped-def]
    sizer = ChunkSizer(1_000_000, fixed=fixed)
    sizer.observe_round_trip(0.02)  # wants ~160 KB chunks
    payload = build_payload(load_image(FULL), UpdateType.MODEM_FULL)
    transfer = FullModemTransfer(None, payload, sizer)  # type: ignore[arg-type]
    plan = plan_of(transfer)
    # The chunks cover the payload exactly, in order, and never cross a segment.
    assert [offset for offset, _, _ in plan] == list(
        itertools.accumulate([0] + [length for _, length, _ in plan[:-1]])
    )
    assert sum(length for _, length, _ in plan) == len(payload)
    bootloader = [entry for entry in plan if entry[0] < len(BOOTLOADER_SEGMENT)]
    firmware = [entry for entry in plan if entry[0] >= len(BOOTLOADER_SEGMENT)]
    assert sum(length for _, length, _ in bootloader) == len(BOOTLOADER_SEGMENT)
    # The firmware phase: at most 4096 bytes a chunk, each at its segment address + offset.
    assert all(length <= min(fixed or ADDRESSED_CHUNK_MAX, 4096) for _, length, _ in firmware)
    expected = []
    for address, data in FIRMWARE_SEGMENTS:
        step = min(fixed or ADDRESSED_CHUNK_MAX, ADDRESSED_CHUNK_MAX)
        expected += [address + at for at in range(0, len(data), step)]
    assert [address for _, _, address in firmware] == expected
    if fixed is None:  # the appended bootloader segment is not held to 4096
        assert bootloader == [(0, len(BOOTLOADER_SEGMENT), 0)]


def test_plan_sizes_each_chunk_when_it_is_needed() -> None:
    sizer = ChunkSizer(1_000_000)
    image = FirmwareImage(bytes(200_000))  # not an MCUboot image: forced
    payload = build_payload(image, UpdateType.APPLICATION, force=True)
    transfer = AppendingTransfer(None, payload, sizer)  # type: ignore[arg-type]
    chunks = iter(transfer.plan(0))
    assert next(chunks).length == GRANULE
    sizer.observe_round_trip(0.007)  # measured meanwhile
    assert next(chunks).length == 73_728
