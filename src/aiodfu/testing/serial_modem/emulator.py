"""The emulated Serial Modem's UART: command mode, data mode, the commands, reboots.

See :mod:`aiodfu.testing.serial_modem` for the options, faults and what tests inspect.
Over 400 lines, on purpose: this is one state machine -- the loop
that decides whether a byte is a command or data, and the command table it
dispatches to -- and splitting the handlers from the loop would scatter it.
The DFU state, targets, line discipline and signatures live in their own modules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiodfu.serial_modem.protocol import (
    DfuUrc,
    Mode,
    Operation,
    format_datamode,
    format_modem_reset,
    format_supported_types,
)
from aiodfu.testing.at_device import AtEmulator
from aiodfu.testing.device_faults import ErrorReply
from aiodfu.testing.faults import FaultVocabulary
from aiodfu.testing.faulty_device import Outcome
from aiodfu.testing.serial_modem.at import (
    ERROR,
    OK,
    AtCommand,
    AtLineReader,
    CommandKind,
    info,
    parse_command,
    parse_uint,
)
from aiodfu.testing.serial_modem.faults import FirmwareGeneration, SerialModemFaults, UrcOrder
from aiodfu.testing.serial_modem.state import DataChunk, SerialModemState
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

__all__ = ["NCS_VERSION", "SerialModemEmulator"]

NCS_VERSION = "3.1.0"
"""The nRF Connect SDK version ``AT#XSMVER`` reports."""

_READ_SIZE = 4096

Handler = Callable[[AtCommand], Awaitable[None]]

_XDFU_COMMANDS = ("AT#XDFUWRITE", "AT#XDFUAPPLY")


