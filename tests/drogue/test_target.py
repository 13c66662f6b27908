"""The update service's decision logic (reference section 5) on its own."""

from __future__ import annotations

import pytest

from aiodfu.core.errors import UnsupportedError, UsageError
from aiodfu.core.integrity import sha256
from aiodfu.drogue import OffsetBeyondImageError, Target
from aiodfu.drogue.protocol.messages import Status, Swap, Sync, UpdateStatus, Write

IMAGE = bytes(range(100))
TARGET = Target.build(IMAGE, "0.2.0")
V1, V2 = b"0.1.0", b"0.2.0"


def test_image_is_padded_with_erased_flash_and_hashed_as_sent() -> None:
    assert TARGET.data == IMAGE + b"\xff" * 4
    assert TARGET.checksum == sha256(TARGET.data)


def test_sync_when_the_device_runs_the_version() -> None:
    assert TARGET.decide(Status(V2, 64, 7), 968) == Sync(V2, 7)


@pytest.mark.parametrize(
    ("update", "offset"),
    [(None, 0), (UpdateStatus(b"0.3.0", 48), 0), (UpdateStatus(V2, 48), 48)],
    ids=["fresh", "other-version", "resume"],
)
def test_write_from_the_device_offset(update: UpdateStatus | None, offset: int) -> None:
    command = TARGET.decide(Status(V1, 32, 9, update), 968)
    assert command == Write(V2, 9, offset, TARGET.data[offset : offset + 32])


@pytest.mark.parametrize(
    ("mtu", "cap", "block"), [(None, 968, 512), (100, 968, 96), (4096, 968, 968), (64, 20, 16)]
)
def test_block_is_min_of_mtu_and_cap_aligned(mtu: int | None, cap: int, block: int) -> None:
    assert TARGET.block_size(Status(V1, mtu), cap) == block


def test_last_block_is_short_and_then_swap() -> None:
    last = TARGET.decide(Status(V1, 64, None, UpdateStatus(V2, 64)), 968)
    assert last == Write(V2, None, 64, TARGET.data[64:])
    done = TARGET.decide(Status(V1, 64, 3, UpdateStatus(V2, len(TARGET))), 968)
    assert done == Swap(V2, 3, TARGET.checksum)


def test_offset_beyond_the_image_and_tiny_mtu_are_typed() -> None:
    with pytest.raises(OffsetBeyondImageError):
        TARGET.decide(Status(V1, 64, None, UpdateStatus(V2, len(TARGET) + 1)), 968)
    with pytest.raises(UnsupportedError):
        TARGET.decide(Status(V1, 7), 968)


@pytest.mark.parametrize("version", ["", "x" * 17, b""])
def test_version_must_fit_the_device(version: str | bytes) -> None:
    with pytest.raises(UsageError):
        Target.build(IMAGE, version)
