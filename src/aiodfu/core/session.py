"""The abstract session every push backend implements.

``async with backend.open(...) as session: await session.update(image)`` is the
whole public shape; backends add their own typed options as keyword
arguments and their own device commands as methods.
"""

from __future__ import annotations

import abc
import enum
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import attrs

from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressCallback, ProgressTracker
from aiodfu.core.resource import AsyncResource
from aiodfu.core.sinks import PulledImage

T = TypeVar("T")

Connector = Callable[[], Awaitable[T] | T]
"""Opens a fresh link to the device (sync or async); called again after a link loss."""


async def open_link(connector: Connector[T]) -> T:
    """Call ``connector`` and await its result if it is awaitable."""
    link = connector()
    if inspect.isawaitable(link):
        return await link
    return link


ImageSource = FirmwareImage | bytes | str | os.PathLike[str]
"""What ``update`` takes: an image, or a file's bytes or path for :func:`aiodfu.load_image`."""


class VerificationMethod(enum.Enum):
    """Who checked the image end to end, and how strongly."""

    DEVICE_CRC = "device-crc"
    """The device checked a CRC over the whole image it holds (finds corruption, not tampering)."""
    DEVICE_DIGEST = "device-digest"
    """The device checked a cryptographic hash or signature (MCUboot at swap, a signed delta)."""
    HOST_DIGEST = "host-digest"
    """This host checked a digest of the bytes it received (pulls: MD5, the image's own SHA-256)."""
    NONE = "none"
    """Nothing checked the image end to end: the protocol (or this device) cannot."""


@attrs.frozen
class Verification:
    """How an update's image was verified end to end, in one sentence a person can act on.

    A result always carries one: "updated" is a claim about the device, and how
    much it is worth depends on who checked what.
    """

    method: VerificationMethod
    detail: str

    @property
    def verified(self) -> bool:
        return self.method is not VerificationMethod.NONE

    @classmethod
    def none(cls, why: str) -> Verification:
        """No end-to-end check; ``why`` says what the protocol or device lacks."""
        return cls(VerificationMethod.NONE, why)

    def __str__(self) -> str:
        return f"{self.method.value}: {self.detail}"


@attrs.frozen
class UpdateResult:
    """What an update did, and how its image was verified.

    ``bytes_moved`` counts the bytes of every chunk the device confirmed in this
    session, including those of attempts that were later restarted, so
    ``bytes_moved / len(image)`` shows the cost of recovery. ``image`` is the
    image sent, or the one pulled: a :class:`~aiodfu.core.sinks.PulledFile`
    (its ``path`` says where) when a pull streamed it to a file.
    """

    image: PulledImage
    attempts: int
    bytes_moved: int
    elapsed: float
    verification: Verification
    details: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_tracker(
        cls,
        image: PulledImage,
        tracker: ProgressTracker,
        *,
        verification: Verification,
        details: Mapping[str, str] | None = None,
    ) -> UpdateResult:
        """The result of the update ``tracker`` followed: its attempts, bytes and time."""
        return cls(
            image=image,
            attempts=tracker.attempt,
            bytes_moved=tracker.moved,
            elapsed=tracker.elapsed,
            verification=verification,
            details=dict(details or {}),
        )


class UpdateSession(AsyncResource):
    """An open connection to one device that this host updates (push)."""

    @abc.abstractmethod
    async def update(
        self, image: ImageSource, *, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Send ``image`` and have the device take it; raise a :class:`DfuError` otherwise."""


InstallCallback = Callable[[FirmwareImage], Awaitable[object] | object]
"""Installs a verified image (sync or async); raising reports the update as failed."""


class PullSession(AsyncResource):
    """An open connection to a device that delivers an image to this host (pull).

    The device (a Notecard, an ESP-AT module) has downloaded or can download
    the image; the session retrieves and verifies it, calls ``install``, and
    reports the outcome back through the device. Backends also take ``sink=``
    (:mod:`aiodfu.core.sinks`): where the image goes while it arrives -- in
    memory by default, or a file, never held whole -- and what ``install``
    receives.
    """

    @abc.abstractmethod
    async def update(
        self, *, install: InstallCallback, progress: ProgressCallback | None = None
    ) -> UpdateResult:
        """Retrieve, verify, ``install`` and report; raise a :class:`DfuError` otherwise."""
