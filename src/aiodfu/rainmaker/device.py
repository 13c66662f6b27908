"""The ESP-AT RainMaker module's commands, each with its timeout and its failure modes.

:class:`RainMakerDevice` is the one place that knows how the module
answers: ``OK``/``ERROR`` with the ``ERR CODE`` detail line (``AT+SYSLOG=1``),
``busy p...`` (the command is sent again), the ``>`` prompt of
``AT+HTTPURLCFG``/``AT+HTTPCHEAD``, binary ``+HTTPCGET`` chunks, and the
URCs that arrive at any time (``+RMFWNOTIFY``, ``+RMOTA``, ``ready``).

It is a :class:`~aiodfu.core.link.DeviceLink` (through
:class:`~aiodfu.at.device.AtDevice`): the handshake brings the module to a
known state (echo off, error codes on), steps run through ``robustly`` (the
link resynchronised or reopened between attempts), and the release clears
the stored URL and headers, however a session ended.

The presigned URL is only ever sent as prompted raw data (never logged) and
every logged line passes through :func:`~aiodfu.rainmaker.protocol.redact`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiodfu.at import AtClient, AtCommandError, AtResponse
from aiodfu.at.device import AtDevice
from aiodfu.core.errors import DeviceResetError, DfuError, LinkLostError, ProtocolError
from aiodfu.core.session import Connector
from aiodfu.core.timeouts import wait_within
from aiodfu.core.transfer import RetryPolicy
from aiodfu.rainmaker.errors import (
    DownloadFailedError,
    EspAtError,
    NotificationError,
    NoUpdateError,
)
from aiodfu.rainmaker.protocol import (
    BUSY,
    ERR_CODE,
    FWNOTIFY,
    HTTPCGET,
    PROMPT,
    READY,
    SET_OK,
    FirmwareNotification,
    OtaStatus,
    parse_err_code,
    parse_fw_notify,
    parse_rmota,
    redact,
    result_command,
)
from aiodfu.rainmaker.timeouts import Timeouts
from aiodfu.transports.base import ByteStream

log = logging.getLogger("aiodfu.rainmaker")

T = TypeVar("T")

MAX_LINE = 16384
"""``+RMFWNOTIFY`` lines exceed 1 KB (URLs up to 8192 bytes); never use a small buffer."""


class RainMakerDevice(AtDevice):
    """A connection to one ESP-AT RainMaker module, reconnectable through ``connector``."""

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        baudrate: int | None,
        rx_size: int = 10240,
    ) -> None:
        if not 0 < rx_size <= 10240:
            raise ValueError("rx_size must be in 1..10240")
        super().__init__(
            connector,
            retry=retry,
            open_timeout=timeouts.open,
            release_timeout=timeouts.release,
        )
        self.timeouts = timeouts
        self.baudrate = baudrate
        self.rx_size = rx_size
        self.notifications: asyncio.Queue[FirmwareNotification] = asyncio.Queue()
        self.resets_seen = 0
        """``ready`` banners seen: each one lost the module's host-OTA pending flag."""
        self.module_ota_status: int | None = None
        """The last ``+RMOTA:<status>`` (the module's own firmware OTA)."""
        self.module_ota_changed = asyncio.Event()
        self.headers_set = False
        """``AT+HTTPCHEAD`` was used since the headers were last cleared."""

    # --- connection --------------------------------------------------------------------------

    def make_client(self, stream: ByteStream) -> AtClient:
        return AtClient(
            stream,
            terminator=b"\r\n",
            redact=redact,
            logger=log,
            data_prefixes=(HTTPCGET,),
            data_terminator="\r\n",  # +HTTPCGET:<n>,<n bytes>\r\n: a slip is noise on the link
            prompts=(PROMPT,),
            busy_lines=(BUSY,),
            error_detail_prefixes=(ERR_CODE,),
            extra_finals=(SET_OK,),
            max_line=MAX_LINE,
        )

    async def handshake(self) -> None:
        await self.configure()

    async def configure(self) -> None:
        """``ATE0`` (an echoed URL would be a leak) and ``AT+SYSLOG=1`` (diagnosable errors)."""
        await self.settle()
        await self.command("ATE0")
        await self.command("AT+SYSLOG=1")

    async def settle(self) -> None:
        """A plain ``AT``, so that a download the host stopped reading ends first.

        While it streams, ``AT`` is answered ``busy p...`` (and sent again); it
        then absorbs the stream's final ``OK``, which would otherwise be taken
        for the next command's. Bounded by the module's answers, however long
        that stream runs.
        """
        self.client.discard_partial_line()
        try:
            await self.client.command("AT", timeout=None, idle_timeout=self.timeouts.command)
        except AtCommandError:
            # A line the module had half-received (a command cut or corrupted on the UART,
            # its terminator lost) joined this AT, and the ERROR is that line's: the
            # module's buffer is empty now, so a second AT is answered on its own.
            await self.client.command("AT", timeout=None, idle_timeout=self.timeouts.command)

    async def on_release(self) -> None:
        """Clear the stored URL (a secret the module would print back) and the headers.

        If a download the host stopped reading still streams, the commands are
        answered ``busy p...`` until it ends; the release's own timeout bounds that,
        and the next session's handshake absorbs what is left.
        """
        await self.settle()
        await self.clear_download_settings()

    # --- unsolicited lines -------------------------------------------------------------------

    def on_unsolicited(self, line: str) -> None:
        if line.startswith(FWNOTIFY):
            try:
                notification = parse_fw_notify(line)
            except NotificationError as exc:
                log.warning("ignoring a malformed +RMFWNOTIFY: %s", exc)
                return
            log.info("host OTA job %s (%d bytes)", notification.job_id, notification.size)
            self.notifications.put_nowait(notification)
        elif (status := parse_rmota(line)) is not None:
            log.info("module OTA status %d", status)
            self.module_ota_status = status
            self.module_ota_changed.set()
        elif line == READY:
            self.resets_seen += 1
            log.info("the module (re)booted")
            # the command in flight (a download streaming) will never be answered
            self.client.fail_pending(
                DeviceResetError(
                    "the module rebooted; its stored URL, headers and pending job are lost"
                )
            )
        else:
            log.debug("ignoring unsolicited %r", redact(line))

    # --- commands ----------------------------------------------------------------------------

    async def command(self, command: str, timeout: float | None = None) -> AtResponse:
        try:
            return await self.client.command(command, timeout=timeout or self.timeouts.command)
        except AtCommandError as exc:
            raise self._decoded(exc, command) from None

    @staticmethod
    def _decoded(exc: AtCommandError, command: str, offset: int | None = None) -> EspAtError:
        code = parse_err_code(exc.response.detail)
        return EspAtError(
            "the module refused the command",
            operation=command,
            offset=offset,
            status=str(code) if code else exc.response.final,
            err_code=code,
        )

    async def until(self, awaitable: Awaitable[T], timeout: float | None, operation: str) -> T:
        """Await ``awaitable`` within ``timeout``, failing at once if the link is lost."""
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self.client.wait_lost())
        either: set[asyncio.Future[Any]] = {task, lost}
        try:
            await wait_within(
                asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED), timeout, operation
            )
            if task.done():
                return task.result()
            raise LinkLostError(f"the link was lost: {lost.result().message}", operation=operation)
        finally:
            task.cancel()
            lost.cancel()

    async def next_notification(self, timeout: float | None) -> FirmwareNotification:
        """The next ``+RMFWNOTIFY`` (already queued or arriving within ``timeout``)."""
        return await self.until(self.notifications.get(), timeout, "wait for +RMFWNOTIFY")

    async def fetch(self, job_id: str | None = None) -> FirmwareNotification:
        """A job: one already queued, else ``AT+RMOTAFETCH`` and the ``+RMFWNOTIFY`` it provokes.

        With ``job_id`` (re-arming a job, or asking for a freshly presigned URL)
        the module is always asked: a queued notification may predate a reboot
        or carry an expired URL. Raises :class:`NoUpdateError` when no
        notification (of ``job_id``) arrives in time.
        """
        queued = [self.notifications.get_nowait() for _ in range(self.notifications.qsize())]
        for index, notification in enumerate(queued):
            if job_id is None:
                for later in queued[index + 1 :]:
                    self.notifications.put_nowait(later)
                return notification
            if notification.job_id != job_id:
                self.notifications.put_nowait(notification)
        await self.command("AT+RMOTAFETCH")
        loop = asyncio.get_running_loop()
        until = loop.time() + self.timeouts.notification
        while True:
            try:
                notification = await self.next_notification(max(until - loop.time(), 0.0))
            except TimeoutError:
                raise NoUpdateError(
                    f"no +RMFWNOTIFY within {self.timeouts.notification:g} s: "
                    "the cloud has no unfinished host-MCU OTA job for this node",
                    operation="AT+RMOTAFETCH",
                ) from None
            if job_id is None or notification.job_id == job_id:
                return notification

    async def set_url(self, url: str) -> None:
        """``AT+HTTPURLCFG=<len>``, ``>``, the URL bytes (never logged), ``SET OK``."""
        data = url.encode("utf-8")
        if not 8 <= len(data) <= 8192:
            raise NotificationError(
                f"the download URL is {len(data)} bytes; AT+HTTPURLCFG takes 8..8192"
            )
        await self._with_data(f"AT+HTTPURLCFG={len(data)}", data)

    async def set_header(self, header: str) -> None:
        """``AT+HTTPCHEAD=<len>``, ``>``, one ``Key: value`` header, ``OK``."""
        data = header.encode("latin-1")
        self.headers_set = True
        await self._with_data(f"AT+HTTPCHEAD={len(data)}", data)

    async def _with_data(self, command: str, data: bytes) -> None:
        wire = 0.0 if self.baudrate is None else len(data) * 10 / self.baudrate
        try:
            await self.client.command_with_data(
                command,
                data,
                timeout=self.timeouts.command + self.timeouts.data_result + wire,
                prompt_timeout=self.timeouts.prompt,
            )
        except AtCommandError as exc:
            raise self._decoded(exc, command) from None

    async def clear_headers(self) -> None:
        """``AT+HTTPCHEAD=0``: a later header would be added, not replace the old one."""
        await self.command("AT+HTTPCHEAD=0")
        self.headers_set = False

    async def clear_download_settings(self) -> None:
        """``AT+HTTPURLCFG=0`` (the stored URL is a secret) and, if used, ``AT+HTTPCHEAD=0``."""
        await self.command("AT+HTTPURLCFG=0")
        if self.headers_set:
            await self.clear_headers()

    async def http_get(self, on_data: Callable[[bytes], None], offset: int) -> None:
        """``AT+HTTPCGET=""`` on the stored URL; ``on_data`` gets each chunk's raw bytes."""
        command = f'AT+HTTPCGET="",2048,{self.rx_size},{self.timeouts.http_timeout_parameter}'
        try:
            await self.client.command(
                command,
                timeout=None,  # bounded by the idle timeout: a download takes what it takes
                idle_timeout=max(self.timeouts.first_chunk, self.timeouts.chunk_gap),
                on_data=on_data,
                offset=offset,
            )
        except AtCommandError as exc:
            code = parse_err_code(exc.response.detail)
            error = DownloadFailedError(
                "the module's HTTP download failed",
                operation=command,
                offset=offset,
                status=str(code) if code else exc.response.final,
                err_code=code,
            )
            error.http_status = code.http_status if code else None
            if error.http_status is not None and 400 <= error.http_status < 500:
                error.transient = error.http_status in (403, 416)  # expired URL, bad Range
            elif error.http_status is not None and error.http_status < 400:
                error.transient = error.http_status == 206  # partial content refused: restart
            raise error from None

    async def report(
        self, notification: FirmwareNotification, status: OtaStatus, info: str
    ) -> None:
        """``AT+RMOTARESULT``; if the module lost the pending flag (it rebooted), re-fetch first.

        Runs under link recovery. A refusal is settled by asking the cloud
        again (``AT+RMOTAFETCH``): a job it still offers is re-armed and
        reported again; a job it no longer offers after a cut-off attempt with
        a closing status (2, 5) means that attempt was delivered -- the cloud
        closes a job only on those. A refusal alone proves nothing: the module
        may have rebooted and lost the attempt.
        """
        command = result_command(notification.job_id, status, info[:100])
        number = 0

        async def attempt() -> None:
            nonlocal number
            number += 1
            try:
                await self._echoed(command)
                return
            except EspAtError:
                pass
            log.info("AT+RMOTARESULT refused; re-arming job %s", notification.job_id)
            try:
                await self.fetch(notification.job_id)
            except NoUpdateError:
                if number > 1 and status.closes_job:
                    log.info("job %s closed after a cut-off attempt", notification.job_id)
                    return
                raise
            await self._echoed(command)

        await self.robustly(attempt, f"report job {notification.job_id}")

    async def _echoed(self, command: str) -> None:
        """Send ``command`` with echo on, and check the module received it as sent.

        AT has no integrity check: a byte corrupted on the UART can turn a
        result report into another job's, or another status, which the module
        answers ``OK`` and publishes. Its echo is the line it received, so an
        exact echo proves the report is the one sent; anything else is a
        transient :class:`~aiodfu.core.errors.ProtocolError`, and the report is
        sent again (reporting twice is harmless; a wrong report left standing
        is not). Echo goes back off at once: a URL must never be echoed. Once the
        report is delivered (its exact echo and ``OK`` came back) a failed
        ``ATE0`` no longer undoes it: reporting again would find the job closed
        (campaign seed 3703); echo is turned off by the next handshake instead,
        as every connection starts with ``ATE0``, and no URL is sent before it.
        """
        await self.command("ATE1")
        response: AtResponse | None = None
        try:
            response = await self.command(command, self.timeouts.result)
        finally:
            try:
                await self.command("ATE0")
            except DfuError as exc:
                if response is None or response.echo != command:
                    raise ProtocolError(
                        "the module did not take ATE0 after a result report", operation="ATE0"
                    ) from exc
                log.warning(
                    "echo stays on after a delivered result report (%s): the next "
                    "connection turns it off",
                    exc,
                )
        if response.echo != command:
            raise ProtocolError(
                "the module's echo of the result report is not what was sent: the line was "
                "corrupted on the way; reporting again",
                operation=command.split("=", 1)[0],
                status=response.echo,
            )

    async def restart(self) -> None:
        """``AT+RST``: ``OK``, then the ``ready`` banner; then echo off and error codes on again."""
        client = self.client
        with client.expect(lambda line: line == READY, "AT+RST") as ready:
            await self.command("AT+RST")
            await ready.wait(self.timeouts.ready)
        await self.configure()
