"""The Serial Modem's commands, each with its timeout and its failure modes.

:class:`SerialModemDevice` is the one place that knows how the device
answers: ``OK``/``ERROR``, the ``#XDFU`` URCs, banners, and the reboot
quirks of the two firmware generations. It also owns link recovery (the
reference's section 6.4): the device appends, cannot report an offset and
may be stuck in data mode, so recovery completes any pending data mode with
filler bytes that can never form ``AT``, lets the device settle, and
resynchronises -- after which the caller restarts the image from
``AT#XDFUINIT``. Nothing here ever sends a chunk twice.
"""

from __future__ import annotations

import asyncio
import logging

from aiodfu.at import AtClient, AtResponse
from aiodfu.at.device import AtDevice
from aiodfu.core.errors import (
    ChunkFailedError,
    CommandRejectedError,
    DeviceResetError,
    DfuError,
    DfuTimeoutError,
    ProtocolError,
    UnsupportedError,
)
from aiodfu.core.session import Connector
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.core.transfer import RetryPolicy
from aiodfu.serial_modem.errors import ActivationFailedError, ApplyFailedError
from aiodfu.serial_modem.protocol import (
    BANNERS,
    BOOTLOADER_READY,
    OP_APPLY,
    OP_WRITE,
    READY,
    FotaUrc,
    Mode,
    UpdateType,
    dfu_urc_predicate,
    parse_banner,
    parse_dfu_urc,
    parse_fota_urc,
    parse_modem_reset,
    parse_supported_types,
)
from aiodfu.serial_modem.timeouts import Timeouts
from aiodfu.transports.base import Buffer, ByteStream

log = logging.getLogger("aiodfu.serial_modem")

_FILLER_BYTE = b"\x00"


