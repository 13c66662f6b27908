"""The base every emulated device builds on.

An :class:`Emulator` is a device whose state outlives its connections, the
way a real board's does when a cable is pulled. Whatever its transport, it
has :attr:`~Emulator.image` (what it runs), :attr:`~Emulator.failures`
(its own bugs), :meth:`~Emulator.disconnect` (pull the cable) and
``aclose()``, so fixtures tear every emulator down alike.

A byte-stream device implements :meth:`Emulator.serve`: then
:meth:`Emulator.connect` gives a fresh in-memory link (with a link model and
faults) and serves its device end, and :func:`aiodfu.testing.pty.serve_pty`
serves a pseudo-terminal instead, so any serial tool can drive the device. A
new connection replaces the previous one. A BLE device is reached over its
radio instead (:mod:`aiodfu.testing.ble`) and leaves ``serve`` alone.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging

from aiodfu.core.errors import LinkLostError, UsageError
from aiodfu.core.resource import AsyncResource
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkFaults, LinkModel, MemoryLink, MemoryStream

log = logging.getLogger("aiodfu.testing")


class Emulator(AsyncResource):
    """A device model whose state outlives its connections.

    Byte-stream subclasses implement :meth:`serve`, which talks to the host
    over ``stream`` until the link is lost (it may simply let
    :class:`~aiodfu.core.errors.LinkLostError` propagate), and are served one
    connection at a time. Others (BLE) override :meth:`disconnect` and
    ``aclose`` for their own transport.
    """

    def __init__(self, *, link_model: LinkModel | None = None) -> None:
        self.link_model = link_model or LinkModel()
        self._task: asyncio.Task[None] | None = None
        self._link: MemoryLink | None = None
        self.failures: list[BaseException] = []
        """Unexpected exceptions raised while serving: an emulator bug, never a link loss."""

    async def serve(self, stream: ByteStream) -> None:
        """Talk to the host over ``stream`` until the link is lost (byte-stream devices)."""
        raise UsageError(f"{type(self).__name__} is not reached over a byte stream")

    @property
    def serves_byte_stream(self) -> bool:
        """Whether this emulator implements :meth:`serve` (and so :meth:`connect`)."""
        return type(self).serve is not Emulator.serve

    @property
    @abc.abstractmethod
    def image(self) -> bytes | None:
        """The firmware the device holds now."""

    @property
    def saved_image(self) -> bytes | None:
        """What ``aiodfu emulate --save-image`` writes: :attr:`image`, unless a device says else.

        A pull device that deletes its copy once delivered (a Notecard after
        ``dfu.status stop``) returns the image it delivered.
        """
        return self.image

    def connect(
        self,
        *,
        model: LinkModel | None = None,
        host_to_device: LinkFaults | None = None,
        device_to_host: LinkFaults | None = None,
    ) -> MemoryStream:
        """Plug in a new in-memory link and return the host's end of it."""
        link = MemoryLink(
            model or self.link_model, host_to_device=host_to_device, device_to_host=device_to_host
        )
        self.attach(link.device)
        self._link = link
        return link.host

    def attach(self, stream: ByteStream) -> None:
        """Serve ``stream`` (replacing any current connection) in a background task."""
        if not self.serves_byte_stream:
            raise UsageError(f"{type(self).__name__} is not reached over a byte stream")
        self._stop_serving()
        self._task = asyncio.get_running_loop().create_task(self._serve_guarded(stream))

    def disconnect(self) -> None:
        """Pull the cable: the current link breaks, the device keeps its state."""
        if self._link is not None:
            self._link.break_link()

    async def _serve_guarded(self, stream: ByteStream) -> None:
        try:
            await self.serve(stream)
        except LinkLostError:
            log.debug("%s: link lost", type(self).__name__)
        except Exception as exc:
            self.failures.append(exc)
            log.exception("%s crashed while serving", type(self).__name__)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    def _stop_serving(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._link is not None:
            self._link.break_link()
            self._link = None

    async def aclose(self) -> None:
        """Stop serving; the device state stays inspectable."""
        task = self._task
        self._stop_serving()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# Kept importable from here, where it was first defined.
from aiodfu.testing.faults import FaultyFirstLink  # noqa: E402

__all__ = ["Emulator", "FaultyFirstLink"]
