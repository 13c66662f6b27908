"""What each AT command does on the emulated module: one handler per command, in one table.

A handler gets the module and the parsed command and answers through the
module (``answer_ok``, ``answer_error``, ``send``); raising
:class:`CommandError` answers ``ERROR`` with that code. The checks follow
``at_rainmaker.c`` (RainMaker commands) and the AT core library (HTTP
commands) in their order: which check fails first decides the ``ERR CODE``.
The raw-data half of ``AT+HTTPURLCFG`` / ``AT+HTTPCHEAD`` (after ``>``) is
:func:`prompt_length` and :func:`prompted`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from aiodfu.rainmaker.protocol import ErrCode, OtaStatus, err_code, unquote
from aiodfu.testing.device_faults import ErrorReply
from aiodfu.testing.faulty_device import Outcome
from aiodfu.testing.rainmaker.http_client import HttpFailure, http_get
from aiodfu.testing.rainmaker_at import OK, EspCommand, Kind, int_param

if TYPE_CHECKING:
    from aiodfu.testing.rainmaker.emulator import RainMakerEmulator

Handler = Callable[["RainMakerEmulator", EspCommand], Awaitable[None]]

INVALID = err_code(0x07)
COUNT_MISMATCH = err_code(0x06)
UNSUPPORTED = err_code(0x09)
FAILED = err_code(0x0A)
CONNECTION_FAILED = err_code(0x0A, 0x7000)

COMMAND_ERRORS = (INVALID, COUNT_MISMATCH, UNSUPPORTED, FAILED, err_code(0x03), err_code(0x04))
"""The ``ERR CODE`` values a command can fail with (no ``AT``, too long included)."""
DOWNLOAD_ERRORS = (
    CONNECTION_FAILED,
    *(err_code(0x0A, 0x7000 + status) for status in (400, 403, 404, 416, 500, 503)),
)
"""What a failed ``AT+HTTPCGET`` reports: connection lost, or the HTTP status."""

INT32_MAX = 2**31 - 1
PROMPTED = ("AT+HTTPURLCFG", "AT+HTTPCHEAD")
"""Commands whose non-zero length parameter is answered with ``>`` and raw data."""


class CommandError(Exception):
    """Answer ``ERROR`` (with ``ERR CODE:<code>`` after ``AT+SYSLOG=1``)."""

    def __init__(self, code: ErrCode) -> None:
        self.code = code


COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = handler
        return handler

    return register


def signed_param(text: str) -> int | None:
    """A parameter the firmware reads with ``esp_at_get_para_as_digit``: any 32-bit integer."""
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    value = int(text)
    return value if -INT32_MAX - 1 <= value <= INT32_MAX else None


# --- basic commands --------------------------------------------------------------------------


@command("AT")
async def at(module: RainMakerEmulator, cmd: EspCommand) -> None:
    await module.answer_ok()


@command("ATE0")
async def echo_off(module: RainMakerEmulator, cmd: EspCommand) -> None:
    module.echo = False
    await module.answer_ok()


@command("ATE1")
async def echo_on(module: RainMakerEmulator, cmd: EspCommand) -> None:
    module.echo = True
    await module.answer_ok()


@attrs.frozen
class FirmwareVersions:
    """What ``AT+GMR`` prints: the AT core, the ESP-IDF, the build's commit and time, the bin.

    The lines are those of the esp-at documentation (``Basic_AT_Commands``),
    without a ``+GMR:`` prefix, each ending in CR LF, then an empty line and
    ``OK``::

        AT version:3.2.0.0(s-aiodfu - ESP32C3 - Jan  5 2026 10:00:00)
        SDK version:v5.0.4-emulated
        compile time(aiodfu0):Jan  5 2026 10:02:03
        Bin version:3.2.0(ESP32C3_RAINMAKER)

        OK
    """

    at: str = "3.2.0.0(s-aiodfu - ESP32C3 - Jan  5 2026 10:00:00)"
    sdk: str = "v5.0.4-emulated"
    compile_time: str = "(aiodfu0):Jan  5 2026 10:02:03"
    """Everything after ``compile time``: the build's commit in parentheses, ``:``, the time."""
    bin: str = "3.2.0(ESP32C3_RAINMAKER)"

    def lines(self) -> bytes:
        return (
            f"AT version:{self.at}\r\nSDK version:{self.sdk}\r\n"
            f"compile time{self.compile_time}\r\nBin version:{self.bin}\r\n"
        ).encode("latin-1")


