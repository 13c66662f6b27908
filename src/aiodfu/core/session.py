"""The abstract session every push backend implements.

``async with backend.open(...) as session: await session.update(image)`` is the
whole public shape; backends add their own typed options as keyword
arguments and their own device commands as methods.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.resource import AsyncResource

T = TypeVar("T")

Connector = Callable[[], Awaitable[T] | T]
"""Opens a fresh link to the device (sync or async); called again after a link loss."""


async def open_link(connector: Connector[T]) -> T:
    """Call ``connector`` and await its result if it is awaitable."""
    link = connector()
    if inspect.isawaitable(link):
        return await link
    return link


@attrs.frozen
class UpdateResult:
    """What an update did.

    ``bytes_moved`` counts the bytes of every chunk the device confirmed in this
    session, including those of attempts that were later restarted, so
    ``bytes_moved / len(image)`` shows the cost of recovery.
    """

    image: FirmwareImage
    attempts: int
    bytes_moved: int
    elapsed: float
    details: dict[str, str] = attrs.field(factory=dict)


class UpdateSession(AsyncResource):
    """An open connection to one device that this host updates (push)."""

    @abc.abstractmethod
    async def update(
        self, image: FirmwareImage, *, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Send ``image`` and have the device take it; raise a :class:`DfuError` otherwise."""


InstallCallback = Callable[[FirmwareImage], Awaitable[object] | object]
"""Installs a verified image (sync or async); raising reports the update as failed."""


class PullSession(AsyncResource):
    """An open connection to a device that delivers an image to this host (pull).

    The device (a Notecard, an ESP-AT module) has downloaded or can download
    the image; the session retrieves and verifies it, calls ``install``, and
    reports the outcome back through the device.
    """

    @abc.abstractmethod
    async def update(
        self, *, install: InstallCallback, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Retrieve, verify, ``install`` and report; raise a :class:`DfuError` otherwise."""