class SerialModemEmulator(SerialModemState, AtEmulator):
    """A Nordic Serial Modem device; see the module documentation for options and inspection."""

    FAULT_VOCABULARY = FaultVocabulary(
        "serial-modem",
        commands=(("AT#XDFUINIT", 1), ("AT#XDFUWRITE", 3), ("AT#XDFUAPPLY", 1), ("AT#XRESET", 1)),
        errors=(None, "ERROR", -1),
        offset_errors=(None, -1),
        unsolicited=(b"\r\n+CEREG: 5\r\n", b"\r\n#XMODEM: 1\r\n", b"\r\n+CSCON: 1\r\n"),
    )
    """``ErrorReply``: ``"ERROR"`` (or ``None``) answers ``ERROR`` instead of acting; a
    (negative) status makes ``AT#XDFUWRITE`` store half its chunk and report ``#XDFU: t,1,<s>``
    and ``AT#XDFUAPPLY`` report ``#XDFU: t,2,<s>`` without applying (other commands: ``ERROR``).
    At an offset, the chunk in flight stores nothing from there on and reports ``-1`` (or the
    status)."""
    faults: SerialModemFaults

    def __init__(
        self,
        *,
        supported_types: Sequence[int] = (0, 1, 2, 3),
        firmware: FirmwareGeneration = FirmwareGeneration.E23C2BD,
        link_model: LinkModel | None = None,
        command_latency: float = 0.0,
        flash_write_rate: float | None = None,
        datamode_buffer: int = 4096,
        slot_size: int = 1 << 20,
        delta_area_size: int = 2 << 20,
        delta_erase_time: float = 0.0,
        reboot_time: float = 0.05,
        urc_order: UrcOrder = UrcOrder.XDFU_FIRST,
        legacy_urc_format: bool = False,
        terminator: bytes = b"\r",
        echo: bool = False,
        app_image: bytes | None = None,
        modem_version: str = "nrf91x1_2.0.2",
        faults: SerialModemFaults | None = None,
        mcuboot_signatures: bool = False,
    ) -> None:
        if not set(supported_types) <= {0, 1, 2, 3}:
            raise ValueError(f"supported_types must be within 0..3, not {supported_types!r}")
        if datamode_buffer < 1:
            raise ValueError(f"datamode_buffer must be positive, not {datamode_buffer}")
        if flash_write_rate is not None and flash_write_rate <= 0:
            raise ValueError(f"flash_write_rate must be positive, not {flash_write_rate}")
        AtEmulator.__init__(
            self,
            faults=faults if faults is not None else SerialModemFaults(),
            link_model=link_model,
            reboot_time=reboot_time,
            command_latency=command_latency,
        )
        SerialModemState.__init__(
            self,
            slot_size=slot_size,
            delta_area_size=delta_area_size,
            app_image=app_image,
            modem_version=modem_version,
            mcuboot_signatures=mcuboot_signatures,
        )
        self.supported_types = tuple(sorted(set(supported_types)))
        self.firmware = firmware
        self.flash_write_rate = flash_write_rate
        self.datamode_buffer = datamode_buffer
        self.delta_erase_time = delta_erase_time
        self.urc_order = urc_order
        self.legacy_urc_format = legacy_urc_format
        self.terminator = terminator
        self.echo = echo
        self.commands: list[str] = []
        self._chunks_seen = 0
        self._data_bytes_seen = 0
        self._forced_status: int | None = None
        self._normal_handlers: dict[str, Handler] = {
            "AT": self._cmd_at,
            "ATE0": self._cmd_echo,
            "ATE1": self._cmd_echo,
            "AT#XDFUINIT": self._cmd_dfu_init,
            "AT#XDFUWRITE": self._cmd_dfu_write,
            "AT#XDFUAPPLY": self._cmd_dfu_apply,
            "AT#XRESET": self._cmd_reset,
            "AT#XMODEMRESET": self._cmd_modem_reset,
            "AT#XSMVER": self._cmd_smver,
            "AT%SHORTSWVER": self._cmd_shortswver,
            "AT#XBOOTINFO": self._cmd_bootinfo,
            "AT#XFOTA": self._cmd_fota,
        }
        # Bootloader mode matches these by prefix, as sm_at_host.c does; the rest is ERROR.
        self._bootloader_handlers: dict[str, Handler] = {
            "AT#XDFUINIT": self._cmd_dfu_init,
            "AT#XDFUWRITE": self._cmd_dfu_write,
            "AT#XDFUAPPLY": self._cmd_dfu_apply,
            "AT#XRESET": self._cmd_bootloader_reset,
        }
        self._reset_uart()

    @property
    def in_data_mode(self) -> bool:
        """An ``AT#XDFUWRITE`` chunk still waits for bytes: ``AT`` would be taken as data."""
        return self._chunk is not None

    def _reset_uart(self) -> None:
        """What a reboot loses on the AT side: echo setting, the partial line, data mode."""
        self._echo = self.echo
        self._reader = AtLineReader(self.terminator)
        self._inbox = bytearray()
        self._chunk: DataChunk | None = None
        self._offset = 0  # data bytes taken since the last INIT or boot: the transfer offset

    # --- the device loop ---------------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        self._stream = stream
        while True:
            if not self._inbox:
                chunk = self._chunk
                want = _READ_SIZE if chunk is None else self._data_room(chunk)
                self._inbox += await self.receive(stream, want)
            if self.unresponsive:
                self._inbox.clear()
            elif self._chunk is not None:
                await self._take_data(self._chunk)
            else:
                await self._take_command_bytes()

    def _data_room(self, chunk: DataChunk) -> int:
        return min(chunk.remaining, self.datamode_buffer - len(chunk.ring))

    async def _take_command_bytes(self) -> None:
        consumed, line, overflowed = self._reader.feed(self._inbox)
        if self._echo and consumed:  # every command-mode byte, garbage too, not the overflow
            await self._send(bytes(self._inbox[: consumed - overflowed]))
        del self._inbox[:consumed]
        if overflowed:
            await self._final(ERROR)
        elif line is not None:
            await self._execute(line.decode("latin-1"))

    async def _take_data(self, chunk: DataChunk) -> None:
        count = min(len(self._inbox), self._data_room(chunk))
        limit = self.faults.reboot_after_data_bytes
        if limit is not None and self._data_bytes_seen + count >= limit:
            self._data_bytes_seen = max(limit, self._data_bytes_seen)
            self.faults.reboot_after_data_bytes = None
            self.faults.record("reboot", f"data byte {limit}", "reboot_after_data_bytes")
            self.reboot()
            return
        waiting = self.next_fault_offset(self._offset, self._offset + count)
        if waiting == self._offset:
            outcome = await self.take_offset(waiting)
            if outcome is Outcome.HALT or self._chunk is not chunk:
                return
            if isinstance(outcome, ErrorReply):  # the target fails from this byte on
                chunk.accept_limit = min(chunk.accept_limit, chunk.length - chunk.remaining)
                chunk.forced_status = outcome.code if isinstance(outcome.code, int) else None
            return  # the next call takes the data, up to the next fault
        if waiting is not None:
            count = waiting - self._offset
        chunk.ring += self._inbox[:count]
        del self._inbox[:count]
        chunk.remaining -= count
        self._data_bytes_seen += count
        self._offset += count
        if len(chunk.ring) >= self.datamode_buffer or chunk.remaining == 0:
            await self._flush(chunk)
        if chunk.remaining == 0:
            self._chunk = None
            urc = self._xdfu(chunk.type, Operation.WRITE, chunk.status)
            exit_line = info(format_datamode(0))
            first, second = (
                (urc, exit_line)
                if self.urc_order is UrcOrder.XDFU_FIRST
                else (
                    exit_line,
                    urc,
                )
            )
            await self._final(first + second)

    async def _flush(self, chunk: DataChunk) -> None:
        """Write the data-mode buffer to the target; the UART is not read meanwhile."""
        data, chunk.ring = chunk.ring, bytearray()
        if not chunk.failed:
            room = chunk.accept_limit - chunk.accepted
            stored = self.store(chunk, data[:room] if len(data) > room else data)
            chunk.accepted += stored
            chunk.failed = stored < len(data)
        if self.flash_write_rate is not None:
            await asyncio.sleep(len(data) / self.flash_write_rate)

    # --- output ------------------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        await self.send(data)

    async def _final(self, response: bytes) -> None:
        """Send a final response (or URC group); the idle moment after it lets out one
        unrelated URC."""
        await self.send(response)
        await self.idle()

    async def announce(self, banner: bytes) -> None:
        await self._final(banner)  # a boot banner, then an idle moment

    def _xdfu(self, dfu_type: int, operation: int, status: int) -> bytes:
        """The ``#XDFU`` URC, framed as ``sm_at_dfu.c`` prints it: no leading CRLF."""
        urc = DfuUrc(dfu_type, operation, status).format(legacy=self.legacy_urc_format)
        return urc.encode() + b"\r\n"

    def _type_list(self, command: str, *rest: str) -> bytes:
        return info(format_supported_types(command, self.supported_types, *rest)) + OK

    # --- commands ----------------------------------------------------------------------------

    async def _execute(self, text: str) -> None:
        self._forced_status = None
        if not await self.take_line(text):
            return
        if self._rejected(text):
            self.faults.record("error", f"command ({text})", "reject_commands")
            await self._final(ERROR)
            return
        command = parse_command(text)
        handler = None if command is None else self._handler_for(command)
        if command is None or handler is None:
            await self._final(ERROR)
            return
        await handler(command)

    async def answer_fault(self, error: ErrorReply, text: str) -> bool:
        if isinstance(error.code, int) and text.upper().startswith(_XDFU_COMMANDS):
            self._forced_status = error.code  # the command runs, and reports this status
            return True
        await self._final(ERROR)
        return False

    def _rejected(self, text: str) -> bool:
        upper = text.upper()
        for prefix, count in self.faults.reject_commands.items():
            if count > 0 and upper.startswith(prefix.upper()):
                if count == 1:
                    del self.faults.reject_commands[prefix]
                else:
                    self.faults.reject_commands[prefix] = count - 1
                return True
        return False

    def _handler_for(self, command: AtCommand) -> Handler | None:
        if self.mode is Mode.NORMAL:
            return self._normal_handlers.get(command.name)
        upper = command.text.upper()
        for prefix, handler in self._bootloader_handlers.items():
            if upper.startswith(prefix):
                return handler
        return None

    def _dfu_type(self, command: AtCommand) -> int | None:
        """The ``<type>`` of a set command, if this build and mode accept it."""
        if command.kind is not CommandKind.SET or not command.params:
            return None
        dfu_type = parse_uint(command.params[0])
        if dfu_type not in self.supported_types:
            return None
        if self.mode is Mode.BOOTLOADER and dfu_type != 2:
            return None
        return dfu_type

    async def _cmd_at(self, command: AtCommand) -> None:
        await self._final(OK)

    async def _cmd_echo(self, command: AtCommand) -> None:
        self._echo = command.name == "ATE1"
        await self._final(OK)

    async def _cmd_dfu_init(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(self._type_list("#XDFUINIT", "<size>"))
            return
        dfu_type = self._dfu_type(command)
        if dfu_type == 2:
            self.request_bootloader_mode()
            if self.firmware is FirmwareGeneration.PR421:
                await self._send(OK)
            self._reboot()
            return
        size = parse_uint(command.params[1]) if len(command.params) > 1 else None
        if dfu_type is None or size is None:
            await self._final(ERROR)
        elif dfu_type == 1:
            if size > self.delta_area_size:
                await self._final(ERROR)
                return
            if self.delta_dirty:
                await asyncio.sleep(self.delta_erase_time)
            self.open_delta()
            self._offset = 0
            await self._final(OK)
        elif size > self.slot_size:
            await self._final(ERROR)
        else:
            self.open_mcuboot(dfu_type)
            self._offset = 0
            await self._final(OK)

    async def _cmd_dfu_write(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(self._type_list("#XDFUWRITE", "<addr>", "<len>"))
            return
        dfu_type = self._dfu_type(command)
        address, length = (
            (parse_uint(command.params[1]), parse_uint(command.params[2]))
            if len(command.params) == 3  # exactly three parameters, as the SM checks
            else (None, None)
        )
        if dfu_type is None or address is None or not length:
            await self._final(ERROR)
            return
        index = self._chunks_seen
        self._chunks_seen += 1
        failing = index in self.faults.fail_chunks or self._forced_status is not None
        if index in self.faults.fail_chunks:
            self.faults.fail_chunks.discard(index)
            self.faults.record("error", f"chunk {index}", "fail_chunks")
        # Data mode starts while the command is processed, before the OK goes out.
        self._chunk = DataChunk(dfu_type, address, length, length // 2 if failing else length)
        self._chunk.forced_status = self._forced_status
        if self.faults.ok_delay > 0:
            await asyncio.sleep(self.faults.ok_delay)
        await self._send(OK)

    async def _cmd_dfu_apply(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(self._type_list("#XDFUAPPLY"))
            return
        dfu_type = self._dfu_type(command)
        if dfu_type is None:
            await self._final(ERROR)
            return
        if self.faults.fail_apply:
            self.faults.record("error", f"command ({command.text})", "fail_apply")
        failing = self.faults.fail_apply or self._forced_status is not None
        failed = -1 if self._forced_status is None else self._forced_status
        if dfu_type != 2:
            ok = not failing and self.apply(dfu_type)
        elif self.full_modem_phase == "bootloader":
            ok = not failing and self.apply_modem_bootloader()
        elif not failing and self.apply_modem_firmware():
            if self.firmware is FirmwareGeneration.PR421:
                await self._send(OK + self._xdfu(2, Operation.APPLY, 0))
            self._reboot()
            return
        else:
            ok = False
        await self._final(OK + self._xdfu(dfu_type, Operation.APPLY, 0 if ok else failed))

    async def _cmd_reset(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.EXECUTE:
            await self._final(ERROR)
            return
        await self._send(OK)
        self._reboot()

    async def _cmd_bootloader_reset(self, command: AtCommand) -> None:
        if self.firmware is FirmwareGeneration.PR421:
            await self._send(OK)
        self._reboot()

    async def _cmd_modem_reset(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.EXECUTE:
            await self._final(ERROR)
            return
        await asyncio.sleep(self.reboot_time)  # CFUN=0, modem shutdown, modem library init
        await self._final(self.restart_modem() + info(format_modem_reset()) + OK)

    async def _cmd_smver(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.EXECUTE:
            await self._final(ERROR)
            return
        await self._final(info(f'#XSMVER: "{self.app_version()}","{NCS_VERSION}"') + OK)

    async def _cmd_shortswver(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.EXECUTE:
            await self._final(ERROR)
            return
        await self._final(info(f"%SHORTSWVER: {self.modem_version}") + OK)

    async def _cmd_bootinfo(self, command: AtCommand) -> None:
        operation = parse_uint(command.params[0]) if len(command.params) == 1 else None
        if 3 not in self.supported_types or command.kind is CommandKind.QUERY:
            await self._final(ERROR)  # without an s1 partition there is no bootloader info
        elif command.kind is CommandKind.TEST:
            await self._final(info("#XBOOTINFO: (0,1)") + OK)
        elif operation == 0:
            await self._final(info(f"#XBOOTINFO: {self.bootloader_version}") + OK)
        elif operation == 1:
            await self._final(info(f"#XBOOTINFO: {self.active_bootloader_slot}") + OK)
        else:
            await self._final(ERROR)

    async def _cmd_fota(self, command: AtCommand) -> None:
        operation = parse_uint(command.params[0]) if command.params else None
        if command.kind is not CommandKind.SET:
            await self._final(ERROR)
        elif operation == 7:
            await self._final(info(f"#XFOTA: {self.delta_area_size},{self.delta_offset}") + OK)
        elif operation == 9:
            await asyncio.sleep(self.delta_erase_time)
            self.erase_delta()
            await self._final(OK)
        else:  # the download operations need a network, which this device does not have
            await self._final(ERROR)

    # --- reboots -----------------------------------------------------------------------------

    def _reboot(self) -> None:
        """Cold reboot: state changes at once, the banner follows after ``reboot_time``.

        Changing the state before waiting means a link lost (or replaced)
        during the reboot still finds the rebooted device.
        """
        self.reboot()

    def restart(self) -> tuple[bytes, float]:
        self._reset_uart()
        return self.boot(), self.reboot_time
