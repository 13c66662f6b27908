"""The emulated ESP-AT RainMaker module's AT port: line discipline, prompts, busy, resets.

The command semantics are in :mod:`~aiodfu.testing.rainmaker.commands`, the
cloud in :mod:`~aiodfu.testing.rainmaker.cloud`, the network side in
:mod:`~aiodfu.testing.rainmaker.http_client` and
:mod:`~aiodfu.testing.rainmaker.server`; the package docstring documents
the whole device.
"""

from __future__ import annotations

import asyncio
import logging
import random

import attrs

from aiodfu.core.errors import LinkLostError
from aiodfu.rainmaker.protocol import ErrCode, OtaStatus, err_code, format_fw_notify, redact
from aiodfu.testing.at_device import AtEmulator
from aiodfu.testing.device_faults import DeviceFaults, ErrorReply
from aiodfu.testing.faults import FaultVocabulary
from aiodfu.testing.rainmaker.cloud import HostJob, Presign, RainMakerCloud, ReportedResult
from aiodfu.testing.rainmaker.commands import (
    COMMAND_ERRORS,
    COMMANDS,
    DOWNLOAD_ERRORS,
    FAILED,
    UNSUPPORTED,
    CommandError,
    FirmwareVersions,
    prompt_length,
    prompted,
)
from aiodfu.testing.rainmaker.server import FirmwareServer
from aiodfu.testing.rainmaker_at import (
    ERROR,
    OK,
    BadLine,
    EspCommand,
    EspLineReader,
    parse_line,
)
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.rainmaker")

BUSY = b"busy p...\r\n"
PROMPT = OK + b"\r\n>"


@attrs.define
class RainMakerFaults(DeviceFaults):
    """Module faults; each one-shot knob is cleared when it fires.

    ``plan``, ``silent`` and ``unsolicited`` (one line before each answer) come
    from :class:`~aiodfu.testing.device_faults.DeviceFaults`; the knobs below
    are the module's own.
    """

    error_after_chunks: int | None = None
    """``ERR CODE:0x010a7000`` + ``ERROR`` after that many chunks of the next download."""
    reset_after_chunks: int | None = None
    """The module resets after that many chunks of the next download (``ready`` follows)."""
    notify_between_chunks: bytes | None = None
    """Sent between two chunks of the next download."""


@attrs.define
class _Prompt:
    """Raw bytes being collected after ``>``."""

    command: str
    wanted: int
    received: bytearray = attrs.field(factory=bytearray)


EMULATED_VERSIONS = FirmwareVersions()
"""What the emulated module's ``AT+GMR`` prints unless told otherwise."""


