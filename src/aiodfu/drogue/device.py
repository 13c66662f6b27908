"""The host's end of one Drogue device: a link in Status -> Command lock-step, every wait bounded.

:class:`DrogueDevice` keeps the Status the device sent last and has not had
an answer to yet, so each command is paired with exactly one Status (drgdfu
writes commands without reading the Status frames in between; those pile up
and the next run decodes a stale one). Recovery is by kind of failure: after
a bad frame, drop input until the line is quiet and wait for the device to
re-send its Status; after a lost link or silence, reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError
from aiodfu.core.session import Connector, open_link
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.drogue.errors import MalformedMessageError, UnacknowledgedError
from aiodfu.drogue.link import UpdateLink
from aiodfu.drogue.messages import Command, Status
from aiodfu.drogue.timeouts import Timeouts

log = logging.getLogger("aiodfu.drogue")


class DrogueDevice:
    """A connector plus the current link; see the module docstring."""

    def __init__(self, connector: Connector[UpdateLink], timeouts: Timeouts) -> None:
        self._connector = connector
        self.timeouts = timeouts
        self._link: UpdateLink | None = None
        self._pending: Status | None = None

    @property
    def max_block(self) -> int:
        if self._link is None:
            raise LinkLostError("not connected", operation="status")
        return self._link.max_block

    @property
    def carries_checksum(self) -> bool:
        return self._link is not None and self._link.carries_checksum

    @property
    def acknowledged(self) -> bool:
        """The pending Status shows the device took the command sent before it."""
        return self._link is not None and self._link.acknowledged

    async def connect(self) -> UpdateLink:
        if self._link is None:
            try:
                self._link = await wait_within(
                    open_link(self._connector), self.timeouts.connect, "connect"
                )
            except OSError as exc:
                raise LinkLostError(f"cannot connect: {exc}", operation="connect") from exc
            self._pending = None
        return self._link

    async def status(self, *, timeout: float | None = None, offset: int | None = None) -> Status:
        """The Status awaiting an answer: the one already read, or the next one from the device."""
        if self._pending is None:
            link = await self.connect()
            seconds = self.timeouts.status if timeout is None else timeout
            try:
                self._pending = await wait_within(
                    link.read_status(boundary_gap=self.timeouts.resync_gap),
                    seconds,
                    "read status",
                    offset=offset,
                )
            except DfuError as exc:
                raise exc.locate("read status", offset) from None
            log.debug("status %s", self._pending)
        return self._pending

    async def send(self, command: Command, *, offset: int | None = None) -> None:
        """Answer the pending Status with ``command``."""
        operation = type(command).__name__
        if self._pending is None:
            raise RuntimeError("a command must answer a Status")  # a bug in the caller
        link = await self.connect()
        self._pending = None
        try:
            await wait_within(link.send(command), self.timeouts.send, operation, offset=offset)
        except DfuError as exc:
            raise exc.locate(operation, offset) from None

    async def recover(self, error: DfuError) -> None:
        """Make the next :meth:`status` meaningful again after ``error``."""
        if isinstance(error, MalformedMessageError) and self._link is not None:
            log.info("bad frame (%s): resynchronising", error)
            self._pending = None
            try:
                await wait_within(
                    self._link.resync(self.timeouts.resync_gap),
                    self.timeouts.status,
                    "resync",
                )
                return
            except DfuError:
                pass  # a line that never goes quiet: reconnect instead
        elif self._pending is not None and not isinstance(error, UnacknowledgedError):
            return  # the device is still waiting for an answer to the Status we hold
        await self.disconnect()
        await self.connect()

    async def await_reboot(self) -> Status:
        """The first Status after a reset, reconnecting while the device is away."""
        async with deadline(self.timeouts.reboot, "wait for the device to reboot"):
            while True:
                try:
                    await self.connect()
                    return await self.status(timeout=self.timeouts.reboot)
                except (LinkLostError, MalformedMessageError, DfuTimeoutError) as exc:
                    # A rebooting device may not even accept a connection yet.
                    log.debug("waiting for the device to come back: %s", exc)
                    await self.disconnect()
                    await asyncio.sleep(self.timeouts.reconnect_pause)

    async def disconnect(self) -> None:
        link, self._link, self._pending = self._link, None, None
        if link is not None:
            with contextlib.suppress(Exception):
                await link.aclose()
