"""Deadlines for device I/O.

Every await that talks to a device goes through :func:`deadline`, so a silent
device becomes a :class:`~aiodfu.core.errors.DfuTimeoutError` that names the
operation and offset instead of a hang. Each backend groups its durations in
one frozen attrs ``Timeouts`` class; this module only enforces them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from aiodfu.core.errors import DfuTimeoutError

T = TypeVar("T")


@asynccontextmanager
async def deadline(
    seconds: float | None, operation: str, *, offset: int | None = None
) -> AsyncIterator[None]:
    """Raise :class:`DfuTimeoutError` if the block takes longer than ``seconds``.

    ``None`` means no limit and is reserved for waits that something else bounds.
    """
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        if isinstance(exc, DfuTimeoutError):
            raise
        raise DfuTimeoutError(
            f"no answer within {seconds:g} s", operation=operation, offset=offset
        ) from None


async def wait_within(
    awaitable: Awaitable[T], seconds: float | None, operation: str, *, offset: int | None = None
) -> T:
    """Await ``awaitable`` under :func:`deadline`."""
    async with deadline(seconds, operation, offset=offset):
        return await awaitable
