"""Update the host MCU through an ESP32 running ESP-AT with RainMaker.

>>> async with aiodfu.rainmaker.open("/dev/ttyUSB0") as session:
...     result = await session.update(install=write_to_inactive_slot)

``update`` does the whole reference flow (section 6) on the shared pull
engine (:mod:`aiodfu.core.pull`): take a pushed ``+RMFWNOTIFY`` or ask with
``AT+RMOTAFETCH``, read the job again to confirm it (:mod:`aiodfu.rainmaker.jobs`:
nothing is reported for a job read only once), let ``accept`` decline the
version (reported *rejected*),
**retrieve** through ``AT+HTTPURLCFG`` and ``AT+HTTPCGET`` with resume, clear
the stored URL, **verify** (``expected_sha256=``, the image's own integrity
via :func:`aiodfu.formats.own_integrity.check_own_integrity`), **install**,
and **report** *success* -- or *failed* with a reason when any step fails.
RainMaker itself carries no digest: without one of those checks the result
says the image is unverified (``require_verified=True`` refuses it). What the
image's own digest does not cover (an MCUboot signature TLV) is downloaded a
second time and compared (:func:`aiodfu.core.pull.reread_uncovered`); when
the two reads differ the image is downloaded again under the retry policy. The
image is held in memory, or streamed to a file with ``sink=FileSink(path)``
(:mod:`aiodfu.core.sinks`) and read back in blocks to verify it; a resumed
download truncates the sink to where it continues.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, overload

from aiodfu.core.errors import DfuError, ImageError
from aiodfu.core.link import LinkedSession
from aiodfu.core.progress import ProgressCallback, ProgressTracker
from aiodfu.core.pull import (
    PulledImage,
    PullInstaller,
    PullSink,
    Retrieved,
    SelfCheck,
    UncoveredMismatchError,
    checked_once,
    filling,
    install_pulled,
    reread_uncovered,
)
from aiodfu.core.session import Connector, InstallCallback, PullSession, UpdateResult, Verification
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.formats.own_integrity import check_own_integrity
from aiodfu.rainmaker.device import RainMakerDevice
from aiodfu.rainmaker.errors import JobRejectedError, NotificationError
from aiodfu.rainmaker.jobs import confirmed, same_job
from aiodfu.rainmaker.protocol import FirmwareNotification, OtaStatus
from aiodfu.rainmaker.timeouts import DEFAULT_RETRY, Timeouts
from aiodfu.rainmaker.transfers import DownloadTransfer, SecondRead, Store
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector

log = logging.getLogger("aiodfu.rainmaker")

Accept = Callable[[FirmwareNotification], bool | str]
"""Decides on a job before download: ``True``, or ``False``/a reason to reject it."""

MODULE_OTA_DONE = frozenset({2, 3, 4, 5})
"""``+RMOTA`` statuses that end the module's own OTA (5 also means "delayed": firmware bug)."""

ImageT = TypeVar("ImageT", bound=PulledImage)

UNCHECKED = Verification.none(
    "ESP RainMaker gives no digest of the image: only its size was checked"
)


