"""An emulated Nordic Serial Modem (nRF91 ``ncs-serial-modem``) for testing AT DFU hosts.

:class:`SerialModemEmulator` behaves byte for byte like the Serial Modem
application at commit ``e23c2bd`` (or, optionally, after PR #421) on its AT
UART: ``AT#XDFUINIT`` / ``AT#XDFUWRITE`` / ``AT#XDFUAPPLY`` with the
``#XDFU`` URC, data mode, bootloader mode for full-modem updates,
``AT#XRESET`` / ``AT#XMODEMRESET`` activation with ``#XFOTA`` results, and the
version queries. Quirks are kept, because hosts must survive them: the
``\\n`` of a ``\\r\\n`` after ``AT#XDFUWRITE`` is the first firmware byte,
``+++`` is data, chunks are appended whatever ``<addr>`` says (so a retried
chunk corrupts the image), and a stalled chunk waits forever.

Any serial host can drive it -- over an in-memory link or a pseudo-terminal::

    from aiodfu.testing.pty import serve_pty
    from aiodfu.testing.serial_modem import SerialModemEmulator

    device = SerialModemEmulator(supported_types=(0, 1, 2, 3))
    stream = device.connect()                 # in-memory; or:
    async with serve_pty(device) as path:     # open `path` with pyserial, minicom, ...
        ...
    assert device.applied[0] == my_image      # what the device got, byte for byte

Options (keyword arguments, also attributes of the same name):

``supported_types``
    DFU types the build has: 0 app and 1 delta always; 2 full modem
    (``CONFIG_SM_DFU_MODEM_FULL``); 3 MCUboot bootloader (an ``s1``
    partition). Shown by the test commands; others answer ``ERROR``.
``firmware``
    :class:`FirmwareGeneration`: ``E23C2BD`` sends no ``OK`` to
    ``AT#XDFUINIT=2``, to the final ``AT#XDFUAPPLY=2`` nor to ``AT#XRESET`` in
    bootloader mode; ``PR421`` sends ``OK`` (and ``#XDFU: 2,2,0`` on the final
    apply) before rebooting.
``link_model``
    The default :class:`~aiodfu.transports.memory.LinkModel` of
    :meth:`connect` and :func:`~aiodfu.testing.pty.serve_pty`: baud pacing,
    receive buffer, RTS/CTS.
``command_latency``
    Seconds the device spends on each command before answering.
``flash_write_rate``
    Bytes per second of flash writes. Data mode buffers ``datamode_buffer``
    bytes (``CONFIG_SM_DATAMODE_BUF_SIZE``) and writes them synchronously,
    without reading the UART meanwhile: with flow control the host is
    throttled, without it bytes that overflow the link's receive buffer are
    lost and the chunk never completes. ``None`` writes instantly.
``slot_size`` / ``delta_area_size``
    MCUboot secondary slot and modem delta area capacity (``INIT`` with a
    larger ``<size>`` answers ``ERROR``; writes past them fail).
``delta_erase_time``
    Seconds ``AT#XDFUINIT=1`` (area dirty) and ``AT#XFOTA=9`` block erasing.
``reboot_time``
    Seconds from a reboot to its banner; bytes arriving meanwhile are lost.
    ``AT#XMODEMRESET`` takes as long to restart the modem.
``urc_order``
    :class:`UrcOrder` of ``#XDFU`` and ``#XDATAMODE`` after a chunk.
``legacy_urc_format``
    ``#XDFU:0,1,0`` without the space, as before commit ``8065574``.
``terminator``
    ``b"\\r"`` (default), ``b"\\n"`` or ``b"\\r\\n"``, as the build selects.
``echo``
    Echo at boot (``ATE0`` / ``ATE1`` switch it until the next reboot).
``app_image``
    The application running before any update. ``AT#XSMVER`` reports its
    MCUboot version (``"1.0.0"`` when it is not an MCUboot image).
``modem_version``
    What ``AT%SHORTSWVER`` reports; an activated modem update bumps its last number.
``faults``
    A :class:`SerialModemFaults`, mutable while the device runs.

Faults are set on ``device.faults`` at any time, for example::

    device.faults.fail_chunks = {3}       # the 4th chunk stores half, then reports #XDFU: t,1,-1
    device.faults.reject_commands["AT#XDFUWRITE"] = 1
    device.faults.unsolicited.append(b"\\r\\n+CEREG: 5\\r\\n")

Connecting prints no banner (the device booted before the host came), and a
new connection finds the device as the last one left it, even mid-chunk. A
partial command line survives too: filler bytes sent to finish a data mode
that had in fact ended are appended to it, and the next ``\\r`` executes it
(``ERROR``), so a recovering host sees that ``ERROR`` before its ping's answer.

Inspection (what tests compare): ``mode`` (``"normal"`` or ``"bootloader"``),
``received`` (per type, the bytes the target stored since that type's last
``INIT``; type 2: the modem bootloader upload), ``modem_flash`` and
:meth:`~SerialModemEmulator.modem_firmware_segments` (type-2 firmware as
written, by address), ``applied`` (per type, the image of the last successful
apply), ``image`` (what the device runs from its latest update that took
effect -- never an image MCUboot or the modem refused; for type 2 the
bootloader then each firmware segment in address order, as in a package blob),
``in_data_mode``, ``active_app``, ``active_bootloader_slot``, ``bootloader_version``,
``modem_version``, ``full_modem_phase``, ``delta_offset``, ``commands`` (every
command line received) and ``boots`` (reboots since construction).

Models, where the reference leaves room: an ``AT#XDFUWRITE`` without an open
target (no ``INIT`` since boot) reports ``#XDFU: t,1,-1``; an apply with
nothing to apply reports ``-1``; the type-0/3 image is validated with
:func:`~aiodfu.formats.mcuboot.parse_mcuboot` at the next reboot (valid:
swapped in, ``#XFOTA: 5,0`` for an app; invalid: nothing happens), a delta
with :func:`~aiodfu.formats.modem_delta.parse_modem_delta` when the modem
restarts (invalid: ``#XFOTA: 5,1,71303171``, the modem's authentication error)
after which the delta area is dirty; a full-modem final apply without any
firmware bytes leaves the modem corrupt, so every boot lands in bootloader mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable, Sequence

import attrs

from aiodfu.testing.emulator import Emulator
from aiodfu.testing.serial_modem_at import (
    ERROR,
    OK,
    AtCommand,
    AtLineReader,
    CommandKind,
    info,
    parse_command,
    parse_uint,
)
from aiodfu.testing.serial_modem_state import DataChunk, SerialModemState
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

__all__ = ["FirmwareGeneration", "SerialModemEmulator", "SerialModemFaults", "UrcOrder"]

NCS_VERSION = "3.1.0"
"""The nRF Connect SDK version ``AT#XSMVER`` reports."""

