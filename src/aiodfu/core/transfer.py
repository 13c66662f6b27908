"""The transfer engine every backend shares.

A transfer moves a byte range between a source and a sink in chunks: for a
push the source is a local image and the sink a device; for a pull the other
way round. The engine owns what every backend would otherwise repeat:

* splitting the range into chunks at offsets (the backend may shape the plan,
  e.g. never let a chunk cross a segment boundary);
* progress accounting;
* the recovery loop: when a chunk fails with a *transient* error (link lost,
  silence, a chunk the device reported as failed), wait per the retry policy,
  let the backend recover (reconnect through its connector, resync), ask it
  where to continue -- the device's own offset where the protocol has one,
  zero where it has none -- and go on from there.

The backend never retries a chunk itself: a device that appends would get
the same bytes twice. It only says where to continue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol, TypeVar

import attrs

from aiodfu.core.errors import DfuError, RetriesExhaustedError
from aiodfu.core.progress import Phase, ProgressTracker

log = logging.getLogger("aiodfu.transfer")

T = TypeVar("T")


@attrs.frozen
class Chunk:
    """One piece of a transfer: ``length`` bytes at ``offset`` of the image.

    ``address`` is where the device should put it, for protocols that address
    chunks (defaults to the offset).
    """

    offset: int
    length: int
    address: int = attrs.field()

    @address.default
    def _address_default(self) -> int:
        return self.offset

    @property
    def end(self) -> int:
        return self.offset + self.length


def chunk_plan(
    total: int, chunk_size: int, start: int = 0, *, base_address: int = 0
) -> Iterator[Chunk]:
    """Chunks of at most ``chunk_size`` covering ``[start, total)``."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    for offset in range(start, total, chunk_size):
        yield Chunk(offset, min(chunk_size, total - offset), base_address + offset)


@attrs.frozen
class RetryPolicy:
    """How many attempts an operation gets and how long to wait between them.

    ``attempts`` counts the first one: ``attempts=1`` never retries. For a
    transfer it bounds the attempts in a row that fail without getting further
    into the image than any attempt before, so a long transfer over a flaky
    link that resumes and keeps advancing is not abandoned, while one that
    fails at the same point every time is. Delays grow from ``initial_delay``
    by ``multiplier`` up to ``max_delay``.
    """

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    initial_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 5.0

    def delay(self, failed_attempts: int) -> float:
        """The pause after the ``failed_attempts``-th failure (1-based)."""
        return min(self.initial_delay * self.multiplier ** (failed_attempts - 1), self.max_delay)


NO_RETRY = RetryPolicy(attempts=1)


async def with_recovery(
    attempt: Callable[[int], Awaitable[T]],
    recover: Callable[[DfuError, int], Awaitable[None]],
    policy: RetryPolicy,
    *,
    what: str,
    progress: Callable[[], int] | None = None,
) -> T:
    """Run ``attempt(n)`` until it succeeds, recovering between transient failures.

    Non-transient errors propagate at once. When ``policy.attempts`` attempts
    in a row have failed, a :class:`RetriesExhaustedError` is raised from the
    last failure; ``progress()`` (the furthest point reached so far), when
    given, restarts that count whenever a failed attempt got further than
    any before it. A failure inside ``recover`` counts as a failed attempt.
    """
    number = 1
    streak: list[DfuError] = []  # the failures since the last one that got further
    furthest = progress() if progress is not None else 0
    while True:
        try:
            return await attempt(number)
        except DfuError as exc:
            if not exc.transient:
                raise
            last = exc
        if progress is not None and progress() > furthest:
            furthest, streak = progress(), []
        while True:
            streak.append(last)
            if len(streak) >= policy.attempts:
                raise RetriesExhaustedError.after(
                    streak, f"{what} failed after {number} attempt(s); last: {last.message}"
                )
            pause = policy.delay(len(streak))
            log.warning(
                "%s: attempt %d failed (%s); recovering in %.2f s", what, number, last, pause
            )
            await asyncio.sleep(pause)
            number += 1
            try:
                await recover(last, number)
                break
            except DfuError as exc:
                if not exc.transient:
                    raise
                last = exc


class Transfer(Protocol):
    """What a backend supplies for one resumable transfer.

    ``prepare`` brings the device to a state where it takes data and returns
    the offset to continue from; ``plan`` lists the chunks from that offset;
    ``move`` moves one chunk; ``complete`` finishes after the last chunk;
    ``recover`` runs after a transient failure, before the next ``prepare``.
    """

    async def prepare(self, attempt: int) -> int: ...

    def plan(self, start: int) -> Iterable[Chunk]: ...

    async def move(self, chunk: Chunk) -> None: ...

    async def complete(self) -> None: ...

    async def recover(self, error: DfuError, attempt: int) -> None: ...


async def run_transfer(
    transfer: Transfer,
    tracker: ProgressTracker,
    policy: RetryPolicy,
    *,
    what: str = "transfer",
) -> None:
    """Drive ``transfer`` to completion under ``policy``; see the module docstring."""

    furthest = 0

    async def attempt(number: int) -> None:
        nonlocal furthest
        tracker.set_phase(Phase.PREPARING)
        start = await transfer.prepare(number)
        tracker.restart_at(start, attempt=number)
        for chunk in transfer.plan(start):
            await transfer.move(chunk)
            tracker.advance(chunk.length)
            furthest = max(furthest, chunk.end)
        await transfer.complete()

    async def recover(error: DfuError, number: int) -> None:
        tracker.attempt = number
        tracker.set_phase(Phase.RECOVERING, str(error))
        await transfer.recover(error, number)

    await with_recovery(attempt, recover, policy, what=what, progress=lambda: furthest)
