"""The public Notecard session: typed DFU requests and the whole IAP update in one call.

``async with aiodfu.notecard.open("/dev/ttyUSB0") as card`` (or
``open_i2c("/dev/i2c-1")``) resyncs with the card; ``await
card.update(install=write_to_flash)`` then runs reference section 4: check
``dfu.status`` is ``ready``, retrieve and verify the image (resuming from the
last verified offset after a link loss), leave DFU mode, and hand the image
to the shared pull engine (:func:`aiodfu.core.pull.install_pulled`), which
verifies it (the card's MD5, the caller's ``expected_sha256``, the image's
own hash), calls ``install`` (sync or async) and has the outcome reported
with ``dfu.status stop`` -- ``status`` on success, ``err`` when verifying or
installing failed. The image is held in memory or, with
``sink=FileSink(path)``, streamed to a file (:mod:`aiodfu.core.sinks`). A link
failure does *not* stop the DFU: ``stop`` deletes the card's copy, and a later
attempt can still use it. However the update ends, the device's release leaves
DFU mode and empties the binary store it used; a failed pull leaves no file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, TypedDict, TypeVar, Unpack, overload

from aiodfu.core.errors import DfuError
from aiodfu.core.link import LinkedSession
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker
from aiodfu.core.pull import (
    PulledImage,
    PullInstaller,
    PullSink,
    Retrieved,
    filling,
    install_pulled,
)
from aiodfu.core.session import (
    Connector,
    InstallCallback,
    PullSession,
    UpdateResult,
    Verification,
    VerificationMethod,
)
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.formats.own_integrity import check_own_integrity
from aiodfu.notecard.device import NotecardDevice
from aiodfu.notecard.errors import (
    ImageNotReadyError,
    ImageSupersededError,
    RequestNotSupportedError,
)
from aiodfu.notecard.i2c import (
    MAX_TRANSFER,
    NOTECARD_ADDRESS,
    BusSource,
    I2cPacing,
    i2c_connector,
)
from aiodfu.notecard.protocol import MAX_CHUNK, BinaryStoreStatus, DfuMode, DfuStatus, Message
from aiodfu.notecard.timeouts import Timeouts
from aiodfu.notecard.transfers import ImageRetrieval, choose_mode
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector

log = logging.getLogger("aiodfu.notecard")

DEFAULT_CHUNK_SIZE = MAX_CHUNK
"""The largest ``dfu.get`` the card allows: fewest round trips."""
SUCCESS_STATUS = "firmware update successful"

Installer = InstallCallback
"""Writes the verified image (e.g. to the inactive flash slot); may be sync or async."""

ImageT = TypeVar("ImageT", bound=PulledImage)

MD5_CHECKED = Verification(
    VerificationMethod.HOST_DIGEST,
    "the MD5 of the retrieved image matched the one Notehub gave the card",
)


class NotecardSession(LinkedSession[NotecardDevice], PullSession):
    """A session with one Notecard, reconnectable through ``connector``.

    ``binary`` chooses the retrieval mode: ``None`` (default) uses the binary
    store when the card has one, else base64. ``chunk_size`` is capped at the
    card's 8192-byte limit and, in binary mode, at its store's capacity.
    ``retry`` governs reconnecting, each idempotent step and the retrieval.
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
        self.device = NotecardDevice(
            connector, timeouts=timeouts, retry=retry, baudrate=baudrate, crc=crc
        )
        self.retry = self.device.retry
        self.chunk_size = chunk_size
        self.binary = binary

    async def transaction(
        self, request: Mapping[str, Any], *, timeout: float | None = None
    ) -> Message:
        """Any request, with CRC, retries and resync; ``err`` responses raise."""
        await self.connect()
        return await self.device.transaction(request, timeout=timeout)

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

    async def retrieve(
        self,
        *,
        progress: ProgressCallback | None = None,
        sink: PullSink[PulledImage] | None = None,
    ) -> UpdateResult:
        """Retrieve and verify the ready image and leave DFU mode -- without closing out.

        The card keeps the image and its ``ready`` state; :meth:`update` is
        this plus installing and ``dfu.status stop``. ``sink`` as for :meth:`update`.
        """
        tracker = ProgressTracker(0, progress)
        async with self.device.releasing():
            with filling(sink) as into:
                retrieved = await self._retrieve(tracker, into)
        tracker.set_phase(Phase.DONE)
        details = retrieved.result_details
        return UpdateResult.from_tracker(
            retrieved.image, tracker, verification=retrieved.checked, details=details
        )

    @overload
    async def update(
        self,
        install: Installer | None = None,
        *,
        sink: None = None,
        progress: ProgressCallback | None = None,
        success_status: str = SUCCESS_STATUS,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult: ...

    @overload
    async def update(
        self,
        install: PullInstaller[ImageT] | None = None,
        *,
        sink: PullSink[ImageT],
        progress: ProgressCallback | None = None,
        success_status: str = SUCCESS_STATUS,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult: ...

    async def update(
        self,
        install: PullInstaller[Any] | None = None,
        *,
        sink: PullSink[PulledImage] | None = None,
        progress: ProgressCallback | None = None,
        success_status: str = SUCCESS_STATUS,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult:
        """Retrieve, verify, install, then ``dfu.status stop`` with the outcome.

        ``install`` gets the verified image: a :class:`FirmwareImage`, or with
        ``sink=FileSink(path)`` a :class:`~aiodfu.core.sinks.PulledFile` (also
        the result's ``image``); ``None``: the result's ``image`` is all. If
        verification (the card's MD5, ``expected_sha256``, an MCUboot or
        ESP-IDF image's own hash) fails, nothing is installed and no file is
        left; if ``install`` raises, the card is told (``stop`` + ``err``) and
        :class:`InstallFailedError` is raised from the callback's exception.
        """
        tracker = ProgressTracker(0, progress)
        async with self.device.releasing():
            with filling(sink) as into:
                retrieved = await self._retrieve(tracker, into)
                return await install_pulled(
                    retrieved,
                    install=install or (lambda image: None),  # it is in the result
                    report=_CloseOut(self, success_status),
                    tracker=tracker,
                    expected_sha256=expected_sha256,
                    require_verified=require_verified,
                    self_check=check_own_integrity,
                )

    async def _retrieve(self, tracker: ProgressTracker, sink: PullSink[PulledImage]) -> Retrieved:
        tracker.set_phase(Phase.CONNECTING)
        status = await self.device.robustly(self.dfu_status, "dfu.status")
        if not status.ready:
            _raise_for_failed_download(status)
            raise ImageNotReadyError(
                f"the card has no image ready (mode {status.mode}); poll with wait_for_image()",
                operation="dfu.status",
                status=status.status,
            )
        mode = await self.device.robustly(
            lambda: choose_mode(self.device, self.binary, self.chunk_size), "card.binary"
        )
        retrieval = ImageRetrieval(
            self.device,
            status,
            chunk_size=mode.chunk_size,
            binary=mode.binary,
            store_cleared=mode.store_cleared,
            tracker=tracker,
            sink=sink,
        )
        try:
            await run_transfer(retrieval, tracker, self.retry, what="image retrieval")
            tracker.set_phase(Phase.VERIFYING)
            await self.device.robustly(retrieval.finish, "leave DFU mode")
        except DfuError as exc:
            await retrieval.close_out_failure(exc)
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
        return Retrieved(sink.image(source=info.name, details=info), MD5_CHECKED, details)


Notecard = NotecardSession
"""The session's earlier name, kept."""


class _CloseOut:
    """The pull engine's report: ``dfu.status stop`` with ``status`` or ``err``."""

    def __init__(self, session: NotecardSession, success_status: str) -> None:
        self.session = session
        self.success_status = success_status

    async def succeeded(self, retrieved: Retrieved) -> None:
        stop = self.session.stop_dfu
        await self.session.device.robustly(lambda: stop(status=self.success_status), "close out")

    async def failed(self, retrieved: Retrieved, reason: str) -> None:
        stop = self.session.stop_dfu
        try:
            await self.session.device.robustly(lambda: stop(err=reason, status=reason), "close out")
        except DfuError as exc:
            log.warning("could not tell the card the update failed (%s): %s", reason, exc)


def _raise_for_failed_download(status: DfuStatus) -> None:
    if status.mode == DfuMode.ERROR:
        raise ImageSupersededError(
            f"the card reports the download failed: {status.status or 'no reason given'}",
            operation="dfu.status",
            status=status.status,
        )


class SessionOptions(TypedDict, total=False):
    """The options :func:`open` and :func:`open_i2c` pass on to :class:`NotecardSession`."""

    timeouts: Timeouts | None
    retry: RetryPolicy | None
    chunk_size: int
    binary: bool | None
    crc: bool


def open(port: str, baudrate: int = 115200, **options: Unpack[SessionOptions]) -> NotecardSession:
    """A session on serial ``port`` (no flow control: the Notecard has none); ``async with`` it."""
    connector = port_connector(port, baudrate, rtscts=False)
    return NotecardSession(connector, baudrate=baudrate, **options)


def open_i2c(
    bus: BusSource = "/dev/i2c-1",
    address: int = NOTECARD_ADDRESS,
    *,
    max_transfer: int = MAX_TRANSFER,
    pacing: I2cPacing | None = None,
    **options: Unpack[SessionOptions],
) -> NotecardSession:
    """A session over serial-over-I2C at ``address`` on ``bus``; ``async with`` it.

    ``bus`` is a Linux ``/dev/i2c-N`` path, any :class:`~aiodfu.transports.i2c.I2cBus`
    (shared, never closed by the session) or a callable opening one.
    ``max_transfer`` bounds the bytes of one I2C transfer (lower it for
    adapters with small buffers); each transfer is bounded by
    ``timeouts.i2c_transfer``.
    """
    timeouts = options["timeouts"] = options.get("timeouts") or Timeouts()
    connector = i2c_connector(
        bus,
        address,
        max_transfer=max_transfer,
        pacing=pacing,
        transfer_timeout=timeouts.i2c_transfer,
    )
    return NotecardSession(connector, **options)
