"""A connection to one AT-speaking device that outlives its links.

The Serial Modem and ESP-AT backends both talk to a device through an
:class:`~aiodfu.at.client.AtClient` on a link their connector opens, and both
reopen that link after a loss. :class:`AtDevice` owns that part; a backend
says how to build the client for its dialect (:meth:`AtDevice.make_client`),
what to do once a link is open (:meth:`AtDevice.handshake`), and how to react
to unsolicited lines (:meth:`AtDevice.on_unsolicited`).
"""

from __future__ import annotations

import abc
import logging
from typing import Generic, Self, TypeVar

from aiodfu.at.client import AtClient
from aiodfu.core.errors import DeviceError, DfuError
from aiodfu.core.resource import AsyncResource
from aiodfu.core.session import Connector, open_link
from aiodfu.core.timeouts import wait_within
from aiodfu.core.transfer import RetryPolicy, with_recovery
from aiodfu.transports.base import ByteStream

log = logging.getLogger("aiodfu.at")


class AtDevice(AsyncResource):
    """An AT device reached through ``connector``, reopened as ``retry`` allows."""

    def __init__(
        self, connector: Connector[ByteStream], *, retry: RetryPolicy, open_timeout: float
    ) -> None:
        self._connector = connector
        self.retry = retry
        self._open_timeout = open_timeout
        self._client: AtClient | None = None

    @property
    def connected(self) -> bool:
        """A link is open and has not failed."""
        return self._client is not None and not self._client.closed

    @property
    def client(self) -> AtClient:
        if self._client is None:
            raise DeviceError("not connected", operation="connect")
        return self._client

    @abc.abstractmethod
    def make_client(self, stream: ByteStream) -> AtClient:
        """The client for this device's dialect on a freshly opened ``stream``."""

    @abc.abstractmethod
    async def handshake(self) -> None:
        """Bring the device on a freshly opened link to a known state."""

    def on_unsolicited(self, line: str) -> None:
        """A line no command or waiter took (a URC, a banner, noise)."""
        log.debug("ignoring unsolicited %r", line)

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
        if self._client is not None:
            await self._client.aclose()
        stream = await wait_within(open_link(self._connector), self._open_timeout, "open the link")
        self._client = self.make_client(stream)
        self._client.add_listener(self.on_unsolicited)
        self._client.start()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


D = TypeVar("D", bound=AtDevice)


class AtDeviceSession(Generic[D]):
    """The lifecycle of a session over one :class:`AtDevice` (a mixin for session classes).

    ``async with`` connects on entry and closes on exit; :meth:`connect` is a
    no-op while the link is up and reconnects after it failed.
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
