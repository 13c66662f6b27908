"""The base every emulated device builds on.

An :class:`Emulator` is a device whose state outlives its connections, the
way a real board's does when a cable is pulled: :meth:`Emulator.connect`
gives a fresh in-memory link (with a link model and faults) and serves its
device end; :func:`aiodfu.testing.pty.serve_pty` serves a pseudo-terminal
instead, so any serial tool can drive the device. A new connection replaces
the previous one.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging

from aiodfu.core.errors import LinkLostError
from aiodfu.core.resource import AsyncResource
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkFaults, LinkModel, MemoryLink, MemoryStream

log = logging.getLogger("aiodfu.testing")


class Emulator(AsyncResource):
    """A device model serving one byte-stream connection at a time.

    Subclasses implement :meth:`serve`, which talks to the host over
    ``stream`` until the link is lost (it may simply let
    :class:`~aiodfu.core.errors.LinkLostError` propagate).
    """

    def __init__(self, *, link_model: LinkModel | None = None) -> None:
        self.link_model = link_model or LinkModel()
        self._task: asyncio.Task[None] | None = None
        self._link: MemoryLink | None = None
        self.failures: list[BaseException] = []
        """Unexpected exceptions raised while serving: an emulator bug, never a link loss."""

    @abc.abstractmethod
    async def serve(self, stream: ByteStream) -> None:
        """Talk to the host over ``stream`` until the link is lost."""

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