_READ_SIZE = 4096

Handler = Callable[[AtCommand], Awaitable[None]]


class FirmwareGeneration(enum.Enum):
    """Which Serial Modem firmware to imitate where generations differ (full-modem DFU)."""

    E23C2BD = "e23c2bd"
    """No OK for ``AT#XDFUINIT=2``, the final ``AT#XDFUAPPLY=2``, bootloader-mode ``AT#XRESET``."""
    PR421 = "pr421"
    """OK first (flushed), then the reboot; ``#XDFU: 2,2,0`` on the final apply."""


class UrcOrder(enum.Enum):
    """Order of ``#XDFU`` and ``#XDATAMODE`` after a chunk; hosts must accept both."""

    XDFU_FIRST = "xdfu-first"
    """As the ``e23c2bd`` source does it when the AT host is idle (the default)."""
    DATAMODE_FIRST = "datamode-first"
    """As the documentation shows it."""


@attrs.define
class SerialModemFaults:
    """Faults to inject; tests may change them while the device runs.

    One-shot faults are consumed as they fire: ``fail_chunks`` indices are
    removed, ``reject_commands`` counts go down, ``reboot_after_data_bytes``
    returns to ``None`` and ``unsolicited`` lines are popped.
    """

    fail_chunks: set[int] = attrs.field(factory=set)
    """0-based indices of ``AT#XDFUWRITE`` chunks (counted over the emulator's life) whose
    target stores only the first half and reports ``#XDFU: t,1,-1``."""
    reject_commands: dict[str, int] = attrs.field(factory=dict)
    """Command prefix (case-insensitive, e.g. ``"AT#XDFUWRITE"``) -> how many more times to
    answer ``ERROR`` instead of acting."""
    reboot_after_data_bytes: int | None = None
    """Reboot once this many data-mode bytes have arrived in total (RAM DFU state lost)."""
    unsolicited: list[bytes] = attrs.field(factory=list)
    """Unrelated lines (e.g. ``b"\\r\\n+CEREG: 5\\r\\n"``), one sent after each final response,
    URC group or banner."""
    ok_delay: float = 0.0
    """Extra seconds before the OK of ``AT#XDFUWRITE`` (data mode is already active)."""
    fail_apply: bool = False
    """``AT#XDFUAPPLY`` answers OK, then ``#XDFU: t,2,-1``."""
    silent: bool = False
    """The device answers nothing at all, but keeps consuming what it receives."""


