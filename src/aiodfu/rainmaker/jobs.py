"""Never act on a job read only once: ``+RMFWNOTIFY`` confirmed by a second ``AT+RMOTAFETCH``.

``+RMFWNOTIFY`` has no checksum. A byte lost or corrupted on the UART can
change the job ID or the size and still parse, and the module publishes
``AT+RMOTARESULT`` for any job ID while a host OTA is pending: a success
reported for a corrupted ID closes nothing, and the real job stays open
although its image was installed (campaign seed 4948). The cloud delivers an
unfinished job again on each ``AT+RMOTAFETCH`` (reference sections 3 and
4.1: "sent once per fetch/push while the job is unfinished"), so the job can
be read again before anything is reported or downloaded.
"""

from __future__ import annotations

from aiodfu.rainmaker.device import RainMakerDevice
from aiodfu.rainmaker.errors import NotificationError, NoUpdateError
from aiodfu.rainmaker.protocol import FirmwareNotification

CONFIRM_READS = 3
"""How many reads of a job :func:`confirmed` takes at most (two must agree)."""


def same_job(a: FirmwareNotification, b: FirmwareNotification) -> bool:
    """The same type, size, version and job ID (URLs differ: each fetch presigns one anew)."""
    return (a.type, a.size, a.version, a.job_id) == (b.type, b.size, b.version, b.job_id)


async def confirmed(device: RainMakerDevice, first: FirmwareNotification) -> FirmwareNotification:
    """``first``, once the module has announced the same job again.

    The job is read again (a notification already queued, else
    ``AT+RMOTAFETCH``) and the reads compared with :func:`same_job`. Two that
    agree decide, and the earlier of them is returned (the caller's own when
    it was right: a later fetch only renews the URL, and an expired URL is
    renewed when the download meets it); a read that does not arrive agrees
    with nothing. After :data:`CONFIRM_READS` reads with no two alike,
    :class:`NotificationError` is raised and nothing is reported: the job
    stays open for a later session.
    """
    reads: list[FirmwareNotification | None] = [first]
    while len(reads) < CONFIRM_READS:
        again: FirmwareNotification | None
        try:
            again = await device.robustly(device.fetch, "AT+RMOTAFETCH (confirm the job)")
        except NoUpdateError:
            again = None
        for read in reads:
            if again is not None and read is not None and same_job(again, read):
                return read
        reads.append(again)
    described = ", ".join("none" if r is None else f"{r.job_id!r} of {r.size} bytes" for r in reads)
    raise NotificationError(
        f"the module announced the job differently in {CONFIRM_READS} reads ({described}): "
        "a line was corrupted on the link; nothing was reported, the job stays open",
        operation="AT+RMOTAFETCH",
    )