@command("AT+GMR")
async def versions(module: RainMakerEmulator, cmd: EspCommand) -> None:
    """The version lines, then ``\r\nOK\r\n`` (execute only; ``versions=None``: refused)."""
    if module.versions is None:
        raise CommandError(UNSUPPORTED)
    if cmd.kind is not Kind.EXECUTE:
        raise CommandError(INVALID)
    await module.send(module.versions.lines() + OK)


@command("AT+RST")
async def restart(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if cmd.kind is not Kind.EXECUTE:
        raise CommandError(INVALID)
    await module.answer_ok()
    module.reset()


@command("AT+SYSLOG")
async def syslog(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if cmd.kind is Kind.QUERY:
        await module.send(f"+SYSLOG:{int(module.syslog)}\r\n".encode() + OK)
        return
    value = int_param(cmd.params[0], 0, 1) if len(cmd.params) == 1 else None
    if cmd.kind is not Kind.SET or value is None:
        raise CommandError(INVALID)
    module.syslog = bool(value)
    await module.answer_ok()


# --- RainMaker (at_rainmaker.c) --------------------------------------------------------------


def require_cloud(module: RainMakerEmulator) -> None:
    """Node initialised, Wi-Fi up, MQTT connected: checked before any parameter."""
    if not (module.node_initialised and module.wifi_connected and module.cloud_connected):
        raise CommandError(FAILED)


@command("AT+RMNODEINIT")
async def node_init(module: RainMakerEmulator, cmd: EspCommand) -> None:
    module.node_initialised = True
    await module.answer_ok()


@command("AT+RMCONN")
async def connect(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if not (module.node_initialised and module.wifi_connected):
        raise CommandError(FAILED)
    module.cloud_connected = True
    await module.answer_ok()
    await module.send_line(b"+RMCONNECTED")


@command("AT+RMOTAFETCH")
async def ota_fetch(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if cmd.kind is not Kind.EXECUTE:
        raise CommandError(INVALID)
    require_cloud(module)
    await module.answer_ok()
    if module.cloud.fetch() is not None:
        module.later(module.fetch_delay, module.notify_job)


@command("AT+RMOTARESULT")
async def ota_result(module: RainMakerEmulator, cmd: EspCommand) -> None:
    """The cloud first, then ``<type>`` (any integer, not range-checked), the job,
    ``<result>`` in 0..5, the info, the parameter count, and the pending flag."""
    require_cloud(module)
    params = (*cmd.params, "", "", "", "")[:4] if cmd.kind is Kind.SET else ("",) * 4
    kind, status = signed_param(params[0]), int_param(params[2], 0, 5)
    job_id, info = unquote(params[1]), unquote(params[3])
    if kind is None or status is None or job_id is None or info is None:
        raise CommandError(INVALID)
    if len(cmd.params) != 4:
        raise CommandError(COUNT_MISMATCH)
    if not module.host_ota_pending:
        raise CommandError(FAILED)
    module.cloud.report(job_id, status, info)
    if status in (OtaStatus.SUCCEEDED, OtaStatus.REJECTED):
        module.host_ota_pending = False
    await module.answer_ok()


# --- HTTP client (the AT core library) -------------------------------------------------------


def prompt_length(module: RainMakerEmulator, cmd: EspCommand) -> int | None:
    """The raw-data length ``AT+HTTPURLCFG=<n>`` / ``AT+HTTPCHEAD=<n>`` announces, if valid.

    ``None`` leaves the line to its handler (``0`` clears, anything invalid is ``ERROR``).
    URL lengths are 8..8192; header lengths have no limit but the module's RAM.
    """
    if cmd.kind is not Kind.SET or cmd.name not in PROMPTED or len(cmd.params) != 1:
        return None
    if cmd.name == "AT+HTTPCHEAD" and not module.has_httpchead:
        return None
    low, high = (8, 8192) if cmd.name == "AT+HTTPURLCFG" else (1, INT32_MAX)
    return int_param(cmd.params[0], low, high)


async def prompted(module: RainMakerEmulator, name: str, data: bytes) -> None:
    """The raw bytes after ``>`` have all arrived."""
    if name == "AT+HTTPURLCFG":
        module.stored_url = data.decode("latin-1")
        await module.send(b"\r\nSET OK\r\n")
        return
    header = data.decode("latin-1")
    if ":" not in header:
        await module.answer_error(INVALID)  # not "Key: value"
        return
    key = header.split(":", 1)[0].strip().lower()
    kept = [line for line in module.headers if line.split(":", 1)[0].strip().lower() != key]
    module.headers = [*kept, header]  # the same key again: the last one wins
    await module.answer_ok()


@command("AT+HTTPURLCFG")
async def url_config(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if cmd.kind is Kind.QUERY:
        url = module.stored_url
        shown = b"" if url is None else f"+HTTPURLCFG:{len(url)},{url}".encode("latin-1")
        await module.send(shown + OK)  # no CR LF of its own after the URL; nothing if unset
        return
    if cmd.kind is Kind.SET and cmd.params == ("0",):
        module.stored_url = None
        await module.answer_ok()
        return
    raise CommandError(INVALID)  # valid lengths were taken by the prompt flow


@command("AT+HTTPCHEAD")
async def request_headers(module: RainMakerEmulator, cmd: EspCommand) -> None:
    if not module.has_httpchead:
        raise CommandError(UNSUPPORTED)
    if cmd.kind is Kind.QUERY:
        lines = b"".join(
            f'+HTTPCHEAD:{index},"{header}"\r\n'.encode("latin-1")
            for index, header in enumerate(module.headers)
        )
        await module.send(lines + OK)
        return
    if cmd.kind is Kind.SET and cmd.params == ("0",):
        module.headers = []
        await module.answer_ok()
        return
    raise CommandError(INVALID)


@command("AT+HTTPCGET")
async def http_cget(module: RainMakerEmulator, cmd: EspCommand) -> None:
    params = [*cmd.params, "", "", ""]
    url = unquote(params[0]) if cmd.kind is Kind.SET else None
    tx = int_param(params[1], 0, 10240) if params[1] else 2048
    rx = int_param(params[2], 0, 10240) if params[2] else 2048
    timeout = int_param(params[3], 0, 180000) if params[3] else 5000
    if url is None or tx is None or rx is None or timeout is None or len(cmd.params) > 4:
        raise CommandError(INVALID)
    url = url or module.stored_url
    if not url:
        raise CommandError(INVALID)
    module.downloads += 1
    await stream_body(module, url, rx or 2048, (timeout or 5000) / 1000)  # 0: the defaults


async def stream_body(module: RainMakerEmulator, url: str, rx: int, timeout: float) -> None:
    """The body as ``+HTTPCGET:`` chunks of random sizes up to ``rx``, then ``OK``.

    For an HTTP status of 400 or more the body is printed all the same, then
    ``ERROR`` (``ERR CODE:0x010a7000 + status``); a lost connection is
    ``0x010a7000``. The module's one-shot download faults fire here.
    """
    faults = module.faults
    fail_after, faults.error_after_chunks = faults.error_after_chunks, None
    reset_after, faults.reset_after_chunks = faults.reset_after_chunks, None
    chunks = 0
    offset = range_start(module.headers)
    pending = bytearray()
    body = http_get(url, module.headers, timeout=timeout, accept_partial=module.accept_partial)
    try:
        async with contextlib.aclosing(body):
            async for piece in body:
                pending += piece
                while pending:
                    size = min(len(pending), module.rng.randint(1, rx))
                    chunk = bytes(pending[:size])
                    del pending[:size]
                    if fail_after is not None and chunks >= fail_after:
                        faults.record("error", f"chunk {chunks}", "error_after_chunks")
                        raise HttpFailure(None)
                    if reset_after is not None and chunks >= reset_after:
                        faults.record("reboot", f"chunk {chunks}", "reset_after_chunks")
                        module.reset()  # the download stops dead: no OK, no ERROR
                        return
                    waiting = module.next_fault_offset(offset, offset + len(chunk))
                    if waiting is not None and waiting > offset:  # send up to the fault first
                        pending[:0] = chunk[waiting - offset :]
                        chunk = chunk[: waiting - offset]
                    elif waiting is not None:
                        outcome = await module.take_offset(offset)
                        if isinstance(outcome, ErrorReply):
                            code = outcome.code
                            await module.answer_error(
                                CONNECTION_FAILED if code is None else ErrCode(int(code))
                            )
                            return
                        if outcome is Outcome.HALT:
                            return  # rebooted or silent: the download stops dead
                    await module.send(b"+HTTPCGET:%d," % len(chunk) + chunk + b"\r\n")
                    offset += len(chunk)
                    chunks += 1
                    if faults.notify_between_chunks is not None:
                        await module.send(faults.notify_between_chunks)
                        faults.notify_between_chunks = None
    except HttpFailure as exc:
        status = exc.status
        await module.answer_error(
            CONNECTION_FAILED if status is None else err_code(0x0A, 0x7000 + status)
        )
        return
    await module.answer_ok()


_RANGE = re.compile(r"^\s*range\s*:\s*bytes\s*=\s*(\d+)-", re.IGNORECASE)


def range_start(headers: list[str]) -> int:
    """Where the download starts in the image: a ``Range: bytes=N-`` header's N, else 0."""
    for header in headers:
        match = _RANGE.match(header)
        if match is not None:
            return int(match.group(1))
    return 0