class SerialModemEmulator(SerialModemState, Emulator):
    """A Nordic Serial Modem device; see the module documentation for options and inspection."""

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
    ) -> None:
        if not set(supported_types) <= {0, 1, 2, 3}:
            raise ValueError(f"supported_types must be within 0..3, not {supported_types!r}")
        if datamode_buffer < 1:
            raise ValueError(f"datamode_buffer must be positive, not {datamode_buffer}")
        if flash_write_rate is not None and flash_write_rate <= 0:
            raise ValueError(f"flash_write_rate must be positive, not {flash_write_rate}")
        Emulator.__init__(self, link_model=link_model)
        SerialModemState.__init__(
            self,
            slot_size=slot_size,
            delta_area_size=delta_area_size,
            app_image=app_image,
            modem_version=modem_version,
        )
        self.supported_types = tuple(sorted(set(supported_types)))
        self.firmware = firmware
        self.command_latency = command_latency
        self.flash_write_rate = flash_write_rate
        self.datamode_buffer = datamode_buffer
        self.delta_erase_time = delta_erase_time
        self.reboot_time = reboot_time
        self.urc_order = urc_order
        self.legacy_urc_format = legacy_urc_format
        self.terminator = terminator
        self.echo = echo
        self.faults = faults if faults is not None else SerialModemFaults()
        self.commands: list[str] = []
        self._chunks_seen = 0
        self._data_bytes_seen = 0
        self._stream: ByteStream | None = None
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

    # --- the device loop ---------------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        self._stream = stream
        while True:
            if not self._inbox:
                chunk = self._chunk
                want = _READ_SIZE if chunk is None else self._data_room(chunk)
                self._inbox += await stream.read(want)
            if self.faults.silent:
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
            await self._reboot()
            return
        chunk.ring += self._inbox[:count]
        del self._inbox[:count]
        chunk.remaining -= count
        self._data_bytes_seen += count
        if len(chunk.ring) >= self.datamode_buffer or chunk.remaining == 0:
            await self._flush(chunk)
        if chunk.remaining == 0:
            self._chunk = None
            urc = self._xdfu(chunk.type, 1, chunk.status)
            exit_line = info("#XDATAMODE: 0")
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
        if self.faults.silent or self._stream is None:
            return
        await self._stream.write(data)

    async def _final(self, response: bytes) -> None:
        """Send a final response (or URC group); the idle moment after it lets out one
        unrelated URC."""
        await self._send(response)
        if self.faults.unsolicited:
            await self._send(self.faults.unsolicited.pop(0))

    def _xdfu(self, dfu_type: int, operation: int, status: int) -> bytes:
        space = "" if self.legacy_urc_format else " "
        return f"#XDFU:{space}{dfu_type},{operation},{status}\r\n".encode()

    def _type_list(self) -> str:
        return "(" + ",".join(str(t) for t in self.supported_types) + ")"

    # --- commands ----------------------------------------------------------------------------

    async def _execute(self, text: str) -> None:
        self.commands.append(text)
        if self.command_latency > 0:
            await asyncio.sleep(self.command_latency)
        if self._rejected(text):
            await self._final(ERROR)
            return
        command = parse_command(text)
        handler = None if command is None else self._handler_for(command)
        if command is None or handler is None:
            await self._final(ERROR)
            return
        await handler(command)

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
        if self.mode == "normal":
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
        if self.mode == "bootloader" and dfu_type != 2:
            return None
        return dfu_type

    async def _cmd_at(self, command: AtCommand) -> None:
        await self._final(OK)

    async def _cmd_echo(self, command: AtCommand) -> None:
        self._echo = command.name == "ATE1"
        await self._final(OK)

    async def _cmd_dfu_init(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(info(f"#XDFUINIT: {self._type_list()},<size>") + OK)
            return
        dfu_type = self._dfu_type(command)
        if dfu_type == 2:
            self.request_bootloader_mode()
            if self.firmware is FirmwareGeneration.PR421:
                await self._send(OK)
            await self._reboot()
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
            await self._final(OK)
        elif size > self.slot_size:
            await self._final(ERROR)
        else:
            self.open_mcuboot(dfu_type)
            await self._final(OK)

    async def _cmd_dfu_write(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(info(f"#XDFUWRITE: {self._type_list()},<addr>,<len>") + OK)
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
        failing = index in self.faults.fail_chunks
        self.faults.fail_chunks.discard(index)
        # Data mode starts while the command is processed, before the OK goes out.
        self._chunk = DataChunk(dfu_type, address, length, length // 2 if failing else length)
        if self.faults.ok_delay > 0:
            await asyncio.sleep(self.faults.ok_delay)
        await self._send(OK)

    async def _cmd_dfu_apply(self, command: AtCommand) -> None:
        if command.kind is CommandKind.TEST:
            await self._final(info(f"#XDFUAPPLY: {self._type_list()}") + OK)
            return
        dfu_type = self._dfu_type(command)
        if dfu_type is None:
            await self._final(ERROR)
            return
        failing = self.faults.fail_apply
        if dfu_type != 2:
            ok = not failing and self.apply(dfu_type)
        elif self.full_modem_phase == "bootloader":
            ok = not failing and self.apply_modem_bootloader()
        elif not failing and self.apply_modem_firmware():
            if self.firmware is FirmwareGeneration.PR421:
                await self._send(OK + self._xdfu(2, 2, 0))
            await self._reboot()
            return
        else:
            ok = False
        await self._final(OK + self._xdfu(dfu_type, 2, 0 if ok else -1))

    async def _cmd_reset(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.SET or command.params:
            await self._final(ERROR)
            return
        await self._send(OK)
        await self._reboot()

    async def _cmd_bootloader_reset(self, command: AtCommand) -> None:
        if self.firmware is FirmwareGeneration.PR421:
            await self._send(OK)
        await self._reboot()

    async def _cmd_modem_reset(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.SET or command.params:
            await self._final(ERROR)
            return
        await asyncio.sleep(self.reboot_time)  # CFUN=0, modem shutdown, modem library init
        await self._final(self.restart_modem() + info("#XMODEMRESET: 0") + OK)

    async def _cmd_smver(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.SET or command.params:
            await self._final(ERROR)
            return
        await self._final(info(f'#XSMVER: "{self.app_version()}","{NCS_VERSION}"') + OK)

    async def _cmd_shortswver(self, command: AtCommand) -> None:
        if command.kind is not CommandKind.SET or command.params:
            await self._final(ERROR)
            return
        await self._final(info(f"%SHORTSWVER: {self.modem_version}") + OK)

    async def _cmd_bootinfo(self, command: AtCommand) -> None:
        operation = parse_uint(command.params[0]) if len(command.params) == 1 else None
        if 3 not in self.supported_types or command.kind is CommandKind.READ:
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

    async def _reboot(self) -> None:
        """Cold reboot: state changes at once, the banner follows after ``reboot_time``.

        Changing the state before waiting means a link lost (or replaced)
        during the reboot still finds the rebooted device.
        """
        self._reset_uart()
        output = self.boot()
        await self._discard_input(self.reboot_time)
        await self._final(output)

    async def _discard_input(self, seconds: float) -> None:
        """Lose everything received until the device listens again."""
        self._inbox.clear()
        if seconds <= 0 or self._stream is None:
            return
        stream = self._stream
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while True:
                    await stream.read()
