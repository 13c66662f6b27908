"""The ESP RainMaker cloud as the emulated module sees it: one host-MCU job and its reports.

The cloud holds at most one unfinished host-MCU OTA job per node; it
delivers it on ``AT+RMOTAFETCH`` (or pushes it) until the node reports
*success* (2) or *rejected* (5), the only two results that finish a job.
Every accepted ``AT+RMOTARESULT`` is kept for test assertions.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from aiodfu.rainmaker.protocol import FirmwareNotification, OtaStatus

HostJob = FirmwareNotification
"""A host-MCU OTA job the cloud holds for this node (what ``+RMFWNOTIFY`` announces)."""

Presign = Callable[[HostJob], HostJob]
"""Returns the job with a freshly presigned URL (called on each fetch)."""

STATUS_TEXT = {1: "in progress", 2: "success", 3: "failed", 4: "delayed", 5: "rejected"}
"""The ``status`` text the node publishes to ``node/<id>/otastatus`` for each result."""

FINISHED = frozenset({STATUS_TEXT[OtaStatus.SUCCEEDED], STATUS_TEXT[OtaStatus.REJECTED]})


@attrs.frozen
class ReportedResult:
    """One accepted ``AT+RMOTARESULT``."""

    job_id: str
    status: int
    info: str


class RainMakerCloud:
    """The job on offer, what was reported, and (``presign``) how URLs are renewed."""

    def __init__(self, presign: Presign | None = None) -> None:
        self.presign = presign
        self.job: HostJob | None = None
        self.job_image: bytes | None = None
        self.job_status: dict[str, str] = {}
        """Job ID -> the last status text reported (``queued`` until one is)."""
        self.results: list[ReportedResult] = []

    def offer(self, job: HostJob, image: bytes | None = None) -> None:
        """Hold ``job`` as the node's unfinished host-MCU OTA job (delivered on fetch/push)."""
        self.job = job
        self.job_image = image
        self.job_status.setdefault(job.job_id, "queued")

    def open_job(self) -> HostJob | None:
        """The job on offer, unless the node has finished it (success or rejected)."""
        if self.job is None or self.job_status.get(self.job.job_id) in FINISHED:
            return None
        return self.job

    def fetch(self) -> HostJob | None:
        """``AT+RMOTAFETCH`` reached the cloud: the open job, its URL presigned again."""
        job = self.open_job()
        if job is not None and self.presign is not None:
            job = self.job = self.presign(job)
        return job

    def report(self, job_id: str, status: int, info: str) -> None:
        """The node published a result for ``job_id``."""
        self.results.append(ReportedResult(job_id, status, info))
        self.job_status[job_id] = STATUS_TEXT.get(status, str(status))
