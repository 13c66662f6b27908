from collections.abc import Iterable

import pytest

from aiodfu.core.errors import (
    ChunkFailedError,
    DfuError,
    ImageError,
    LinkLostError,
    RetriesExhaustedError,
)
from aiodfu.core.progress import Phase, Progress, ProgressTracker
from aiodfu.core.transfer import Chunk, RetryPolicy, chunk_plan, run_transfer

FAST = RetryPolicy(attempts=4, initial_delay=0.0)


def test_chunk_plan_covers_range_exactly() -> None:
    chunks = list(chunk_plan(10, 4, base_address=0x100))
    assert [(c.offset, c.length, c.address) for c in chunks] == [
        (0, 4, 0x100),
        (4, 4, 0x104),
        (8, 2, 0x108),
    ]
    assert list(chunk_plan(10, 4, start=10)) == []
    with pytest.raises(ValueError, match="positive"):
        list(chunk_plan(10, 0))


def test_retry_policy_backoff_is_capped() -> None:
    policy = RetryPolicy(attempts=5, initial_delay=0.5, multiplier=2.0, max_delay=1.5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]


class FakeTransfer:
    """Pushes into a bytearray; can resume at the device's offset or only restart."""

    def __init__(self, data: bytes, *, resumable: bool, fail_at: dict[int, DfuError]) -> None:
        self.data = data
        self.resumable = resumable
        self.fail_at = dict(fail_at)
        self.device = bytearray()
        self.writes: list[int] = []
        self.recoveries = 0
        self.completed = False

    async def prepare(self, attempt: int) -> int:
        if not self.resumable:
            self.device.clear()
        return len(self.device)

    def plan(self, start: int) -> Iterable[Chunk]:
        return chunk_plan(len(self.data), 3, start)

    async def move(self, chunk: Chunk) -> None:
        error = self.fail_at.pop(chunk.offset, None)
        if error is not None:
            raise error
        assert chunk.offset == len(self.device), "a chunk was sent twice or skipped"
        self.writes.append(chunk.offset)
        self.device += self.data[chunk.offset : chunk.end]

    async def complete(self) -> None:
        self.completed = True

    async def recover(self, error: DfuError, attempt: int) -> None:
        self.recoveries += 1


async def test_resumes_from_device_offset_after_link_loss() -> None:
    data = bytes(range(20))
    transfer = FakeTransfer(data, resumable=True, fail_at={9: LinkLostError("gone")})
    events: list[Progress] = []
    tracker = ProgressTracker(len(data), events.append)
    await run_transfer(transfer, tracker, FAST)
    assert bytes(transfer.device) == data
    assert transfer.writes == [0, 3, 6, 9, 12, 15, 18]  # nothing written twice
    assert transfer.recoveries == 1 and transfer.completed
    assert tracker.attempt == 2 and tracker.moved == 20
    assert any(e.phase is Phase.RECOVERING for e in events)


async def test_restarts_from_zero_when_device_cannot_resume() -> None:
    data = bytes(range(10))
    transfer = FakeTransfer(data, resumable=False, fail_at={6: ChunkFailedError("bad chunk")})
    tracker = ProgressTracker(len(data))
    await run_transfer(transfer, tracker, FAST)
    assert bytes(transfer.device) == data
    assert transfer.writes == [0, 3, 0, 3, 6, 9]
    assert tracker.moved == 6 + 10


async def test_gives_up_with_typed_error_after_policy() -> None:
    data = bytes(10)
    failures = {0: LinkLostError("gone", offset=0)}
    transfer = FakeTransfer(data, resumable=True, fail_at=failures)

    async def always_fail(chunk: Chunk) -> None:
        raise LinkLostError("gone", operation="write", offset=chunk.offset)

    transfer.move = always_fail  # type: ignore[method-assign]
    with pytest.raises(RetriesExhaustedError) as info:
        await run_transfer(transfer, ProgressTracker(10), RetryPolicy(attempts=3, initial_delay=0))
    assert isinstance(info.value.__cause__, LinkLostError)
    assert info.value.offset == 0
    assert "3 attempt" in str(info.value)
    assert transfer.recoveries == 2


async def test_non_transient_error_is_not_retried() -> None:
    transfer = FakeTransfer(bytes(10), resumable=True, fail_at={3: ImageError("bad image")})
    with pytest.raises(ImageError):
        await run_transfer(transfer, ProgressTracker(10), FAST)
    assert transfer.recoveries == 0


async def test_a_transfer_that_keeps_advancing_is_not_abandoned() -> None:
    data = bytes(range(30))
    # Five link losses, each further into the image: more than the policy's 3 attempts in all,
    # but never 3 in a row without progress.
    failures = {offset: LinkLostError("gone") for offset in (3, 9, 15, 21, 27)}
    transfer = FakeTransfer(data, resumable=True, fail_at=failures)
    tracker = ProgressTracker(len(data))
    await run_transfer(transfer, tracker, RetryPolicy(attempts=3, initial_delay=0))
    assert bytes(transfer.device) == data
    assert tracker.attempt == 6


async def test_failing_at_the_same_point_after_restarts_still_gives_up() -> None:
    data = bytes(range(12))
    transfer = FakeTransfer(data, resumable=False, fail_at={})

    async def fail_at_six(chunk: Chunk) -> None:
        if chunk.offset == 6:
            raise LinkLostError("gone", offset=6)
        transfer.device += data[chunk.offset : chunk.end]

    transfer.move = fail_at_six  # type: ignore[method-assign]
    with pytest.raises(RetriesExhaustedError):
        await run_transfer(transfer, ProgressTracker(12), RetryPolicy(attempts=3, initial_delay=0))
    assert transfer.recoveries == 2
