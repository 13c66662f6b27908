"""A connection to one AT-speaking device that outlives its links.

The Serial Modem and ESP-AT backends both talk to a device through an
:class:`~aiodfu.at.client.AtClient` on a byte stream their connector opens.
:class:`AtDevice` is the :class:`~aiodfu.core.link.DeviceLink` for that: it
wraps each new stream in a client for the backend's dialect
(:meth:`AtDevice.make_client`) and routes unsolicited lines to
:meth:`AtDevice.on_unsolicited`; the backend adds its handshake and release.
An AT port usually survives a failed command, so :meth:`AtDevice.resync`
repeats the handshake in place and reopens the link only when it must.
"""

from __future__ import annotations

import abc
import logging

from aiodfu.at.client import AtClient
from aiodfu.core.errors import DfuError, LinkLostError
from aiodfu.core.link import DeviceLink, LinkedSession
from aiodfu.transports.base import ByteStream

log = logging.getLogger("aiodfu.at")

__all__ = ["AtDevice", "AtDeviceSession"]


class AtDevice(DeviceLink[ByteStream]):
    """An AT device reached through ``connector``, reopened as ``retry`` allows."""

    _client: AtClient | None = None

    @property
    def client(self) -> AtClient:
        if self._client is None:
            raise LinkLostError("not connected", operation="connect")
        return self._client

    @abc.abstractmethod
    def make_client(self, stream: ByteStream) -> AtClient:
        """The client for this device's dialect on a freshly opened ``stream``."""

    def on_unsolicited(self, line: str) -> None:
        """A line no command or waiter took (a URC, a banner, noise)."""
        log.debug("ignoring unsolicited %r", line)

    def is_alive(self, link: ByteStream) -> bool:
        return self._client is not None and not self._client.closed

    async def attach(self, link: ByteStream) -> None:
        client = self.make_client(link)
        client.add_listener(self.on_unsolicited)
        client.start()
        self._client = client

    async def resync(self, error: DfuError) -> None:
        """Hand-shake again on the same link; reopen it first if it was lost, or once more
        if the device stays silent on it (a stalled adapter)."""
        if not self.connected:
            await self.reopen()
        try:
            await self.handshake()
        except DfuError as exc:
            if not exc.transient:
                raise
            log.info("resync: no answer on this link (%s); reopening it", exc)
            await self.reopen()
            await self.handshake()

    async def detach(self, link: ByteStream) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        else:
            await super().detach(link)


AtDeviceSession = LinkedSession
"""The session lifecycle over an :class:`AtDevice` (kept for the AT backends' imports)."""
