"""A registered wait for an unsolicited line (a URC, a banner) from an AT device.

Registered *before* the request that provokes the line is sent
(``with client.expect(...) as waiter``), so a fast device can never answer
before anyone listens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from aiodfu.core.timeouts import wait_within

LinePredicate = Callable[[str], bool]


class LineWaiter:
    """A registered wait for the first unsolicited line matching a predicate."""

    def __init__(
        self,
        predicate: LinePredicate,
        operation: str,
        forget: Callable[[LineWaiter], None] = lambda waiter: None,
    ) -> None:
        self._forget = forget
        self.predicate = predicate
        self.operation = operation
        self.future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def wait(self, timeout: float | None, *, offset: int | None = None) -> str:
        """The matching line; :class:`DfuTimeoutError` if none arrives in time."""
        return await wait_within(self.future, timeout, self.operation, offset=offset)

    def cancel(self) -> None:
        self._forget(self)
        if not self.future.done():
            self.future.cancel()

    def __enter__(self) -> LineWaiter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()
