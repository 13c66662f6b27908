"""An emulated ESP32 running ESP-AT with RainMaker, for testing host-MCU OTA hosts.

:class:`RainMakerEmulator` answers on its AT UART the way the
``ESP32C3_RAINMAKER`` build does per the protocol reference: ``\\r\\n``
terminated commands of at most 256 bytes, echo on until ``ATE0``,
``busy p...`` for input that arrives while a command runs, ``ERR CODE:0x...``
before ``ERROR`` after ``AT+SYSLOG=1``, ``ready`` after a reset, the ``>``
prompt of ``AT+HTTPURLCFG`` / ``AT+HTTPCHEAD`` (exact byte counts; bytes
beyond them are the next command), ``+RMFWNOTIFY`` and ``+RMOTA`` with their
pending-flag rules, ``AT+RMOTARESULT`` with its exact checks -- and a real
HTTP client: ``AT+HTTPCGET`` downloads from the URL over TCP (loopback
only; see :class:`~aiodfu.testing.rainmaker_http.FirmwareServer`) and
streams the body as ``+HTTPCGET:<n>,<n raw bytes>\\r\\n`` chunks of random
sizes up to the command's rx size.

Details confirmed against ``at_rainmaker.c`` and the released AT core
library: ``AT+HTTPCGET``'s ``rx size`` and ``timeout`` of 0 mean their
defaults (2048 bytes, 5000 ms); any HTTP status up to 399 ends in ``OK``
(``204`` and ``3xx`` included, redirects not followed); for 400 and above the
response body is still printed as ``+HTTPCGET`` chunks, then ``ERROR`` (with
``ERR CODE:0x010a7000 + status`` after ``AT+SYSLOG=1``). ``AT+HTTPURLCFG?``
prints ``+HTTPURLCFG:<len>,<url>`` directly followed by ``\\r\\nOK\\r\\n``,
or only ``OK`` when no URL is stored. ``AT+HTTPCHEAD`` refuses data without a
colon and takes lengths above 2048. ``AT+RMOTARESULT`` checks node, Wi-Fi
and cloud before its parameters and does not range-check ``<type>``.
``+RMOTA``: see :meth:`RainMakerEmulator.module_ota`.

Usage::

    async with FirmwareServer() as server, RainMakerEmulator() as module:
        url = server.add("host.bin", image)
        module.offer(HostJob(url=url, size=len(image), version="2.0", job_id="job1"))
        stream = module.connect()                   # in-memory; or serve_pty(module)
        ...
        assert module.job_status["job1"] == "success"

Options (keyword arguments, also attributes):

``node_initialised`` / ``wifi_connected`` / ``cloud_connected``
    The prerequisites of ``AT+RMOTAFETCH`` and ``AT+RMOTARESULT`` (``ERROR``
    otherwise). ``AT+RMNODEINIT`` and ``AT+RMCONN`` set the first and last.
``echo``
    Echo at boot (the factory setting is on); ``ATE0`` / ``ATE1`` until a reset.
``fetch_delay``
    Seconds from ``AT+RMOTAFETCH``'s ``OK`` to the ``+RMFWNOTIFY``.
``has_httpchead``
    ``False`` models an older build without ``AT+HTTPCHEAD`` (``ERROR``, unsupported).
``accept_partial``
    Whether the HTTP client treats ``206 Partial Content`` as success (unverified on
    real firmware; ``True`` by default).
``delayed_bug``
    Print ``+RMOTA:5`` for "delayed" (4), as the real firmware does (default on).
``seed``
    Seeds the chunk sizes, so a failing test can be replayed.
``link_model``
    The default :class:`~aiodfu.transports.memory.LinkModel` (baud pacing).
``serve_image`` / ``job_version`` / ``job_id``
    Serve these bytes from a :class:`~aiodfu.testing.rainmaker_http.FirmwareServer`
    of the module's own (started on the first connection, at :attr:`server`)
    as the pending host-MCU job -- what ``aiodfu emulate rainmaker --image`` does.
``presign``
    Called with the job on each ``AT+RMOTAFETCH``; returns it with a fresh URL,
    as the cloud presigns again (to test recovery from an expired URL).
``command_latency`` / ``reboot_time``
    Seconds per command before answering, and from a reset (``AT+RST``'s
    ``OK``, :meth:`RainMakerEmulator.reset`) to ``ready``; input arriving in
    between is lost, as on the real UART.

Faults (``module.faults``, a :class:`RainMakerFaults`, mutable while running):
``error_after_chunks`` sends ``ERR CODE:0x010a7000`` + ``ERROR`` after that many
chunks of the next download (once); ``reset_after_chunks`` resets the module
after that many chunks (the download stops dead, ``ready`` follows, RAM state
is lost); ``unsolicited`` lines are sent before the next answer;
``notify_between_chunks`` interleaves a URC between two chunks. HTTP faults
(status codes, reset mid-body, body corruption, ``Content-Length`` mismatch,
URL expiry, a silent server, a slow body) live on the server
(:class:`~aiodfu.testing.rainmaker_http.HttpFaults`).

Inspection: ``results`` (every accepted ``AT+RMOTARESULT`` as
:class:`ReportedResult`), ``job_status`` (job ID -> status text), ``commands``
(every command line received, with URLs redacted), ``downloads`` (number of
``AT+HTTPCGET`` runs), ``resets``, ``host_ota_pending``, ``stored_url``,
``headers``, ``module_ota_status``.

A new connection finds the module as the last one left it (jobs, stored URL,
headers, echo), except that a download in flight is abandoned with the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

import attrs

from aiodfu.core.errors import LinkLostError
from aiodfu.rainmaker.protocol import (
    ErrCode,
    FirmwareNotification,
    OtaStatus,
    err_code,
    format_fw_notify,
    redact,
    unquote,
)
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.rainmaker_at import (
    ERROR,
    OK,
    BadLine,
    EspCommand,
    EspLineReader,
    Kind,
    int_param,
    parse_line,
    split_params,
)
from aiodfu.testing.rainmaker_http import FirmwareServer, HttpFailure, http_get
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.rainmaker")

INT32_MAX = 2**31 - 1


def signed_param(text: str) -> int | None:
    """A parameter the firmware reads with ``esp_at_get_para_as_digit``: any 32-bit integer."""
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    value = int(text)
    return value if -INT32_MAX - 1 <= value <= INT32_MAX else None


HostJob = FirmwareNotification
"""A host-MCU OTA job the cloud holds for this node (what ``+RMFWNOTIFY`` announces)."""

STATUS_TEXT = {1: "in progress", 2: "success", 3: "failed", 4: "delayed", 5: "rejected"}

_INVALID = err_code(0x07)
_UNSUPPORTED = err_code(0x09)
_FAILED = err_code(0x0A)
_CONNECTION_FAILED = err_code(0x0A, 0x7000)


@attrs.frozen
class ReportedResult:
    job_id: str
    status: int
    info: str


@attrs.define
class RainMakerFaults:
    """Module faults; each one-shot knob is cleared when it fires."""

    error_after_chunks: int | None = None
    """``ERR CODE:0x010a7000`` + ``ERROR`` after that many chunks of the next download."""
    reset_after_chunks: int | None = None
    """The module resets after that many chunks of the next download (``ready`` follows)."""
    unsolicited: list[bytes] = attrs.field(factory=list)
    """Sent before the next answer."""
    notify_between_chunks: bytes | None = None
    """Sent between two chunks of the next download."""


class _CommandError(Exception):
    def __init__(self, code: ErrCode) -> None:
        self.code = code


class RainMakerEmulator(Emulator):
    """See the module docstring."""

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
        presign: Callable[[HostJob], HostJob] | None = None,
        serve_image: bytes | None = None,
        job_version: str | None = "1.0.0",
        job_id: str = "aiodfuEmulatedJob01",
    ) -> None:
        super().__init__(link_model=link_model)
        self.node_initialised = node_initialised
        self.wifi_connected = wifi_connected
        self.cloud_connected = cloud_connected
        self.echo_at_boot = echo
        self.echo = echo
        self.fetch_delay = fetch_delay
        self.has_httpchead = has_httpchead
        self.accept_partial = accept_partial
        self.delayed_bug = delayed_bug
        self.command_latency = command_latency
        self.reboot_time = reboot_time
        self.faults = faults or RainMakerFaults()
        self.presign = presign
        self.serve_image = serve_image
        self.job_version = job_version
        self.job_id = job_id
        self.server: FirmwareServer | None = None
        self.syslog = False
        self.job: HostJob | None = None
        self.job_image: bytes | None = None
        self.host_ota_pending = False
        self.stored_url: str | None = None
        self.headers: list[str] = []
        self.results: list[ReportedResult] = []
        self.job_status: dict[str, str] = {}
        self.commands: list[str] = []
        self.downloads = 0
        self.module_ota_status: int = OtaStatus.SUCCEEDED
        """The module-OTA status the firmware recorded (it boots as 2, succeeded)."""
        self.resets = 0
        self._rng = random.Random(seed)
        self._stream: ByteStream | None = None
        self._busy = False
        self._booting = False
        self._reader = EspLineReader()
        self._prompt: tuple[int, bytearray, str] | None = None  # (wanted, received, command)
        self._running: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def image(self) -> bytes | None:
        """The image of the job on offer (what the cloud serves), if the test registered it."""
        return self.job_image

    # --- what the cloud does ----------------------------------------------------------------

    def offer(self, job: HostJob, image: bytes | None = None) -> None:
        """Hold ``job`` as the node's unfinished host-MCU OTA job (delivered on fetch/push)."""
        self.job = job
        self.job_image = image
        self.job_status.setdefault(job.job_id, "queued")

    def push(self) -> None:
        """Force Push: print ``+RMFWNOTIFY`` for the unfinished job now (if a host listens)."""
        if self._job_open():
            self._later(0.0, self._notify_job)

    def _job_open(self) -> bool:
        """A job exists and the cloud has not marked it finished (success or rejected)."""
        return self.job is not None and self.job_status.get(self.job.job_id) not in (
            "success",
            "rejected",
        )

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
        self._later(0.0, lambda: self._send_line(f"+RMOTA:{shown}".encode()))

    def reset(self) -> None:
        """An (emulated) reset: RAM state is lost, ``ready`` is printed after ``reboot_time``.

        A command in flight (a download streaming) stops where it is, with no
        final result; input that arrives before ``ready`` is lost.
        """
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
        self._booting = True

        async def boot() -> None:
            self._booting = False
            await self._send_line(b"ready")

        self._later(self.reboot_time, boot)

    # --- serving -----------------------------------------------------------------------------

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
                data = await stream.read()
                while data and not self._booting:
                    if self._prompt is not None:
                        wanted, received, name = self._prompt
                        take = data[: wanted - len(received)]
                        received += take
                        data = data[len(take) :]
                        if len(received) == wanted:
                            self._prompt = None
                            await self._prompted(name, bytes(received))
                        continue
                    consumed, line = self._reader.feed(data)
                    if self.echo:
                        await stream.write(data[:consumed])
                    data = data[consumed:]
                    if line is None:
                        continue
                    if self._busy:
                        await stream.write(b"busy p...\r\n")
                        continue
                    want = await self._maybe_prompt(line)
                    if want is not None:
                        self._prompt = want
                        continue
                    self._busy = True
                    self._running = asyncio.get_running_loop().create_task(self._run(line))
        finally:
            if self._running is not None:
                self._running.cancel()
                self._running = None
            self._stream = None

    async def _run(self, line: bytes) -> None:
        try:
            await self._execute(line)
        except LinkLostError:
            pass
        finally:
            self._busy = False

    async def _send(self, data: bytes) -> None:
        if self._stream is not None:
            await self._stream.write(data)

    async def _send_line(self, text: bytes) -> None:
        await self._send(text + b"\r\n")

    async def _ok(self) -> None:
        await self._send(OK)

    async def _error(self, code: ErrCode) -> None:
        if self.syslog:
            await self._send(f"ERR CODE:{code}\r\n".encode())
        await self._send(ERROR)

    def _later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            with contextlib.suppress(LinkLostError):
                await action()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await super().aclose()
        if self.server is not None:
            await self.server.aclose()
            self.server = None

    # --- the prompt flow ---------------------------------------------------------------------

    async def _maybe_prompt(self, line: bytes) -> tuple[int, bytearray, str] | None:
        """``AT+HTTPURLCFG=<n>`` / ``AT+HTTPCHEAD=<n>`` with ``n > 0``: ``OK``, ``>``, raw bytes."""
        command = parse_line(line)
        if not isinstance(command, EspCommand) or command.kind is not Kind.SET:
            return None
        if command.name not in ("AT+HTTPURLCFG", "AT+HTTPCHEAD") or len(command.params) != 1:
            return None
        if command.name == "AT+HTTPCHEAD" and not self.has_httpchead:
            return None
        high = 8192 if command.name == "AT+HTTPURLCFG" else INT32_MAX  # no header limit but RAM
        length = int_param(command.params[0], 0, high)
        if length is None or length == 0:
            return None
        if command.name == "AT+HTTPURLCFG" and length < 8:
            return None
        self.commands.append(line.decode("latin-1"))
        await self._send(OK + b"\r\n>")
        return length, bytearray(), command.name

    async def _prompted(self, name: str, data: bytes) -> None:
        if name == "AT+HTTPURLCFG":
            self.stored_url = data.decode("latin-1")
            await self._send(b"\r\nSET OK\r\n")
        else:
            header = data.decode("latin-1")
            if ":" not in header:
                await self._error(_INVALID)  # not "Key: value"
                return
            key = header.split(":", 1)[0].strip().lower()
            self.headers = [h for h in self.headers if h.split(":", 1)[0].strip().lower() != key]
            self.headers.append(header)
            await self._ok()

    # --- commands ----------------------------------------------------------------------------

    async def _execute(self, line: bytes) -> None:
        if self.command_latency:
            await asyncio.sleep(self.command_latency)
        for extra in self.faults.unsolicited:
            await self._send(extra)
        self.faults.unsolicited.clear()
        command = parse_line(line)
        self.commands.append(redact(line.decode("latin-1")))
        if isinstance(command, BadLine):
            await self._error(err_code(int(command)))
            return
        handler = getattr(self, "_cmd_" + command.name[2:].lstrip("+").upper(), None)
        if handler is None:
            await self._error(_UNSUPPORTED)
            return
        try:
            await handler(command)
        except _CommandError as exc:
            await self._error(exc.code)

    def _require_cloud(self) -> None:
        if not (self.node_initialised and self.wifi_connected and self.cloud_connected):
            raise _CommandError(_FAILED)

    async def _cmd_(self, command: EspCommand) -> None:  # plain "AT"
        await self._ok()

    async def _cmd_E0(self, command: EspCommand) -> None:
        self.echo = False
        await self._ok()

    async def _cmd_E1(self, command: EspCommand) -> None:
        self.echo = True
        await self._ok()

    async def _cmd_RST(self, command: EspCommand) -> None:
        if command.kind is not Kind.EXECUTE:
            raise _CommandError(_INVALID)
        await self._ok()
        self.reset()

    async def _cmd_SYSLOG(self, command: EspCommand) -> None:
        if command.kind is Kind.QUERY:
            await self._send(f"+SYSLOG:{int(self.syslog)}\r\n".encode() + OK)
            return
        value = int_param(command.params[0], 0, 1) if len(command.params) == 1 else None
        if command.kind is not Kind.SET or value is None:
            raise _CommandError(_INVALID)
        self.syslog = bool(value)
        await self._ok()

    async def _cmd_RMNODEINIT(self, command: EspCommand) -> None:
        self.node_initialised = True
        await self._ok()

    async def _cmd_RMCONN(self, command: EspCommand) -> None:
        if not (self.node_initialised and self.wifi_connected):
            raise _CommandError(_FAILED)
        self.cloud_connected = True
        await self._ok()
        await self._send_line(b"+RMCONNECTED")

    async def _cmd_RMOTAFETCH(self, command: EspCommand) -> None:
        if command.kind is not Kind.EXECUTE:
            raise _CommandError(_INVALID)
        self._require_cloud()
        await self._ok()
        if self._job_open():
            if self.presign is not None and self.job is not None:
                self.job = self.presign(self.job)
            self._later(self.fetch_delay, self._notify_job)

    async def _notify_job(self) -> None:
        if self.job is None or self._stream is None:
            return
        self.host_ota_pending = True
        await self._send_line(format_fw_notify(self.job).encode("latin-1"))

    async def _cmd_RMOTARESULT(self, command: EspCommand) -> None:
        """As ``at_setup_cmd_rmotaresult``: the cloud first, then ``<type>`` (any integer),
        the job, ``<result>`` in 0..5, the info, the count, and the pending flag."""
        self._require_cloud()
        params = (*command.params, "", "", "", "")[:4] if command.kind is Kind.SET else ("",) * 4
        kind, status = signed_param(params[0]), int_param(params[2], 0, 5)
        job_id, info = unquote(params[1]), unquote(params[3])
        if kind is None or status is None or job_id is None or info is None:
            raise _CommandError(_INVALID)
        if len(command.params) != 4:
            raise _CommandError(err_code(0x06))
        if not self.host_ota_pending:
            raise _CommandError(_FAILED)
        self.results.append(ReportedResult(job_id, status, info))
        self.job_status[job_id] = STATUS_TEXT.get(status, str(status))
        if status in (OtaStatus.SUCCEEDED, OtaStatus.REJECTED):
            self.host_ota_pending = False
        await self._ok()

    async def _cmd_HTTPURLCFG(self, command: EspCommand) -> None:
        if command.kind is Kind.QUERY:
            url = self.stored_url
            shown = b"" if url is None else f"+HTTPURLCFG:{len(url)},{url}".encode("latin-1")
            await self._send(shown + OK)  # no CR LF of its own after the URL; nothing if unset
            return
        if command.kind is Kind.SET and command.params == ("0",):
            self.stored_url = None
            await self._ok()
            return
        raise _CommandError(_INVALID)  # other lengths were taken by the prompt flow

    async def _cmd_HTTPCHEAD(self, command: EspCommand) -> None:
        if not self.has_httpchead:
            raise _CommandError(_UNSUPPORTED)
        if command.kind is Kind.QUERY:
            lines = b"".join(
                f'+HTTPCHEAD:{index},"{header}"\r\n'.encode("latin-1")
                for index, header in enumerate(self.headers)
            )
            await self._send(lines + OK)
            return
        if command.kind is Kind.SET and command.params == ("0",):
            self.headers = []
            await self._ok()
            return
        raise _CommandError(_INVALID)

    async def _cmd_HTTPCGET(self, command: EspCommand) -> None:
        params = [*command.params, "", "", ""]
        url = unquote(params[0]) if command.kind is Kind.SET else None
        tx = int_param(params[1], 0, 10240) if params[1] else 2048
        rx = int_param(params[2], 0, 10240) if params[2] else 2048
        timeout = int_param(params[3], 0, 180000) if params[3] else 5000
        if url is None or tx is None or rx is None or timeout is None or len(command.params) > 4:
            raise _CommandError(_INVALID)
        url = url or self.stored_url
        if not url:
            raise _CommandError(_INVALID)
        self.downloads += 1
        await self._stream_body(url, rx or 2048, (timeout or 5000) / 1000)  # 0: the defaults

    async def _stream_body(self, url: str, rx: int, timeout: float) -> None:
        """The body as ``+HTTPCGET:`` chunks, then ``OK`` (``ERROR`` after it: status >= 400)."""
        fail_after = self.faults.error_after_chunks
        self.faults.error_after_chunks = None
        reset_after = self.faults.reset_after_chunks
        self.faults.reset_after_chunks = None
        chunks = 0
        pending = bytearray()
        try:
            async for piece in http_get(
                url, self.headers, timeout=timeout, accept_partial=self.accept_partial
            ):
                pending += piece
                while pending:
                    size = min(len(pending), self._rng.randint(1, rx))
                    chunk = bytes(pending[:size])
                    del pending[:size]
                    if fail_after is not None and chunks >= fail_after:
                        raise HttpFailure(None)
                    if reset_after is not None and chunks >= reset_after:
                        self.reset()  # the download stops dead: no OK, no ERROR
                        return
                    await self._send(b"+HTTPCGET:%d," % len(chunk) + chunk + b"\r\n")
                    chunks += 1
                    if self.faults.notify_between_chunks is not None:
                        await self._send(self.faults.notify_between_chunks)
                        self.faults.notify_between_chunks = None
        except HttpFailure as exc:
            await self._error(
                _CONNECTION_FAILED if exc.status is None else err_code(0x0A, 0x7000 + exc.status)
            )
            return
        await self._ok()


__all__ = [
    "HostJob",
    "RainMakerEmulator",
    "RainMakerFaults",
    "ReportedResult",
    "split_params",
]