class SerialModemDevice(AtDevice):
    """A connection to one Serial Modem, reconnectable through ``connector``."""

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        timeouts: Timeouts,
        baudrate: int | None,
        retry: RetryPolicy,
        terminator: bytes = b"\r",
    ) -> None:
        super().__init__(
            connector,
            retry=retry,
            open_timeout=timeouts.command,
            release_timeout=timeouts.release,
        )
        self.timeouts = timeouts
        self.baudrate = baudrate
        self.terminator = terminator
        self.mode = Mode.NORMAL
        self.reboots_seen = 0
        self._outstanding = 0  # bytes of the last announced chunk whose result we have not seen
        self._supported: frozenset[int] | None = None
        self._expecting_reboot = False
        self.flush_size = 4096
        """Filler for a data mode of unknown length: at least the largest chunk a host announces."""
        self.round_trip: float | None = None
        """Seconds from ``AT`` to its ``OK`` when the device last synchronised (sizes chunks)."""

    # --- connection --------------------------------------------------------------------------

    def make_client(self, stream: ByteStream) -> AtClient:
        self._supported = None  # a new link may lead to another device or build
        return AtClient(stream, terminator=self.terminator, logger=log)

    async def handshake(self) -> None:
        await self._resynchronise()

    async def synchronise(self) -> None:
        """End any partial line, then ``AT``: ``OK`` means normal mode, ``ERROR`` bootloader mode.

        Bootloader mode needs two ``ERROR`` answers in a row: the ``\\r`` that ends
        a partial line (a command cut off by a link loss, then filler) makes the
        device answer ``ERROR`` once, and that answer may arrive after ``AT`` is sent.

        Silence may be a modem stuck in data mode, still waiting for the rest of
        a chunk that an earlier session or another host announced and never
        finished; it takes ``AT`` as firmware. How many bytes it waits for
        cannot be asked, so each unanswered ``AT`` is followed by filler
        (reference section 6.4): ``flush_size`` bytes, doubling each time, which
        end such a data mode whatever it still expects; the surplus arrives in
        command mode and is discarded, since it never forms ``AT``.
        """
        client = self.client
        client.discard_partial_line()
        await client.send_line("")
        rejected = False
        filler = self.flush_size
        loop = asyncio.get_running_loop()
        for attempt in range(1, self.retry.attempts + 1):
            started = loop.time()
            try:
                await client.command("AT", timeout=self.timeouts.ping)
            except CommandRejectedError:
                if rejected:
                    self.mode = Mode.BOOTLOADER
                    return
                rejected = True
                continue
            except DfuTimeoutError:
                if attempt == self.retry.attempts:
                    raise
                log.info("no answer to AT: ending a data mode the device may be stuck in")
                await self._end_data_mode(filler)
                filler *= 2
            else:
                self.mode = Mode.NORMAL
                self.round_trip = loop.time() - started
                return

    def on_unsolicited(self, line: str) -> None:
        if line not in BANNERS:
            log.debug("ignoring unsolicited %r", line)
            return
        self.reboots_seen += 1
        self.mode = parse_banner(line) or Mode.NORMAL
        if not self._expecting_reboot:
            log.warning("the device rebooted unexpectedly (%r)", line)
            self.client.fail_pending(
                DeviceResetError(f"the device rebooted unexpectedly ({line!r}); DFU state is lost")
            )

    async def resync(self, error: DfuError) -> None:
        await self.recover()

    async def recover(self) -> None:
        """Bring the device back to command mode after a failure, per reference section 6.4.

        A lost link is reopened first; a link that stays up but on which the
        device does not answer (a stalled adapter) is reopened and tried once more.
        """
        if not self.connected:
            await self.reopen()
        try:
            await self._resynchronise()
        except DfuError as exc:
            if not exc.transient:
                raise
            log.info("recovery: no answer on this link (%s); reopening it", exc)
            await self.reopen()
            await self._resynchronise()

    async def _resynchronise(self) -> None:
        """End the data mode of a chunk left unconfirmed, if any, then :meth:`synchronise`."""
        if self._outstanding:
            log.info("%d filler bytes to end a pending data mode", self._outstanding)
            await self._end_data_mode(self._outstanding)
        await self.synchronise()
        self._outstanding = 0  # only now is data mode known to be over

    async def _end_data_mode(self, count: int) -> None:
        """Send ``count`` filler bytes, let the device settle, then end any partial line.

        The settling time starts when the filler has left the wire (a write
        returns once the bytes are queued).
        """
        client = self.client
        async with deadline(self._wire_allowance(count), "data-mode filler"):
            await client.write(_FILLER_BYTE * count)
        self._expecting_reboot = True
        try:
            await asyncio.sleep(self._wire_time(count) + self.timeouts.recovery_settle)
        finally:
            self._expecting_reboot = False
        client.discard_partial_line()
        await client.send_line("")

    async def on_release(self) -> None:
        """However a session ended, end the data mode of a chunk it left unconfirmed.

        Otherwise the modem would take the next session's ``AT`` as firmware.
        (Runs only while the link is up; a modem left stuck on a lost link is
        freed by the next session's :meth:`synchronise`.)
        """
        if self._outstanding:
            await self._resynchronise()

    # --- queries -----------------------------------------------------------------------------

    async def command(self, command: str, timeout: float | None = None) -> AtResponse:
        return await self.client.command(command, timeout=timeout or self.timeouts.command)

    async def supported_types(self) -> frozenset[int]:
        """The DFU types this build lists in ``AT#XDFUINIT=?`` (asked once per connection)."""
        if self._supported is None:
            response = await self.command("AT#XDFUINIT=?")
            if not response.lines:
                raise ProtocolError("no type list in the answer", operation="AT#XDFUINIT=?")
            self._supported = parse_supported_types(response.lines[0])
        return self._supported

    async def require_type(self, update_type: UpdateType) -> None:
        """Refuse a type the device's build does not list, before anything is written."""
        if self.mode is Mode.BOOTLOADER:
            if update_type is UpdateType.MODEM_FULL:
                return
            raise UnsupportedError(
                "the device is in bootloader mode, where only a full modem update can run; "
                "complete one (or reset the device) first",
                operation=f"AT#XDFUINIT={update_type.value}",
            )
        supported = await self.supported_types()
        if update_type not in supported:
            known = {member.value: member.cli_name for member in UpdateType}
            listed = ", ".join(known.get(value, str(value)) for value in sorted(supported))
            raise UnsupportedError(
                f"this device's build does not support {update_type.cli_name} updates "
                f"(it supports: {listed or 'none'})",
                operation="AT#XDFUINIT=?",
            )

    async def query_line(self, command: str) -> str | None:
        """The first information line of ``command``'s answer, or ``None`` if there is none."""
        response = await self.command(command)
        return response.lines[0].split(":", 1)[1].strip() if response.lines else None

    # --- DFU ---------------------------------------------------------------------------------

    async def init(self, update_type: int, size: int | None, timeout: float | None = None) -> None:
        command = f"AT#XDFUINIT={update_type}" + ("" if size is None else f",{size}")
        await self.command(command, timeout)

    async def enter_bootloader_mode(self) -> None:
        """``AT#XDFUINIT=2``: reboot into bootloader mode (with or without ``OK`` first)."""
        client = self.client
        self._expecting_reboot = True
        try:
            with client.expect(
                lambda line: line in (BOOTLOADER_READY, "ERROR"), "AT#XDFUINIT=2"
            ) as banner:
                await client.send_line("AT#XDFUINIT=2")
                line = await banner.wait(self.timeouts.bootloader_banner)
        finally:
            self._expecting_reboot = False
        if line == "ERROR":
            raise CommandRejectedError(
                "the device refused to enter bootloader mode (full-modem DFU not enabled?)",
                operation="AT#XDFUINIT=2",
                status="ERROR",
            )
        self.mode = Mode.BOOTLOADER

    async def write_chunk(self, update_type: int, address: int, data: Buffer, offset: int) -> None:
        """One ``AT#XDFUWRITE`` with its data; returns once the device confirmed it."""
        command = f"AT#XDFUWRITE={update_type},{address},{len(data)}"
        try:
            line = await self._write_chunk(update_type, command, data, offset)
        except DfuError as exc:
            exc.locate(command, offset)
            raise
        self._outstanding = 0
        urc = parse_dfu_urc(line)
        assert urc is not None
        if urc.status != 0:
            raise ChunkFailedError(
                "the device could not write the chunk; part of it may be in the image, "
                "so the image restarts from AT#XDFUINIT",
                operation=command,
                offset=offset,
                status=urc.status,
            )

    async def _write_chunk(self, update_type: int, command: str, data: Buffer, offset: int) -> str:
        client = self.client
        with client.expect(dfu_urc_predicate(update_type, OP_WRITE), command) as result:
            self._outstanding = len(data)
            try:
                await client.command(command, timeout=self.timeouts.command, offset=offset)
            except CommandRejectedError as exc:
                self._outstanding = 0
                raise ChunkFailedError(
                    "the device refused the write", operation=command, offset=offset, status="ERROR"
                ) from exc
            async with deadline(self._wire_allowance(len(data)), f"{command} data", offset=offset):
                await client.write(data)
                return await result.wait(None)

    async def apply(self, update_type: int) -> None:
        """``AT#XDFUAPPLY``: ``OK``, then success or failure only in ``#XDFU: t,2,s``."""
        client = self.client
        command = f"AT#XDFUAPPLY={update_type}"
        with client.expect(dfu_urc_predicate(update_type, OP_APPLY), command) as result:
            await client.command(command, timeout=self.timeouts.command)
            line = await result.wait(self.timeouts.apply_result)
        urc = parse_dfu_urc(line)
        assert urc is not None
        if urc.status != 0:
            raise ApplyFailedError(
                "the device could not finalise the image", operation=command, status=urc.status
            )

    async def apply_final_modem_firmware(self) -> None:
        """The last ``AT#XDFUAPPLY=2``: the device reboots, with or without reporting first.

        ``Ready`` means the new modem firmware booted; ``Bootloader mode ready``
        means it did not, and the whole full-modem update must be repeated.
        """
        client = self.client
        command = "AT#XDFUAPPLY=2"
        self._expecting_reboot = True
        try:
            with (
                client.expect(lambda line: line in (READY, BOOTLOADER_READY), command) as banner,
                client.expect(dfu_urc_predicate(2, OP_APPLY), command) as result,
            ):
                await client.send_line(command)
                done, _ = await wait_within(
                    asyncio.wait(
                        [banner.future, result.future], return_when=asyncio.FIRST_COMPLETED
                    ),
                    self.timeouts.ready,
                    command,
                )
                if result.future in done:
                    urc = parse_dfu_urc(result.future.result())
                    if urc is not None and urc.status != 0:
                        raise ApplyFailedError(
                            "the modem bootloader rejected the firmware; the modem stays in "
                            "bootloader mode",
                            operation=command,
                            status=urc.status,
                        )
                line = await banner.wait(self.timeouts.ready)
        finally:
            self._expecting_reboot = False
        if line == BOOTLOADER_READY:
            self.mode = Mode.BOOTLOADER
            raise ApplyFailedError(
                "the new modem firmware did not boot; the device is back in bootloader mode",
                operation=command,
                status=line,
            )
        self.mode = Mode.NORMAL

    # --- activation --------------------------------------------------------------------------

    async def reset(self) -> FotaUrc | None:
        """``AT#XRESET``; returns the ``#XFOTA`` result printed after ``Ready``, if any."""
        client = self.client
        self._expecting_reboot = True
        try:
            with (
                client.expect(lambda line: line in (READY, BOOTLOADER_READY), "AT#XRESET") as boot,
                client.expect(lambda line: parse_fota_urc(line) is not None, "#XFOTA") as fota,
            ):
                if self.mode is Mode.BOOTLOADER:
                    await client.send_line("AT#XRESET")  # no OK from e23c2bd here
                else:
                    await client.command("AT#XRESET", timeout=self.timeouts.command)
                banner = await boot.wait(self.timeouts.ready)
                self.mode = parse_banner(banner) or Mode.NORMAL
                try:
                    return parse_fota_urc(await fota.wait(self.timeouts.fota_result))
                except DfuTimeoutError:
                    return None
        finally:
            self._expecting_reboot = False

    async def modem_reset(self) -> FotaUrc | None:
        """``AT#XMODEMRESET``: the modem restarts and applies a scheduled delta patch."""
        client = self.client
        with client.expect(lambda line: parse_fota_urc(line) is not None, "#XFOTA") as fota:
            response = await client.command("AT#XMODEMRESET", timeout=self.timeouts.modem_reset)
            result = parse_fota_urc(fota.future.result()) if fota.future.done() else None
        outcome = parse_modem_reset(response.lines[0]) if response.lines else (0, None)
        if outcome != (0, None):
            raise ActivationFailedError(
                "the modem did not restart cleanly",
                operation="AT#XMODEMRESET",
                status=response.lines[0],
            )
        return result

    def _wire_time(self, count: int) -> float:
        """Seconds ``count`` bytes occupy the wire at the link's baud rate (8N1)."""
        return 0.0 if self.baudrate is None else count * 10 / self.baudrate

    def _wire_allowance(self, count: int) -> float:
        """Time to move ``count`` bytes at the link's baud rate, plus the result timeout."""
        return self.timeouts.write_result + 2 * self._wire_time(count)
