"""One lifecycle for the link to a device, shared by every backend.

A session talks to one device through links its connector opens: a serial
port, a BLE connection, a socket. Links fail; the device outlives them. Every
backend needs the same four things around that, and :class:`DeviceLink` is
the one place they are written:

* **connect** -- open a link and hand-shake, reopening per the retry policy;
* **reopen** -- drop a failed link and open a fresh one, within a deadline;
* **robustly** -- run an idempotent step, resynchronising after a transient
  failure and trying again (the transfer engine does the same for chunks);
* **release** -- however a session ends (success, a typed error, retries
  exhausted, cancellation, Ctrl-C), leave the device where a *fresh* session
  can update it: finish a pending data mode, abort a half-done transfer.
  Release runs in a task of its own, bounded by ``release_timeout`` and
  shielded from a second cancellation, and never raises: it is cleanup on the
  way out of an error that the caller must see, not a new error.

A backend subclasses :class:`DeviceLink` and overrides the hooks
(:meth:`~DeviceLink.attach`, :meth:`~DeviceLink.handshake`,
:meth:`~DeviceLink.resync`, :meth:`~DeviceLink.on_release`, ...); it never
writes the loops. Its session mixes in :class:`LinkedSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

from aiodfu.core.errors import DfuError, LinkLostError
from aiodfu.core.resource import AsyncResource
from aiodfu.core.session import Connector, open_link
from aiodfu.core.timeouts import wait_within
from aiodfu.core.transfer import RetryPolicy, with_recovery

log = logging.getLogger("aiodfu.link")

L = TypeVar("L")
T = TypeVar("T")

DEFAULT_RELEASE_TIMEOUT = 5.0
"""Seconds a session's release may take before it is abandoned (the device is then left as is)."""


class DeviceLink(AsyncResource, Generic[L]):
    """A device reached through ``connector``; the links it opens come and go.

    ``open_timeout`` bounds opening one link; ``retry`` bounds how often
    :meth:`connect` and :meth:`robustly` try again; ``release_timeout`` bounds
    :meth:`release`.
    """

    def __init__(
        self,
        connector: Connector[L],
        *,
        retry: RetryPolicy,
        open_timeout: float,
        release_timeout: float = DEFAULT_RELEASE_TIMEOUT,
    ) -> None:
        self._connector = connector
        self.retry = retry
        self.open_timeout = open_timeout
        self.release_timeout = release_timeout
        self._link: L | None = None

    # --- hooks a backend overrides -----------------------------------------------------------

    def is_alive(self, link: L) -> bool:
        """Whether ``link`` is still usable (a closed stream, a dropped connection are not)."""
        return True

    async def attach(self, link: L) -> None:
        """Take a freshly opened ``link`` into use (wrap it, start a reader)."""

    async def detach(self, link: L) -> None:
        """Close ``link``; by default its ``aclose()`` (or ``close()``) if it has one."""
        for name in ("aclose", "close"):
            close = getattr(link, name, None)
            if callable(close):
                outcome = close()
                if inspect.isawaitable(outcome):
                    await outcome
                return

    async def handshake(self) -> None:
        """Bring the device on a freshly opened link to a known state."""

    async def resync(self, error: DfuError) -> None:
        """Recover after the transient ``error``, before a step is tried again.

        By default the link is reopened and the handshake repeated; a backend
        whose link survives a failed step (an AT port) may resynchronise in place.
        """
        await self.reopen()
        await self.handshake()

    async def on_release(self) -> None:
        """Leave the device where a fresh session can update it (see :meth:`release`).

        Called only while a link is open; bounded by ``release_timeout``.
        """

    # --- the lifecycle -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """A link is open and still usable."""
        return self._link is not None and self.is_alive(self._link)

    @property
    def link(self) -> L:
        """The open link; :class:`LinkLostError` when there is none."""
        if self._link is None:
            raise LinkLostError("not connected", operation="connect")
        return self._link

    async def connect(self) -> None:
        """Open a link and hand-shake, reopening the link per the retry policy if that fails."""

        async def attempt(number: int) -> None:
            await self.reopen()
            await self.handshake()

        async def before_retry(error: DfuError, number: int) -> None:
            pass  # the next attempt reopens the link

        await with_recovery(attempt, before_retry, self.retry, what="connect")

    async def reopen(self) -> None:
        """Close the current link (if any) and open a new one through the connector."""
        await self._drop_link()
        link = await wait_within(open_link(self._connector), self.open_timeout, "open the link")
        try:
            await self.attach(link)
        except BaseException:
            await self.detach(link)
            raise
        self._link = link

    async def robustly(self, step: Callable[[], Awaitable[T]], what: str) -> T:
        """Run the idempotent ``step``; after a transient failure :meth:`resync` and run it again.

        Connects first if no link is open; gives up per the retry policy with a
        :class:`~aiodfu.core.errors.RetriesExhaustedError`.
        """

        async def attempt(number: int) -> T:
            if not self.connected:
                await self.reopen()
                await self.handshake()
            return await step()

        async def recover(error: DfuError, number: int) -> None:
            await self.resync(error)

        return await with_recovery(attempt, recover, self.retry, what=what)

    async def release(self) -> None:
        """Run :meth:`on_release` if a link is open: bounded, shielded, never raising.

        A second cancellation while it runs abandons the wait (and the release
        task, after the timeout) and propagates, so a user pressing Ctrl-C twice
        is never held up.
        """
        if not self.connected:
            return
        task = asyncio.ensure_future(self.on_release())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.release_timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            log.warning(
                "release: the device did not settle within %.1f s; a fresh session may need "
                "to recover it",
                self.release_timeout,
            )
            return
        failure = task.exception() if not task.cancelled() else None
        if failure is not None:
            log.warning("release: could not leave the device clean (%s)", failure)

    @contextlib.asynccontextmanager
    async def releasing(self) -> AsyncIterator[None]:
        """Run the block; if it ends by *any* exception, :meth:`release` before it propagates."""
        try:
            yield
        except BaseException:
            await self.release()
            raise

    async def aclose(self) -> None:
        await self._drop_link()

    async def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await self.detach(link)


D = TypeVar("D", bound="DeviceLink[Any]")


class LinkedSession(AsyncResource, Generic[D]):
    """The ``async with`` lifecycle of a session over one :class:`DeviceLink` (a mixin).

    Entering connects; :meth:`connect` is a no-op while the link is up and
    reconnects after it failed; closing drops the link. An update that ends in
    any way but success runs the device's release first (wrap it in
    ``async with self.device.releasing():``).
    """

    device: D

    async def connect(self) -> None:
        if not self.device.connected:
            await self.device.connect()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def aclose(self) -> None:
        await self.device.aclose()
