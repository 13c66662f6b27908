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
from typing import Self, TypeVar

import attrs

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


class TimeoutsBase:
    """What every backend's frozen attrs ``Timeouts`` shares: validation and scaling.

    Like aiohttp's ``ClientTimeout``, a value object that checks itself: every
    duration must be positive (``None`` where a field allows it means "no
    limit"), and a backend states its invariants in :meth:`invariants` (e.g.
    "the offset settle time stays below the status timeout") so a caller's
    override that would break one fails at construction, not mid-update.
    """

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{type(self).__qualname__}.{field.name} must be positive")
        for holds, message in self.invariants():
            if not holds:
                raise ValueError(f"{type(self).__qualname__}: {message}")

    def invariants(self) -> list[tuple[bool, str]]:
        """``(holds, what must hold)`` pairs checked on construction; none by default."""
        return []

    def scaled(self, factor: float) -> Self:
        """Every duration multiplied by ``factor`` (tests run with ``scaled(0.05)``, say).

        Invariants between durations survive scaling, since all scale alike.
        """
        if factor <= 0:
            raise ValueError("factor must be positive")
        changes = {
            field.name: getattr(self, field.name) * factor
            for field in attrs.fields(type(self))  # type: ignore[arg-type]
            if isinstance(getattr(self, field.name), int | float)
        }
        return attrs.evolve(self, **changes)  # type: ignore[misc]
