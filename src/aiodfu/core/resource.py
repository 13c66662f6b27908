"""The ``async with`` protocol for everything that holds a link or a task."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncResource(abc.ABC):
    """Something with an idempotent :meth:`aclose`; ``async with`` closes it on exit.

    Subclasses that must do work on entry (connect, start a reader) override
    :meth:`__aenter__` and call ``super().__aenter__()`` or return ``self``.
    """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what this object holds; safe to call more than once."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
