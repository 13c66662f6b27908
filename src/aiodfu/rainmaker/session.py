"""Update the host MCU through an ESP32 running ESP-AT with RainMaker.

>>> async with aiodfu.rainmaker.open("/dev/ttyUSB0") as session:
...     result = await session.update(install=write_to_inactive_slot)

``update`` does the whole reference flow (section 6): take a pushed
``+RMFWNOTIFY`` or ask with ``AT+RMOTAFETCH``, let ``accept`` decline the
version (reported *rejected*), download through ``AT+HTTPURLCFG`` and
``AT+HTTPCGET`` with resume, clear the stored URL, run ``install``, and report
*success* -- or *failed* with a reason when the download or install fails.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable

from aiodfu.at.device import AtDeviceSession
from aiodfu.core.errors import DfuError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker
from aiodfu.core.session import Connector, InstallCallback, PullSession, UpdateResult, Verification
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.rainmaker.device import RainMakerDevice
from aiodfu.rainmaker.errors import InstallFailedError, JobRejectedError
from aiodfu.rainmaker.protocol import FirmwareNotification, OtaStatus
from aiodfu.rainmaker.timeouts import Timeouts
from aiodfu.rainmaker.transfers import DownloadTransfer
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector

log = logging.getLogger("aiodfu.rainmaker")

Accept = Callable[[FirmwareNotification], bool | str]
"""Decides on a job before download: ``True``, or ``False``/a reason to reject it."""

MODULE_OTA_DONE = frozenset({2, 3, 4, 5})
"""``+RMOTA`` statuses that end the module's own OTA (5 also means "delayed": firmware bug)."""


class RainMakerSession(AtDeviceSession[RainMakerDevice], PullSession):
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
        self.retry = retry or RetryPolicy(attempts=4)
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
        return await self.device.resilient(lambda number: self.device.fetch(), "AT+RMOTAFETCH")

    async def report(self, job: FirmwareNotification, status: OtaStatus, info: str = "") -> None:
        """``AT+RMOTARESULT`` for ``job`` (re-arming it first if the module rebooted)."""
        await self.connect()
        await self.device.report(job, status, info)

    # --- the update --------------------------------------------------------------------------

    async def update(
        self,
        *,
        install: InstallCallback,
        accept: Accept | None = None,
        job: FirmwareNotification | None = None,
        progress: ProgressCallback | None = None,
    ) -> UpdateResult:
        """Download the pending job's image, ``install`` it, and report the outcome.

        ``job`` defaults to :meth:`fetch`. The result's ``details`` hold the job
        ID, version and the status reported.
        """
        await self.connect()
        job = job or await self.fetch()
        if accept is not None:
            verdict = accept(job)
            if verdict is not True:
                reason = verdict if isinstance(verdict, str) else "version not accepted"
                await self.device.report(job, OtaStatus.REJECTED, reason)
                raise JobRejectedError(
                    f"job {job.job_id} rejected: {reason}", operation="AT+RMOTARESULT", status=5
                )
        tracker = ProgressTracker(job.size, progress)
        if self.report_progress:
            await self.device.report(job, OtaStatus.IN_PROGRESS, "downloading")
        transfer = DownloadTransfer(self.device, job, resume=self.resume)
        try:
            await run_transfer(transfer, tracker, self.retry, what=f"download of job {job.job_id}")
        except DfuError as exc:
            await self._report_failure(job, f"download failed: {exc.message}")
            raise
        finally:
            await transfer.close()
            await self._clear_secrets(transfer)
        image = FirmwareImage(bytes(transfer.received), source=f"rainmaker job {job.job_id}")
        tracker.set_phase(Phase.APPLYING)
        try:
            outcome = install(image)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            await self._report_failure(job, f"install failed: {exc}")
            raise InstallFailedError(f"installing job {job.job_id} failed: {exc}") from exc
        info = job.version or "OTA success"
        await self.device.report(job, OtaStatus.SUCCEEDED, info)
        tracker.set_phase(Phase.DONE)
        await self._restart_module_if_due()
        return UpdateResult.from_tracker(
            image,
            tracker,
            verification=Verification.none(
                "ESP RainMaker gives no digest of the image: only its size was checked"
            ),
            details={
                "job": job.job_id,
                "version": job.version or "unknown",
                "reported": OtaStatus.SUCCEEDED.name.lower(),
                "resumes": str(transfer.resumes),
            },
        )

    async def _report_failure(self, job: FirmwareNotification, info: str) -> None:
        """Report *failed* (the job stays open for a later fetch); never mask the real error."""
        try:
            await self.device.recover()
            await self.device.report(job, OtaStatus.FAILED, info)
        except DfuError as exc:
            log.warning("could not report the failure of job %s: %s", job.job_id, exc)

    async def _clear_secrets(self, transfer: DownloadTransfer) -> None:
        try:
            await self.device.resilient(
                lambda number: self.device.clear_download_settings(transfer.headers_used),
                "clear the download URL",
            )
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
        await device.resilient(lambda number: device.restart(), "AT+RST")
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
