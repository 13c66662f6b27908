"""Link loss, corruption, CRC errors and heartbeats at random points: the update completes with
the card's image byte for byte, resuming at the last verified offset, or fails typed within its
timeouts -- and never installs an image that did not verify."""

from __future__ import annotations

import asyncio

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodfu.core.errors import DfuError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.transfer import RetryPolicy
from aiodfu.notecard import ImageChangedError
from aiodfu.testing.emulator import FaultyFirstLink
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults, Storage
from aiodfu.transports.memory import LinkFaults

from .conftest import IMAGE, card_for

HYPOTHESIS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CHUNK = 4096
# Bytes that cross the link for the whole update, roughly: faults are placed anywhere in them.
UPSTREAM_SPAN = 28_000
DOWNSTREAM_SPAN = 700


def served_in_order(card: NotecardEmulator) -> bool:
    offsets = [offset for offset, _, _ in card.served]
    return offsets == sorted(offsets)


async def update(card: NotecardEmulator, connector, binary: bool) -> list[bytes]:  # type: ignore[no-untyped-def]
    installed: list[bytes] = []

    def install(image: FirmwareImage) -> None:
        installed.append(image.data)

    async with card_for(connector, binary=binary, chunk_size=CHUNK) as notecard:
        await asyncio.wait_for(notecard.update(install=install), 30)
    return installed


@pytest.mark.parametrize("binary", [False, True])
@given(drop_at=st.integers(1, UPSTREAM_SPAN), upstream=st.booleans())
@HYPOTHESIS
async def test_link_loss_anywhere_resumes_at_the_verified_offset(
    binary: bool, drop_at: int, upstream: bool
) -> None:
    card = NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS)
    if upstream:
        connector = FaultyFirstLink(card, device_to_host=LinkFaults(drop_after=drop_at))
    else:
        connector = FaultyFirstLink(
            card, host_to_device=LinkFaults(drop_after=drop_at % DOWNSTREAM_SPAN + 1)
        )
    try:
        installed = await update(card, connector, binary)
    finally:
        await card.aclose()
    assert installed == [IMAGE]
    assert card.mode == "completed" and card.hub_mode == "periodic"
    assert served_in_order(card)
    assert not card.failures


fault_sets = st.sets(st.integers(0, 14), max_size=3)


@pytest.mark.parametrize("binary", [False, True])
@given(
    corrupted=fault_sets,
    truncated=fault_sets,
    wrong_sequence=fault_sets,
    io_errors=fault_sets,
    corrupted_frames=fault_sets,
    heartbeats=st.integers(0, 2),
)
@HYPOTHESIS
async def test_corrupted_answers_anywhere_never_install_a_bad_image(
    binary: bool,
    corrupted: set[int],
    truncated: set[int],
    wrong_sequence: set[int],
    io_errors: set[int],
    corrupted_frames: set[int],
    heartbeats: int,
) -> None:
    faults = NotecardFaults(
        corrupted_responses=corrupted,
        truncated_responses=truncated,
        wrong_sequence=wrong_sequence,
        io_errors=io_errors,
        corrupted_frames=corrupted_frames,
        heartbeats=heartbeats,
    )
    card = NotecardEmulator(image=IMAGE, faults=faults)
    try:
        installed = await update(card, card.connect, binary)
    except DfuError:
        installed = []
        assert card.mode in ("ready", "error")  # typed failure: the card was not told success
    finally:
        await card.aclose()
    assert installed in ([], [IMAGE])
    if installed:
        assert card.mode == "completed"
    assert served_in_order(card)


@given(bad_bin=st.sets(st.integers(0, 10), min_size=1, max_size=2))
@HYPOTHESIS
async def test_bad_bin_refetches_the_chunk(bad_bin: set[int]) -> None:
    card = NotecardEmulator(image=IMAGE, faults=NotecardFaults(bad_bin=bad_bin))
    try:
        installed = await update(card, card.connect, True)
    finally:
        await card.aclose()
    assert installed == [IMAGE]


