"""The public Notecard session: typed DFU requests and the whole IAP update in one call.

``async with aiodfu.notecard.open("/dev/ttyUSB0") as card`` resyncs with the
card; ``await card.update(install=write_to_flash)`` then runs reference
section 4: check ``dfu.status`` is ``ready``, retrieve and verify the image
(resuming from the last verified offset after a link loss), leave DFU mode,
hand the verified image to ``install`` (sync or async), and close out with
``dfu.status stop`` -- ``status`` on success, ``err`` when installing or
verifying failed. A link failure does *not* stop the DFU: ``stop`` deletes
the card's copy of the image, and a later attempt can still use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self, TypeVar

import attrs

from aiodfu.core.errors import DfuError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker
from aiodfu.core.session import (
    Connector,
    InstallCallback,
    PullSession,
    UpdateResult,
    Verification,
    VerificationMethod,
)
from aiodfu.core.transfer import RetryPolicy, run_transfer, with_recovery
from aiodfu.notecard.client import NotecardClient
from aiodfu.notecard.codec import Message
from aiodfu.notecard.errors import (
    DfuModeEntryTimeoutError,
    ImageNotReadyError,
    ImageSupersededError,
    ImageVerificationError,
    InstallFailedError,
    MissingImageInfoError,
    RequestNotSupportedError,
)
from aiodfu.notecard.messages import MAX_CHUNK, BinaryStoreStatus, DfuMode, DfuStatus
from aiodfu.notecard.retrieval import ImageRetrieval
from aiodfu.notecard.timeouts import Timeouts
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector

log = logging.getLogger("aiodfu.notecard")

T = TypeVar("T")

DEFAULT_CHUNK_SIZE = MAX_CHUNK
"""The largest ``dfu.get`` the card allows: fewest round trips."""
SUCCESS_STATUS = "firmware update successful"

Installer = InstallCallback
"""Writes the verified image (e.g. to the inactive flash slot); may be sync or async."""

# Failures after which the card is told the DFU failed (reference 4, steps 3 and 8).
_REPORTED_FAILURES = (ImageVerificationError, DfuModeEntryTimeoutError, MissingImageInfoError)


class Notecard(PullSession):
    """A session with one Notecard, reconnectable through ``connector``.

    ``binary`` chooses the retrieval mode: ``None`` (default) uses the binary
    store when the card has one, else base64. ``chunk_size`` is capped at the
    card's 8192-byte limit and, in binary mode, at its store's capacity.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        timeouts: Timeouts | None = None,
        baudrate: int | None = None,
        crc: bool = True,
        retry: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        binary: bool | None = None,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be within 1..{MAX_CHUNK}, not {chunk_size}")
        self.client = NotecardClient(connector, timeouts=timeouts, baudrate=baudrate, crc=crc)
        self.retry = retry or RetryPolicy(attempts=5, initial_delay=0.5)
        self.chunk_size = chunk_size
        self.binary = binary

    async def __aenter__(self) -> Self:
        await self._robustly("connect", self._nothing)
        return self

    @staticmethod
    async def _nothing() -> None:
        return None

    async def _robustly(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent step of the update, reopening the link after a transient failure."""

        async def attempt(number: int) -> T:
            await self.client.connect()
            return await operation()

        async def recover(error: DfuError, number: int) -> None:
            await self.client.reopen()

        return await with_recovery(attempt, recover, self.retry, what=what)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def transaction(
        self, request: Mapping[str, Any], *, timeout: float | None = None
    ) -> Message:
        """Any request, with CRC, retries and resync; ``err`` responses raise."""
        await self.client.connect()
        return await self.client.transaction(request, timeout=timeout)

    # --- dfu.status --------------------------------------------------------------------------

    async def dfu_status(self, *, name: str = "user", **arguments: Any) -> DfuStatus:
        """``dfu.status`` (``name`` ``"user"`` for the host, ``"card"`` for the Notecard)."""
        response = await self.transaction({"req": "dfu.status", "name": name, **arguments})
        return DfuStatus.from_response(response)

    async def report_version(self, version: str | Mapping[str, Any]) -> None:
        """Tell Notehub which host firmware runs (a string, or the object form)."""
        await self.transaction({"req": "dfu.status", "version": version})

    async def set_downloads(self, enabled: bool, *, name: str = "user") -> DfuStatus:
        """Allow (``on``) or forbid (``off``) background downloads; persists on the card."""
        return await self.dfu_status(name=name, **({"on": True} if enabled else {"off": True}))

    async def set_voltage_policy(self, vvalue: str, *, name: str = "user") -> DfuStatus:
        """Allow downloads per battery state, e.g. ``"usb:1;high:1;normal:0;low:0;dead:0"``."""
        return await self.dfu_status(name=name, vvalue=vvalue)

    async def stop_dfu(
        self, *, status: str | None = None, err: str | None = None, name: str = "user"
    ) -> DfuStatus:
        """End the DFU: the card deletes its image and reports ``completed`` (``error``)."""
        arguments: dict[str, Any] = {"stop": True}
        if status is not None:
            arguments["status"] = status
        if err is not None:
            arguments["err"] = err
        return await self.dfu_status(name=name, **arguments)

    async def wait_for_image(
        self, *, interval: float = 60.0, timeout: float | None = None
    ) -> DfuStatus:
        """Poll ``dfu.status`` until it is ``ready``; raises on ``error`` or after ``timeout``."""
        loop = asyncio.get_running_loop()
        give_up = None if timeout is None else loop.time() + timeout
        while True:
            status = await self.dfu_status()
            if status.ready:
                return status
            _raise_for_failed_download(status)
            if give_up is not None and loop.time() + interval > give_up:
                raise ImageNotReadyError(
                    f"no image ready within {timeout:g} s (mode {status.mode})",
                    operation="dfu.status",
                    status=status.status,
                )
            await asyncio.sleep(interval)

    # --- hub.set and card.dfu ----------------------------------------------------------------

    async def set_hub_mode(self, mode: str) -> None:
        """``hub.set mode`` (``dfu``, ``dfu-completed``, ``periodic``, ``-`` ...)."""
        await self.transaction({"req": "hub.set", "mode": mode})

    async def configure_outboard_dfu(
        self,
        *,
        name: str | None = None,
        on: bool = False,
        off: bool = False,
        seconds: int | None = None,
        stop: bool = False,
        start: bool = False,
        mode: str | None = None,
    ) -> Message:
        """``card.dfu``: NOFU set-up (the card flashes the host itself); returns its reply."""
        request: Message = {"req": "card.dfu"}
        if name is not None:
            request["name"] = name
        for flag, value in (("on", on), ("off", off), ("stop", stop), ("start", start)):
            if value:
                request[flag] = True
        if seconds is not None:
            request["seconds"] = seconds
        if mode is not None:
            request["mode"] = mode
        return await self.transaction(request)

    async def binary_store(self) -> BinaryStoreStatus | None:
        """``card.binary``; ``None`` when this card has no binary store."""
        try:
            return BinaryStoreStatus.from_response(await self.transaction({"req": "card.binary"}))
        except RequestNotSupportedError:
            return None

    # --- the update --------------------------------------------------------------------------

    async def retrieve(self, *, progress: ProgressCallback | None = None) -> UpdateResult:
        """Retrieve and verify the ready image and leave DFU mode -- without closing out.

        The card keeps the image and its ``ready`` state; :meth:`update` is
        this plus installing and ``dfu.status stop``.
        """
        tracker = ProgressTracker(0, progress)
        result = await self._retrieve(tracker)
        tracker.set_phase(Phase.DONE)
        return result

    async def update(
        self,
        install: Installer | None = None,
        *,
        progress: ProgressCallback | None = None,
        success_status: str = SUCCESS_STATUS,
    ) -> UpdateResult:
        """Retrieve, verify, install, then ``dfu.status stop`` with the outcome.

        ``install`` receives the verified :class:`FirmwareImage`; if it raises,
        the card is told (``stop`` + ``err``) and :class:`InstallFailedError`
        is raised from the callback's exception. Returns the result whose
        ``image`` is the verified image.
        """
        tracker = ProgressTracker(0, progress)
        result = await self._retrieve(tracker)
        if install is not None:
            tracker.set_phase(Phase.APPLYING)
            try:
                outcome = install(result.image)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                reason = f"host install failed: {exc}"
                await self._robustly("close out", lambda: self.stop_dfu(err=reason, status=reason))
                raise InstallFailedError(reason, operation="install") from exc
        await self._robustly("close out", lambda: self.stop_dfu(status=success_status))
        tracker.set_phase(Phase.DONE)
        return result

    async def _retrieve(self, tracker: ProgressTracker) -> UpdateResult:
        tracker.set_phase(Phase.CONNECTING)
        status = await self._robustly("dfu.status", self.dfu_status)
        if not status.ready:
            _raise_for_failed_download(status)
            raise ImageNotReadyError(
                f"the card has no image ready (mode {status.mode}); poll with wait_for_image()",
                operation="dfu.status",
                status=status.status,
            )
        mode = await self._robustly("card.binary", self._choose_mode)
        retrieval = ImageRetrieval(
            self.client,
            status,
            chunk_size=mode.chunk_size,
            binary=mode.binary,
            store_cleared=mode.store_cleared,
            tracker=tracker,
        )
        try:
            await run_transfer(retrieval, tracker, self.retry, what="image retrieval")
            tracker.set_phase(Phase.VERIFYING)
            await self._robustly("leave DFU mode", retrieval.finish)
        except DfuError as exc:
            await self._close_out_failure(retrieval, exc)
            raise
        info = retrieval.info
        assert info is not None
        details = {
            "mode": "binary" if retrieval.binary else "base64",
            "md5": info.md5 or "",
            "entered_dfu_mode": "yes" if retrieval.dfu_mode.ever_entered else "no",
            "chunks_fetched": str(retrieval.fetched_chunks),
        }
        if info.version:
            details["version"] = info.version
        return UpdateResult.from_tracker(
            FirmwareImage(bytes(retrieval.received), details=info, source=info.name),
            tracker,
            verification=Verification(
                VerificationMethod.HOST_DIGEST,
                "the MD5 of the retrieved image matched the one Notehub gave the card",
            ),
            details=details,
        )

    async def _choose_mode(self) -> _Mode:
        """Binary when the card has a store (unless told otherwise), else base64.

        Detection empties the store at the same time (``card.binary delete``
        reports the capacity too), saving the binary loop a round trip; the
        chunk size is capped at that capacity.
        """
        if self.binary is False:
            return _Mode(binary=False, store_cleared=False, chunk_size=self.chunk_size)
        try:
            reply = await self.transaction({"req": "card.binary", "delete": True})
        except RequestNotSupportedError:
            capacity = 0
        else:
            capacity = BinaryStoreStatus.from_response(reply).max
        binary = capacity > 0 if self.binary is None else self.binary
        chunk_size = min(self.chunk_size, capacity) if binary and capacity else self.chunk_size
        log.info("retrieval mode: %s, %d-byte chunks", "binary" if binary else "base64", chunk_size)
        return _Mode(binary=binary, store_cleared=capacity > 0, chunk_size=chunk_size)

    async def _close_out_failure(self, retrieval: ImageRetrieval, error: DfuError) -> None:
        """Best effort: leave DFU mode; report verification-type failures to the card."""
        with contextlib.suppress(DfuError):
            await retrieval.dfu_mode.leave()
        if isinstance(error, _REPORTED_FAILURES):
            with contextlib.suppress(DfuError):
                await self.stop_dfu(err=error.message, status=error.message)


@attrs.frozen
class _Mode:
    binary: bool
    store_cleared: bool
    chunk_size: int


def _raise_for_failed_download(status: DfuStatus) -> None:
    if status.mode == DfuMode.ERROR:
        raise ImageSupersededError(
            f"the card reports the download failed: {status.status or 'no reason given'}",
            operation="dfu.status",
            status=status.status,
        )


def open(
    port: str,
    baudrate: int = 115200,
    *,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    binary: bool | None = None,
    crc: bool = True,
) -> Notecard:
    """A session on serial ``port`` (no flow control: the Notecard has none); ``async with`` it."""

    connector = port_connector(port, baudrate, rtscts=False)

    return Notecard(
        connector,
        timeouts=timeouts,
        baudrate=baudrate,
        retry=retry,
        chunk_size=chunk_size,
        binary=binary,
        crc=crc,
    )
