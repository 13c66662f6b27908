"""ESP RainMaker host-MCU OTA: fetch the job, download through the module, install, report.

The module (:class:`~aiodfu.testing.RainMakerEmulator`) downloads over real
TCP from a loopback :class:`~aiodfu.testing.FirmwareServer`. Device fault
kinds are :class:`~aiodfu.testing.RainMakerFaults` (``ERROR`` mid-download,
unsolicited lines, a URC between chunks); ``http:...`` kinds are the
server's :class:`~aiodfu.testing.HttpFaults` (an error status, an expired
URL, the connection reset mid-body, with or without ``Range`` support, a slow
body). The image is either raw bytes or an MCUboot image (which carries its
own SHA-256); where the session takes ``expected_sha256`` the case may give
it. The oracle is the host's own install: exactly the image the cloud
served, and the job reported ``success``.

Unverifiable successes are honest only for a raw image with no digest given:
RainMaker itself gives the host nothing but the size.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any, Self

from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.rainmaker import FirmwareNotification, RainMakerSession, Timeouts
from aiodfu.testing import (
    FirmwareServer,
    HttpFaults,
    RainMakerEmulator,
    RainMakerFaults,
    build_mcuboot_image,
    random_firmware,
)
from chaos.timing import fast
from chaos.trial import CANCEL, STREAM_LINK_KINDS, Fault, Held, StreamTrial

TIMEOUTS = fast(
    Timeouts(),
    0.1,
    notification=0.5,
    prompt=0.5,
    data_result=0.5,
    result=0.5,
    ready=0.5,
    http_timeout_ms=2000,
)
RETRY = RetryPolicy(attempts=5, initial_delay=0.001, max_delay=0.01)
RAW = random_firmware(6000, seed=501)
MCUBOOT = build_mcuboot_image(random_firmware(5500, seed=502), version=(2, 0, 1, 0))
JOB_ID = "chaosJob0000000000001"
NOISE = (b"+RMOTA:1", b"+RMCONNECT", b"busy p...", b'+RMFWNOTIFY:0,10,"x","1","j"')


def _takes_digest() -> bool:
    return "expected_sha256" in inspect.signature(RainMakerSession.update).parameters


class RainMakerTrial(StreamTrial):
    backend = "rainmaker"
    kinds = (
        *STREAM_LINK_KINDS,
        "device:error-mid-download",
        "device:unsolicited",
        "device:notify-between-chunks",
        "http:status",
        "http:expired",
        "http:reset",
        "http:reset-no-range",
        "http:slow-body",
        CANCEL,
        "http:corrupt-body",
        "http:wrong-length",
    )
    span = 1500
    upstream_span = 7000

    def draw(self) -> Fault:
        rng = self.rng
        self.image = MCUBOOT if rng.random() < 0.5 else RAW
        wants_digest = rng.random() < 0.5  # drawn either way: a seed is one case on any aiodfu
        self.digest = wants_digest and _takes_digest()
        self.unverifiable_ok = self.image is RAW and not self.digest
        self.faults = RainMakerFaults()
        self.http = HttpFaults()
        fault = self._draw_fault()
        what = "MCUboot image" if self.image is MCUBOOT else "raw image"
        given = ", sha256 given" if self.digest else ""
        return Fault(fault.kind, f"{what}{given}; {fault.detail}")

    def _draw_fault(self) -> Fault:
        rng, kind = self.rng, self.kind
        if kind.startswith("link:"):
            return self.draw_link()
        size = len(self.image)
        match kind:
            case "host:cancel":
                return self.draw_cancel(size)
            case "device:error-mid-download":
                self.faults.error_after_chunks = rng.randint(0, 3)
                detail = f"ERROR after {self.faults.error_after_chunks} chunks of the download"
            case "device:unsolicited":
                self.faults.unsolicited = [rng.choice(NOISE) for _ in range(rng.randint(1, 4))]
                detail = f"{len(self.faults.unsolicited)} unsolicited lines before an answer"
            case "device:notify-between-chunks":
                self.faults.notify_between_chunks = rng.choice(NOISE)
                detail = f"{self.faults.notify_between_chunks!r} between two chunks"
            case "http:status":
                self.http.status = rng.choice([404, 500, 503])
                detail = f"the server answers {self.http.status}"
            case "http:expired":
                self.http.expired = True
                detail = "the presigned URL has expired (403)"
            case "http:reset" | "http:reset-no-range":
                self.http.reset_after = rng.randrange(size)
                self.http.resets = rng.randint(1, 2)
                self.http.honour_range = kind == "http:reset"
                ranges = "" if self.http.honour_range else ", Range ignored (200 with everything)"
                detail = f"TCP reset after {self.http.reset_after} body bytes{ranges}"
            case "http:slow-body":
                self.http.slow_body = round(rng.uniform(0.01, 0.3), 3)
                self.http.piece = 1024
                detail = f"{self.http.slow_body} s pause after every 1024 body bytes"
            case "http:corrupt-body":
                self.http.corrupt_at = rng.randrange(size)
                detail = f"the server inverts body byte {self.http.corrupt_at}, once"
            case "http:wrong-length":
                self.http.length_delta = rng.choice([-rng.randint(1, size - 1), rng.randint(1, 64)])
                detail = f"Content-Length off by {self.http.length_delta:+d}, once"
            case _:
                raise ValueError(kind)
        return Fault(kind, detail)

    async def __aenter__(self) -> Self:
        self.server = FirmwareServer(faults=self.http)
        await self.server.start()
        self.module = RainMakerEmulator(seed=self.rng.randrange(1 << 16), faults=self.faults)
        url = self.server.add("host.bin", self.image)
        job = FirmwareNotification(
            type=0, size=len(self.image), url=url, version="2.0.1", job_id=JOB_ID
        )
        self.module.offer(job, self.image)
        self.installed: list[bytes] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.module.aclose()
        finally:
            await self.server.aclose()

    def _install(self, image: FirmwareImage) -> None:
        self.installed.append(image.data)

    async def _update(self, connector: Any, progress: Callable[[Progress], None] | None) -> Any:
        options: dict[str, Any] = {}
        if self.digest:
            options["expected_sha256"] = hashlib.sha256(self.image).hexdigest()
        session = RainMakerSession(connector, baudrate=None, timeouts=TIMEOUTS, retry=RETRY)
        async with session:
            return await session.update(install=self._install, progress=progress, **options)

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        result: UpdateResult = await self._update(self.faulty_connector(self.module), progress)
        return result

    def heal(self) -> None:
        self.module.faults = RainMakerFaults()
        self.server.faults = HttpFaults()

    async def update_fresh(self) -> UpdateResult:
        result: UpdateResult = await self._update(self.module.connect, None)
        return result

    def held(self) -> tuple[Held, str]:
        if not self.installed:
            return Held.NOT_APPLIED, "the host installed nothing"
        if self.installed[-1] != self.image:
            return Held.DIFFERENT_BYTES, "the host installed different bytes than the cloud served"
        status = self.module.job_status.get(JOB_ID)
        if status != "success":
            return Held.NOT_APPLIED, f"the cloud was not told (job status {status!r})"
        return Held.INTACT, "the host installed the image served and reported success"

    def emulator_failures(self) -> list[BaseException]:
        return list(self.module.failures)