async def test_an_image_that_changes_under_us_is_a_clear_error(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    faulty = FaultyFirstLink(card, device_to_host=LinkFaults(drop_after=9000))

    def connector():  # type: ignore[no-untyped-def]
        if faulty.connections == 1:
            card.offer(random_firmware(len(IMAGE), seed=99))  # a new download landed meanwhile
        return faulty()

    installed: list[FirmwareImage] = []
    async with card_for(connector, chunk_size=CHUNK) as notecard:
        with pytest.raises(ImageChangedError):
            await notecard.update(install=installed.append)
    assert not installed
    assert card.mode == "ready"  # the new image is left for the next update


async def test_link_lost_on_every_connection_gives_up_typed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    retry = RetryPolicy(attempts=3, initial_delay=0.01)
    installed: list[FirmwareImage] = []

    def always_breaks():  # type: ignore[no-untyped-def]
        return card.connect(device_to_host=LinkFaults(drop_after=6000))

    async with card_for(always_breaks, chunk_size=CHUNK, retry=retry, binary=False) as notecard:
        with pytest.raises(DfuError) as info:
            await asyncio.wait_for(notecard.update(install=installed.append), 30)
    assert info.value.transient is False and isinstance(info.value.__cause__, ConnectionError)
    assert info.value.offset is not None
    assert not installed and card.mode == "ready"  # a link failure does not discard the image


async def test_a_card_gone_silent_mid_transfer_fails_within_its_timeouts(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    faulty = FaultyFirstLink(card, device_to_host=LinkFaults(stall_after=5000))
    installed: list[FirmwareImage] = []

    def silent_after_first():  # type: ignore[no-untyped-def]
        if faulty.connections:
            card.faults = attrs.evolve(card.faults, silent=True)
        return faulty()

    retry = RetryPolicy(attempts=2, initial_delay=0.01)
    async with card_for(silent_after_first, chunk_size=CHUNK, retry=retry) as notecard:
        with pytest.raises(DfuError) as info:
            await asyncio.wait_for(notecard.update(install=installed.append), 30)
    assert isinstance(info.value.__cause__, TimeoutError | ConnectionError)
    assert not installed


@given(
    corrupt=st.sets(st.integers(0, DOWNSTREAM_SPAN), min_size=1, max_size=3),
    upstream_corrupt=st.sets(st.integers(0, UPSTREAM_SPAN), max_size=3),
)
@HYPOTHESIS
async def test_bytes_corrupted_on_the_wire_are_caught_by_the_crc(
    corrupt: set[int], upstream_corrupt: set[int]
) -> None:
    card = NotecardEmulator(image=IMAGE)
    connector = FaultyFirstLink(
        card,
        host_to_device=LinkFaults(corrupt_at=corrupt),
        device_to_host=LinkFaults(corrupt_at=upstream_corrupt),
    )
    try:
        installed = await update(card, connector, False)
    finally:
        await card.aclose()
    assert installed == [IMAGE]
    assert card.mode == "completed" and served_in_order(card)


@pytest.mark.parametrize("upstream", [False, True], ids=["host->card", "card->host"])
async def test_a_stalled_link_is_reopened_within_the_session(upstream: bool) -> None:
    """The link stays up but carries nothing more: the resync gets no answer, so the session
    opens a fresh link and finishes on it (it used to give up with the stalled one)."""
    stall = LinkFaults(stall_after=9000 if upstream else 300)
    card = NotecardEmulator(image=IMAGE)
    if upstream:
        connector = FaultyFirstLink(card, device_to_host=stall)
    else:
        connector = FaultyFirstLink(card, host_to_device=stall)
    installed = await update(card, connector, binary=False)
    assert installed == [IMAGE] and card.mode == "completed"
    assert connector.connections == 2 and [f.kind for _, f in connector.fired] == ["stall"]