class RainMakerEmulator(AtEmulator):
    """An ESP32 running ESP-AT with RainMaker; see :mod:`aiodfu.testing.rainmaker`."""

    FAULT_VOCABULARY = FaultVocabulary(
        "rainmaker",
        commands=(
            ("AT+RMOTAFETCH", 1),
            ("AT+RMOTARESULT", 2),
            ("AT+HTTPURLCFG", 1),
            ("AT+HTTPCGET", 1),
        ),
        errors=(None, *(code.value for code in COMMAND_ERRORS)),
        offset_errors=(None, *(code.value for code in DOWNLOAD_ERRORS)),
        unsolicited=(b"WIFI DISCONNECT\r\n", b"WIFI CONNECTED\r\n", b"WIFI GOT IP\r\n"),
    )
    """``ErrorReply``: at a command, ``ERROR`` (after ``ERR CODE:<code>`` with ``AT+SYSLOG=1``;
    ``None``: 0x010A0000, failed) instead of acting; at an offset, the download in flight ends
    there with that code (``None``: 0x010A7000, connection lost)."""
    faults: RainMakerFaults

    def __init__(
        self,
        *,
        node_initialised: bool = True,
        wifi_connected: bool = True,
        cloud_connected: bool = True,
        echo: bool = True,
        fetch_delay: float = 0.0,
        has_httpchead: bool = True,
        accept_partial: bool = True,
        delayed_bug: bool = True,
        seed: int = 0,
        link_model: LinkModel | None = None,
        command_latency: float = 0.0,
        reboot_time: float = 0.0,
        faults: RainMakerFaults | None = None,
        presign: Presign | None = None,
        serve_image: bytes | None = None,
        job_version: str | None = "1.0.0",
        job_id: str = "aiodfuEmulatedJob01",
        versions: FirmwareVersions | None = EMULATED_VERSIONS,
    ) -> None:
        super().__init__(
            faults=faults or RainMakerFaults(),
            link_model=link_model,
            reboot_time=reboot_time,
            command_latency=command_latency,
        )
        self.node_initialised = node_initialised
        self.wifi_connected = wifi_connected
        self.cloud_connected = cloud_connected
        self.echo_at_boot = echo
        self.echo = echo
        self.fetch_delay = fetch_delay
        self.has_httpchead = has_httpchead
        self.accept_partial = accept_partial
        self.delayed_bug = delayed_bug
        self.cloud = RainMakerCloud(presign)
        self.serve_image = serve_image
        self.job_version = job_version
        self.job_id = job_id
        self.versions = versions
        self.server: FirmwareServer | None = None
        self.syslog = False
        self.host_ota_pending = False
        self.stored_url: str | None = None
        self.headers: list[str] = []
        self.commands: list[str] = []
        self.downloads = 0
        self.module_ota_status: int = OtaStatus.SUCCEEDED
        """The module-OTA status the firmware recorded (it boots as 2, succeeded)."""
        self.resets = 0
        self.rng = random.Random(seed)
        """Chunk sizes: seeded, so a run replays."""
        self._busy = False
        self._reader = EspLineReader()
        self._prompt: _Prompt | None = None
        self._running: asyncio.Task[None] | None = None

    # --- the cloud, as attributes of the module (for tests) ----------------------------------

    @property
    def results(self) -> list[ReportedResult]:
        """Every accepted ``AT+RMOTARESULT``."""
        return self.cloud.results

    @property
    def job_status(self) -> dict[str, str]:
        """Job ID -> the status text last reported (``queued`` before any)."""
        return self.cloud.job_status

    @property
    def job(self) -> HostJob | None:
        return self.cloud.job

    @property
    def presign(self) -> Presign | None:
        return self.cloud.presign

    @presign.setter
    def presign(self, presign: Presign | None) -> None:
        self.cloud.presign = presign

    @property
    def image(self) -> bytes | None:
        """The image of the job on offer (what the cloud serves), if the test registered it."""
        return self.cloud.job_image

    def offer(self, job: HostJob, image: bytes | None = None) -> None:
        """Hold ``job`` as the node's unfinished host-MCU OTA job (delivered on fetch/push)."""
        self.cloud.offer(job, image)

    def push(self) -> None:
        """Force Push: print ``+RMFWNOTIFY`` for the unfinished job now (if a host listens)."""
        if self.cloud.open_job() is not None:
            self.later(0.0, self.notify_job)

    async def notify_job(self) -> None:
        """Print ``+RMFWNOTIFY`` for the job; that sets the host-OTA pending flag."""
        job = self.cloud.open_job()
        if job is None or self._stream is None:
            return
        self.host_ota_pending = True
        await self.send_line(format_fw_notify(job).encode("latin-1"))

    # --- the module ----------------------------------------------------------------------------

    def module_ota(self, status: int) -> None:
        """The module's own OTA moved to ``status``; printed as ``+RMOTA`` per the firmware.

        As ``at_rainmaker.c`` does: nothing is printed -- or recorded -- while a
        host-MCU OTA is pending; otherwise a status equal to the recorded one is
        not printed again. With ``delayed_bug`` "delayed" (4) is printed as 5 and
        *recorded as rejected* (5): a later "rejected" is then not printed, while
        another "delayed" is.
        """
        if self.host_ota_pending or self.module_ota_status == status:
            return
        shown = OtaStatus.REJECTED if status == OtaStatus.DELAYED and self.delayed_bug else status
        self.module_ota_status = shown
        self.later(0.0, lambda: self.send_line(f"+RMOTA:{shown}".encode()))

    def reset(self) -> None:
        """An (emulated) reset: RAM state is lost, ``ready`` is printed after ``reboot_time``.

        A command in flight (a download streaming) stops where it is, with no
        final result; input that arrives before ``ready`` is lost.
        """
        self.reboot()

    def restart(self) -> tuple[bytes, float]:
        self.echo = self.echo_at_boot
        self.syslog = False
        self.host_ota_pending = False
        self.stored_url = None
        self.headers = []
        self.module_ota_status = OtaStatus.SUCCEEDED
        self.resets += 1
        running = self._running
        if running is not None and running is not asyncio.current_task():
            running.cancel()
        self._running = None
        self._busy = False
        self._reader.reset()
        self._prompt = None
        return b"ready\r\n", self.reboot_time

    # --- the AT port ---------------------------------------------------------------------------

    async def _start_own_server(self) -> None:
        """``serve_image``: serve it from a loopback server of our own, as a pending job."""
        if self.serve_image is None or self.server is not None:
            return
        self.server = FirmwareServer()
        await self.server.start()
        url = self.server.add("host_mcu.bin", self.serve_image)
        job = HostJob(0, len(self.serve_image), url, self.job_version, self.job_id)
        self.offer(job, self.serve_image)

    async def serve(self, stream: ByteStream) -> None:
        await self._start_own_server()
        self._stream = stream
        self._busy = False
        self._reader.reset()
        self._prompt = None
        try:
            while True:
                data = await self.receive(stream)
                while data and not self.unresponsive:
                    data = await self._take(data)
        finally:
            if self._running is not None:
                self._running.cancel()
                self._running = None
            self._stream = None

    async def _take(self, data: bytes) -> bytes:
        """Consume a prefix of ``data`` (prompted bytes, or up to one line); return the rest."""
        if self._prompt is not None:
            prompt = self._prompt
            take = data[: prompt.wanted - len(prompt.received)]
            prompt.received += take
            if len(prompt.received) == prompt.wanted:
                self._prompt = None
                await prompted(self, prompt.command, bytes(prompt.received))
            return data[len(take) :]
        consumed, line = self._reader.feed(data)
        if self.echo:
            await self.send(data[:consumed])
        if line is None:
            return data[consumed:]
        if self._busy:
            await self.send(BUSY)
            return data[consumed:]
        command = parse_line(line)
        length = prompt_length(self, command) if isinstance(command, EspCommand) else None
        if isinstance(command, EspCommand) and length is not None:
            if await self.take_line(line.decode("latin-1")):
                await self.send(PROMPT)
                self._prompt = _Prompt(command.name, length)
            return data[consumed:]
        self._busy = True
        self._running = asyncio.get_running_loop().create_task(self._run(line, command))
        return data[consumed:]

    async def _run(self, line: bytes, command: EspCommand | BadLine) -> None:
        try:
            await self._execute(line, command)
        except LinkLostError:
            pass
        except Exception as exc:  # an emulator bug: kept in failures, never lost in the task
            self.failures.append(exc)
            log.exception("%s failed running a command", type(self).__name__)
        finally:
            self._busy = False

    async def _execute(self, line: bytes, command: EspCommand | BadLine) -> None:
        text = line.decode("latin-1")
        if not await self.take_line(text, shown=redact(text)):
            return
        await self.idle()  # one unsolicited line before the answer
        if isinstance(command, BadLine):
            await self.answer_error(err_code(int(command)))
            return
        handler = COMMANDS.get(command.name)
        try:
            if handler is None:
                raise CommandError(UNSUPPORTED)
            await handler(self, command)
        except CommandError as exc:
            await self.answer_error(exc.code)

    async def answer_fault(self, error: ErrorReply, text: str) -> bool:
        code = FAILED if error.code is None else ErrCode(int(error.code))
        await self.answer_error(code)
        return False

    # --- answering (for the command handlers) --------------------------------------------------

    async def send_line(self, text: bytes) -> None:
        await self.send(text + b"\r\n")

    async def answer_ok(self) -> None:
        await self.send(OK)

    async def answer_error(self, code: ErrCode) -> None:
        """``ERROR``, preceded by ``ERR CODE:<code>`` after ``AT+SYSLOG=1``."""
        if self.syslog:
            await self.send(f"ERR CODE:{code}\r\n".encode())
        await self.send(ERROR)

    async def aclose(self) -> None:
        await super().aclose()
        if self.server is not None:
            await self.server.aclose()
            self.server = None