class RainMakerSession(LinkedSession[RainMakerDevice], PullSession):
    """A host-MCU OTA session through one ESP-AT RainMaker module.

    ``connector`` opens the link and is called again to reconnect after a link
    loss. ``resume`` continues an interrupted download with a ``Range`` request
    (falling back to a clean restart where that fails). ``restart_module`` is
    the Wi-Fi MCU OTA option: once the module reports ``+RMOTA:2`` it is
    restarted with ``AT+RST`` at the next safe point (never mid-download).
    ``baudrate`` only sizes timeouts.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        baudrate: int | None = 115200,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        resume: bool = True,
        rx_size: int = 10240,
        restart_module: bool = False,
        report_progress: bool = True,
    ) -> None:
        self.retry = retry or DEFAULT_RETRY
        self.device = RainMakerDevice(
            connector,
            timeouts=timeouts or Timeouts(),
            retry=self.retry,
            baudrate=baudrate,
            rx_size=rx_size,
        )
        self.resume = resume
        self.restart_module = restart_module
        self.report_progress = report_progress
        self.module_restarts = 0
        self._restarted_for: int | None = None
        self._confirmed: FirmwareNotification | None = None
        """The last job two reads agreed on (reports for it need no further read)."""

    # --- jobs --------------------------------------------------------------------------------

    async def notifications(self) -> AsyncIterator[FirmwareNotification]:
        """Pushed ``+RMFWNOTIFY`` jobs as they arrive; ends only with the link (an error)."""
        await self.connect()
        while True:
            await self._restart_module_if_due()
            yield await self.device.next_notification(None)  # the caller bounds this wait

    async def fetch(self) -> FirmwareNotification:
        """A pending job: one already pushed, else ``AT+RMOTAFETCH`` and its notification.

        Raises :class:`~aiodfu.rainmaker.errors.NoUpdateError` when none arrives in time.
        """
        await self.connect()
        await self._restart_module_if_due()
        return await self.device.robustly(self.device.fetch, "AT+RMOTAFETCH")

    async def report(self, job: FirmwareNotification, status: OtaStatus, info: str = "") -> None:
        """``AT+RMOTARESULT`` for ``job`` (re-arming it first if the module rebooted).

        Only for a job the module announces again (:mod:`aiodfu.rainmaker.jobs`;
        once per job and session): a ``job`` it does not announce the same way,
        as a line corrupted on the UART would give, raises
        :class:`~aiodfu.rainmaker.errors.NotificationError` and nothing is reported.
        """
        await self.connect()
        if not same_job(await self._confirm(job), job):
            raise NotificationError(
                f"job {job.job_id!r} of {job.size} bytes is not the job the module announces: "
                "nothing was reported",
                operation="AT+RMOTARESULT",
            )
        await self.device.report(job, status, info)

    async def _confirm(self, job: FirmwareNotification) -> FirmwareNotification:
        """The job two reads agree on, starting from ``job`` (once per job and session):
        ``job`` itself if it is that job. No two reads alike raises (see :mod:`.jobs`)."""
        if self._confirmed is None or not same_job(job, self._confirmed):
            self._confirmed = await confirmed(self.device, job)
        return job if same_job(job, self._confirmed) else self._confirmed

    # --- the update --------------------------------------------------------------------------

    @overload
    async def update(
        self,
        *,
        install: InstallCallback,
        sink: None = None,
        accept: Accept | None = None,
        job: FirmwareNotification | None = None,
        progress: ProgressCallback | None = None,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult: ...

    @overload
    async def update(
        self,
        *,
        install: PullInstaller[ImageT],
        sink: PullSink[ImageT],
        accept: Accept | None = None,
        job: FirmwareNotification | None = None,
        progress: ProgressCallback | None = None,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult: ...

    async def update(
        self,
        *,
        install: PullInstaller[Any],
        sink: PullSink[PulledImage] | None = None,
        accept: Accept | None = None,
        job: FirmwareNotification | None = None,
        progress: ProgressCallback | None = None,
        expected_sha256: str | bytes | None = None,
        require_verified: bool = False,
    ) -> UpdateResult:
        """Download the pending job's image, verify it, ``install`` it, and report the outcome.

        ``install`` receives a :class:`~aiodfu.core.image.FirmwareImage`, or with
        ``sink=FileSink(path)`` a :class:`~aiodfu.core.sinks.PulledFile` (the
        image streamed to ``path``; the result's ``image`` is that file, removed
        again if the update fails). ``job`` defaults to :meth:`fetch`. The
        result's ``details`` hold the job ID, version, the status reported and
        the number of resumes; its ``verification`` says what checked the
        image. However the update ends (an error, retries exhausted,
        cancellation), the module is left without the stored URL and a failed
        job stays open for a later session.
        """
        await self.connect()
        async with self.device.releasing():
            job = await self._confirm(job or await self.fetch())
            await self._decide(job, accept)
            tracker = ProgressTracker(job.size, progress)
            if self.report_progress:
                await self.device.report(job, OtaStatus.IN_PROGRESS, "downloading")
            own_check = checked_once(check_own_integrity)  # the image is read once for it
            with filling(sink) as into:
                retrieved, reread = await self._retrieve_checked(
                    job, tracker, into, expected_sha256, own_check
                )
                result = await install_pulled(
                    retrieved,
                    install=install,
                    report=_JobOutcome(self, job),
                    tracker=tracker,
                    expected_sha256=expected_sha256,
                    require_verified=require_verified,
                    self_check=own_check,
                    reread_detail=reread,
                )
        await self._restart_module_if_due()
        return result

    async def _decide(self, job: FirmwareNotification, accept: Accept | None) -> None:
        verdict = True if accept is None else accept(job)
        if verdict is True:
            return
        reason = verdict if isinstance(verdict, str) else "version not accepted"
        await self.device.report(job, OtaStatus.REJECTED, reason)
        raise JobRejectedError(
            f"job {job.job_id} rejected: {reason}", operation="AT+RMOTARESULT", status=5
        )

    async def _retrieve_checked(
        self,
        job: FirmwareNotification,
        tracker: ProgressTracker,
        sink: PullSink[PulledImage],
        expected_sha256: str | bytes | None,
        own_check: SelfCheck,
    ) -> tuple[Retrieved, str | None]:
        """The download, and what its own digest leaves out read a second time.

        Two reads that differ there are a corrupted download: it is downloaded
        again, ``retry.attempts`` times at most, then reported failed.
        """
        mismatches = 0
        while True:
            retrieved = await self._retrieve(job, tracker, sink)
            image = retrieved.image
            try:
                detail = await reread_uncovered(
                    image,
                    functools.partial(self._reread, job, image),
                    expected_sha256=expected_sha256,
                    self_check=own_check,
                )
            except UncoveredMismatchError as exc:
                mismatches += 1
                if mismatches >= self.retry.attempts:
                    await self._report_failure(job, f"verification failed: {exc.message}")
                    raise
                log.warning("%s; downloading job %s again", exc.message, job.job_id)
                sink.truncate(0)
                continue
            except ImageError:
                detail = None  # its own check refuses it: install_pulled reports that
            return retrieved, detail

    async def _reread(
        self, job: FirmwareNotification, image: PulledImage, start: int, end: int
    ) -> bytes:
        """Bytes ``[start, end)`` of ``job``'s image, downloaded again (a resume at ``start``)."""
        again = SecondRead.of(image, start)
        await self._download(job, ProgressTracker(job.size), again)
        return bytes(again.kept[: end - start])

    async def _download(
        self, job: FirmwareNotification, tracker: ProgressTracker, sink: Store
    ) -> DownloadTransfer:
        """One download (engine-driven, resumed); the stored URL cleared once it is over."""
        transfer = DownloadTransfer(self.device, job, resume=self.resume, sink=sink)
        try:
            await run_transfer(transfer, tracker, self.retry, what=f"download of job {job.job_id}")
        except DfuError as exc:
            await self._report_failure(job, f"download failed: {exc.message}", exc)
            raise
        finally:
            await transfer.close()
        await self._clear_secrets()
        return transfer

    async def _retrieve(
        self, job: FirmwareNotification, tracker: ProgressTracker, sink: PullSink[PulledImage]
    ) -> Retrieved:
        """The image, downloaded into ``sink``."""
        transfer = await self._download(job, tracker, sink)
        job = transfer.notification  # presigned again if the URL expired meanwhile
        return Retrieved(
            sink.image(source=f"rainmaker job {job.job_id}"),
            UNCHECKED,
            {
                "job": job.job_id,
                "version": job.version or "unknown",
                "reported": OtaStatus.SUCCEEDED.name.lower(),
                "resumes": str(transfer.resumes),
            },
        )

    async def _report_failure(
        self, job: FirmwareNotification, info: str, error: DfuError | None = None
    ) -> None:
        """Report *failed* (the job stays open for a later fetch); never mask the real error."""
        try:
            if error is not None:
                await self.device.resync(error)  # the link or the module may be mid-failure
            await self.device.report(job, OtaStatus.FAILED, info)
        except DfuError as exc:
            log.warning("could not report the failure of job %s: %s", job.job_id, exc)

    async def _clear_secrets(self) -> None:
        try:
            await self.device.robustly(self.device.clear_download_settings, "clear the URL")
        except DfuError as exc:
            log.warning("could not clear the stored download URL: %s", exc)

    # --- the module's own OTA ----------------------------------------------------------------

    async def wait_module_ota(self, timeout: float | None) -> int:
        """Wait for the module's own OTA (``+RMOTA``) to end; returns its last status.

        With ``restart_module``, a success (2) restarts the module with ``AT+RST``.
        """
        await self.connect()
        device = self.device
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        while device.module_ota_status not in MODULE_OTA_DONE:
            device.module_ota_changed.clear()
            remaining = None if until is None else max(until - loop.time(), 0.0)
            await device.until(device.module_ota_changed.wait(), remaining, "wait for +RMOTA")
        status = device.module_ota_status
        assert status is not None
        await self._restart_module_if_due()
        return status

    async def _restart_module_if_due(self) -> None:
        device = self.device
        if not self.restart_module or device.module_ota_status != OtaStatus.SUCCEEDED:
            return
        if self._restarted_for == device.resets_seen:
            return
        log.info("the module's own OTA succeeded: restarting it with AT+RST")
        await device.robustly(device.restart, "AT+RST")
        self.module_restarts += 1
        self._restarted_for = device.resets_seen
        device.module_ota_status = None


def open(
    port: str,
    baudrate: int = 115200,
    *,
    rtscts: bool = False,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    resume: bool = True,
    rx_size: int = 10240,
    restart_module: bool = False,
) -> RainMakerSession:
    """A session on serial ``port`` (a path or pyserial URL); use with ``async with``."""

    connector = port_connector(port, baudrate, rtscts=rtscts)

    return RainMakerSession(
        connector,
        baudrate=baudrate,
        timeouts=timeouts,
        retry=retry,
        resume=resume,
        rx_size=rx_size,
        restart_module=restart_module,
    )


class _JobOutcome:
    """The pull engine's report, as ``AT+RMOTARESULT`` for one job."""

    def __init__(self, session: RainMakerSession, job: FirmwareNotification) -> None:
        self.session = session
        self.job = job

    async def succeeded(self, retrieved: Retrieved) -> None:
        await self.session.device.report(
            self.job, OtaStatus.SUCCEEDED, self.job.version or "OTA success"
        )

    async def failed(self, retrieved: Retrieved, reason: str) -> None:
        await self.session._report_failure(self.job, reason)
