"""The host's end of one Drogue device: the core link lifecycle, Status -> Command lock-step.

:class:`DrogueDevice` is a :class:`~aiodfu.core.link.DeviceLink` over
:class:`~aiodfu.drogue.link.UpdateLink` (serial frames or the GATT service):
it opens links under the retry policy, reopens them and releases the device
however a session ends. On top it keeps the Status the device sent last and
has not had an answer to yet, so each command is paired with exactly one
Status (drgdfu writes commands without reading the Status frames in between;
those pile up and the next run decodes a stale one).

Recovery is by kind of failure (:meth:`DrogueDevice.resync`): after a bad
frame, drop input until the line is quiet and wait for the device to re-send
its Status; after a lost link, silence or a command the device did not take,
reopen the link. Release has nothing to undo on the device -- it keeps its
own offset and a fresh session resumes from it, resynchronising on frame
boundaries -- so it only drops the link.
"""

from __future__ import annotations

import asyncio
import logging

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError
from aiodfu.core.link import DeviceLink
from aiodfu.core.session import Connector
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.core.transfer import RetryPolicy
from aiodfu.drogue.errors import MalformedMessageError, UnacknowledgedError
from aiodfu.drogue.link import UpdateLink
from aiodfu.drogue.protocol.messages import Command, Status
from aiodfu.drogue.timeouts import Timeouts

log = logging.getLogger("aiodfu.drogue")


class DrogueDevice(DeviceLink[UpdateLink]):
    """A Drogue device behind ``connector``; see the module docstring."""

    def __init__(
        self, connector: Connector[UpdateLink], timeouts: Timeouts, retry: RetryPolicy
    ) -> None:
        super().__init__(
            connector,
            retry=retry,
            open_timeout=timeouts.connect,
            release_timeout=timeouts.release,
        )
        self.timeouts = timeouts
        self._pending: Status | None = None

    # --- DeviceLink hooks --------------------------------------------------------------------

    def is_alive(self, link: UpdateLink) -> bool:
        return not link.closed

    async def attach(self, link: UpdateLink) -> None:
        self._pending = None  # a new link: the device's next Status is yet to come

    async def detach(self, link: UpdateLink) -> None:
        self._pending = None
        await link.aclose()

    async def resync(self, error: DfuError) -> None:
        """Make the next :meth:`status` meaningful again after ``error``."""
        if isinstance(error, MalformedMessageError) and self.connected:
            log.info("bad frame (%s): resynchronising", error)
            self._pending = None
            try:
                await wait_within(
                    self.link.resync(self.timeouts.resync_gap), self.timeouts.status, "resync"
                )
                return
            except DfuError:
                pass  # a line that never goes quiet: reopen instead
        elif (
            self._pending is not None
            and self.connected
            and not isinstance(error, UnacknowledgedError)
        ):
            return  # the device is still waiting for an answer to the Status we hold
        await self.reopen()

    # --- the lock-step ------------------------------------------------------------------------

    async def _open(self) -> UpdateLink:
        if not self.connected:
            try:
                await self.reopen()
            except OSError as exc:
                raise LinkLostError(f"cannot connect: {exc}", operation="connect") from exc
        return self.link

    @property
    def max_block(self) -> int:
        return self.link.max_block

    @property
    def carries_checksum(self) -> bool:
        return self.connected and self.link.carries_checksum

    @property
    def blind_writes(self) -> bool:
        """Whether a block may still land after the host gave up on it (GATT: no offset)."""
        return self.connected and bool(getattr(self.link, "blind_writes", False))

    @property
    def acknowledges_undecodable(self) -> bool:
        """Whether :attr:`acknowledged` may also follow a command the device could not decode
        (serial: yes; a link that does not say is taken to)."""
        return bool(getattr(self.link, "acknowledges_undecodable", True))

    @property
    def acknowledged(self) -> bool:
        """The pending Status shows the device took the command sent before it."""
        return self.connected and self.link.acknowledged

    async def status(self, *, timeout: float | None = None, offset: int | None = None) -> Status:
        """The Status awaiting an answer: the one already read, or the next one from the device."""
        if self._pending is None:
            link = await self._open()
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
        if not self.connected:
            # The Status was read on a link that has since failed: the device on a new
            # link opens with a Status of its own, so a command sent now would answer
            # the wrong one and every later command would be one Status behind.
            self._pending = None
            raise LinkLostError(
                "the link was lost before the command could answer its Status",
                operation=operation,
                offset=offset,
            )
        link = self.link
        self._pending = None
        try:
            await wait_within(link.send(command), self.timeouts.send, operation, offset=offset)
        except DfuError as exc:
            raise exc.locate(operation, offset) from None

    async def await_reboot(self) -> Status:
        """The first Status after a reset, reopening the link while the device is away."""
        async with deadline(self.timeouts.reboot, "wait for the device to reboot"):
            while True:
                try:
                    return await self.status(timeout=self.timeouts.reboot)
                except (LinkLostError, MalformedMessageError, DfuTimeoutError) as exc:
                    # A rebooting device may not even accept a connection yet.
                    log.debug("waiting for the device to come back: %s", exc)
                    await self.aclose()
                    await asyncio.sleep(self.timeouts.reconnect_pause)
