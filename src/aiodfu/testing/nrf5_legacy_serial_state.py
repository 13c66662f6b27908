"""The Adafruit nRF52 bootloader's serial DFU, without I/O: link layer, DFU state, flash.

:class:`SerialBootloader` is one chip: its flash (as bytes, with the
bootloader settings that say whether the application is valid) and the RAM
state of one boot -- the link layer's expected sequence number, the 3-slot
packet queue, the DFU state machine of ``dfu_single_bank.c`` /
``dfu_dual_bank.c`` and the Adafruit ``dfu_init.c`` checks. It takes frames
and returns acks and queued packets; it processes a packet and returns the
:class:`Work` the chip would spend on it (erase with the CPU halted, page
writes) and what follows (a reboot, leaving DFU). Facts from the bootloader's
own sources are in the protocol reference, "Serial DFU (Adafruit nRF52)".
Injected handler failures (:mod:`aiodfu.testing.nrf5_legacy_serial_faults`)
act here too, as the serial transport acts on a real one. (A little over 400
lines: the chip is one state machine.)
"""

from __future__ import annotations

import struct
from typing import Literal

import attrs

from aiodfu.core.integrity import crc16_ccitt_false
from aiodfu.nrf5_legacy import hci
from aiodfu.nrf5_legacy.hci import DfuPacket, DfuPacketType

PAGE = 4096
MBR_SIZE = 0x1000
WORDS_PER_PAGE = PAGE // 4
ADAFRUIT_DEVICE_TYPE = 0x0052
ANY_SOFTDEVICE = 0xFFFE
INIT_BUFFER = 128
QUEUE_SLOTS = 3
"""``MAX_BUFFERS`` is 4 but the queue counts as full at 3."""
MAX_BUFFERS = 4
SETTINGS_WORDS = 16


@attrs.frozen
class AdafruitBoard:
    """A board family: its flash map, identity, flash timing and how the host reaches it."""

    name: str
    native_usb: bool
    """USB CDC read between main-loop runs (nRF52840/833); else a UART read in interrupts."""
    flash_size: int
    bootloader_start: int
    device_revision: int
    softdevice_fwid: int
    page_erase: float
    """Seconds to erase one page; the CPU is halted meanwhile."""
    word_write: float
    """Seconds to write one 32-bit word."""
    app_data_reserved: int = 7 * PAGE
    dual_bank: bool = False
    """Adafruit builds are single bank unless built with ``DUALBANK_FW=1``."""
    startup_window: float | None = None
    """nRF52832: after a reset with a valid application, serial DFU listens this long."""
    uart_flow_control: bool = False
    """UART only: RTS/CTS hold bytes while the CPU is halted (else they are lost)."""
    dfu_timeout: float = 360.0

    @property
    def page_write(self) -> float:
        return WORDS_PER_PAGE * self.word_write

    @property
    def settings_write(self) -> float:
        """Erasing the settings page and writing the few words of the settings (CPU halted)."""
        return self.page_erase + SETTINGS_WORDS * self.word_write

    @property
    def settings_page(self) -> int:
        return self.flash_size - PAGE

    @property
    def bootloader_max(self) -> int:
        """``DFU_BL_IMAGE_MAX_SIZE``: up to the MBR parameter page."""
        return self.flash_size - 2 * PAGE - self.bootloader_start


FEATHER_NRF52840 = AdafruitBoard(
    name="Feather nRF52840 Express",
    native_usb=True,
    flash_size=0x100000,
    bootloader_start=0xF4000,
    device_revision=52840,
    softdevice_fwid=0x00B6,  # S140 6.1.1
    page_erase=0.085,
    word_write=41e-6,
)
FEATHER_NRF52832 = AdafruitBoard(
    name="Feather nRF52832",
    native_usb=False,
    flash_size=0x80000,
    bootloader_start=0x74000,
    device_revision=0xADAF,
    softdevice_fwid=0x00B7,  # S132 6.1.1
    page_erase=0.0897,
    word_write=67.5e-6,
    startup_window=1.0,
)


class DfuState:
    IDLE = "idle"
    READY = "erased, waiting for the init packet"
    RX_INIT = "receiving the init packet"
    RX_DATA = "receiving firmware"
    VALIDATE = "validating"
    WAIT_ACTIVATE = "validated"


@attrs.frozen
class Work:
    """What processing one packet costs the chip, and what comes after."""

    steps: tuple[tuple[float, bool], ...] = ()
    """``(seconds, cpu_halted)``: erases halt the CPU (no UART interrupt runs)."""
    then: Literal["reboot", "leave"] | None = None
    """``reboot``: the error handler resets the chip; ``leave``: DFU is over (activated)."""
    reason: str = ""
    activity: bool = False
    """The packet restarted the DFU inactivity timer (a Start, init or data packet taken, a
    complete image validated -- not a refused or repeated one)."""


def _align(value: int) -> int:
    return -(-value // PAGE) * PAGE


class SerialBootloader:
    """One chip: flash and settings outlive a reboot; everything else is per boot."""

    def __init__(
        self,
        board: AdafruitBoard,
        *,
        softdevice: bytes = b"",
        application: bytes | None = None,
        bootloader: bytes = b"",
    ) -> None:
        self.board = board
        self.flash = bytearray(b"\xff" * board.flash_size)
        self.softdevice_size = len(softdevice)
        self.flash[MBR_SIZE : MBR_SIZE + len(softdevice)] = softdevice
        self.bootloader_size = len(bootloader)
        self.flash[board.bootloader_start : board.bootloader_start + len(bootloader)] = bootloader
        self.app_valid = False
        self.app_size = 0
        self.app_crc = 0
        if application is not None:
            self._install_application(application)
        self.dropped_after_ack = 0
        self.rejected_frames = 0
        self.wrong_sequence = 0
        self.boot()

    # --- flash map ----------------------------------------------------------------------------

    @property
    def app_start(self) -> int:
        """``CODE_REGION_1_START``: right after the SoftDevice (after the MBR without one)."""
        return _align(MBR_SIZE + self.softdevice_size) if self.softdevice_size else MBR_SIZE

    @property
    def image_max_full(self) -> int:
        return self.board.bootloader_start - self.app_start - self.board.app_data_reserved

    @property
    def image_max_banked(self) -> int:
        full = self.image_max_full
        return (full - full % (2 * PAGE)) // 2

    @property
    def application(self) -> bytes | None:
        """The application the bootloader would start (``None`` if it holds no valid one)."""
        if not self._app_is_valid():
            return None
        return bytes(self.flash[self.app_start : self.app_start + self.app_size])

    @property
    def softdevice(self) -> bytes:
        return bytes(self.flash[MBR_SIZE : MBR_SIZE + self.softdevice_size])

    @property
    def bootloader(self) -> bytes:
        start = self.board.bootloader_start
        return bytes(self.flash[start : start + self.bootloader_size])

    def _install_application(self, image: bytes) -> None:
        self.flash[self.app_start : self.app_start + len(image)] = image
        self.app_valid, self.app_size, self.app_crc = True, len(image), crc16_ccitt_false(image)

    def _app_is_valid(self) -> bool:
        """``bootloader_app_is_valid``: not blank, flagged valid, CRC over the stored size."""
        start = self.app_start
        if self.flash[start : start + 8] == b"\xff" * 8 or not self.app_valid:
            return False
        image = self.flash[start : start + self.app_size]
        return self.app_crc == 0 or crc16_ccitt_false(image) == self.app_crc

    @property
    def application_valid(self) -> bool:
        return self._app_is_valid()

    # --- one boot -----------------------------------------------------------------------------

    def boot(self) -> None:
        """Power-on RAM state: sequence 1, empty queue, DFU idle."""
        self.expected = hci.FIRST_SEQUENCE
        self.slots: list[DfuPacket | None] = [None] * MAX_BUFFERS
        self.rounds = 0
        """``process_dfu_packet`` runs scheduled: one per packet queued."""
        self.state = DfuState.IDLE
        self.mode = 0
        self.sizes = (0, 0, 0)
        self.init = bytearray()
        self.received = 0
        self.packet_seen = False
        """A DFU packet reached the main loop (ends the nRF52832 start-up window)."""

    def receive_frame(self, frame: bytes) -> bytes | None:
        """The link layer, in the UART interrupt (or USB task): the ack to send, if any."""
        packet = hci.parse_reliable(frame)
        if packet is None:
            self.rejected_frames += 1
            return None
        if packet.seq != self.expected:
            self.wrong_sequence += 1
            return hci.encode_ack(self.expected)
        self.expected = hci.next_sequence(self.expected)
        ack = hci.encode_ack(self.expected)
        dfu = DfuPacket.from_payload(packet.payload)
        if dfu.packet_type == DfuPacketType.INVALID:
            return ack  # acknowledged, then discarded
        if self.queued >= QUEUE_SLOTS:
            self.dropped_after_ack += 1  # acknowledged, then lost: the queue was full
            return ack
        self.slots[self.slots.index(None)] = dfu  # the first free slot
        self.rounds += 1
        return ack

    @property
    def queued(self) -> int:
        return sum(slot is not None for slot in self.slots)

    def free(self, index: int) -> None:
        self.slots[index] = None

    # --- the main loop ------------------------------------------------------------------------

    def process(self, packet: DfuPacket, failure: tuple[str, str] | None = None) -> Work:
        """``process_dfu_packet`` for one queued packet; ``failure`` is an injected failure
        ``(step, code)`` of its handler (``step``: the command it was named by)."""
        self.packet_seen = True
        kind = packet.packet_type
        if failure is not None and kind != DfuPacketType.STOP_DATA:
            return self._injected(kind, *failure)
        if kind == DfuPacketType.START:
            return self._start(packet.words)
        if kind == DfuPacketType.INIT:
            return self._init(packet.words)
        if kind == DfuPacketType.DATA:
            return self._data(packet.words)
        if kind == DfuPacketType.STOP_DATA:
            return self._stop(failure)
        return Work()  # other types are queued and freed without effect

    def _injected(self, kind: int, step: str, code: str) -> Work:
        """A handler failed with ``code``: the serial transport never reports it."""
        if kind in (DfuPacketType.START, DfuPacketType.INIT):
            return self._fail(f"{step} failed with {code}")  # APP_ERROR_CHECK: a reset
        poisoned = code == "DATA_SIZE_EXCEEDS_LIMIT" and self.state == DfuState.RX_DATA
        if kind == DfuPacketType.DATA and poisoned:
            self.received = 0xFFFFFFFF  # as dfu_data_pkt_handle does
        return Work()  # ignored by the serial transport: the packet is not stored

    def _fail(self, reason: str) -> Work:
        """``APP_ERROR_CHECK`` on an error: the fault handler resets the chip."""
        return Work(then="reboot", reason=reason)

    def _start(self, words: bytes) -> Work:
        if len(words) < 16:
            return self._fail("short start packet")
        mode, sd, bl, app = struct.unpack_from("<IIII", words)
        if mode & 0x04 and mode & 0x03:
            return self._fail("application together with SoftDevice or bootloader")
        if (sd | bl | app) & 3:
            return self._fail("image sizes are not whole words")
        total = sd + bl + app
        if bl > self.board.bootloader_max:
            return self._fail("bootloader too large")
        into_bank0 = not self.board.dual_bank or bool(mode & 0x01)
        limit = self.image_max_full if into_bank0 else self.image_max_banked
        if total > limit:
            return self._fail("image too large")
        if self.state != DfuState.IDLE:
            return self._fail("Start while not idle")
        self.mode, self.sizes, self.received = mode, (sd, bl, app), 0
        self.state = DfuState.READY
        self.init.clear()
        start = self._bank_start()
        pages = -(-total // PAGE)
        self.flash[start : start + pages * PAGE] = b"\xff" * (pages * PAGE)
        steps = [(pages * self.board.page_erase, True)]
        if into_bank0:  # the application is gone: the settings page says so
            self.app_valid = False
            steps.append((self.board.settings_write, True))
        return Work(tuple(steps), activity=True)

    def _bank_start(self) -> int:
        if not self.board.dual_bank or self.mode & 0x01:
            return self.app_start
        return self.app_start + self.image_max_banked

    @property
    def image_size(self) -> int:
        return sum(self.sizes)

    def _init(self, words: bytes) -> Work:
        if self.state == DfuState.READY:
            self.state = DfuState.RX_INIT
        fits = len(self.init) + len(words) <= INIT_BUFFER
        if self.state == DfuState.RX_INIT and not self.received and fits:
            self.init += words
        # dfu_init_pkt_complete follows at once: one init packet is the whole init packet
        if self.received:
            return self._fail("init packet during the image")
        if self.state != DfuState.RX_INIT:
            return self._fail("init packet without Start")
        reason = self._prevalidate(bytes(self.init))
        if reason:
            return self._fail(reason)
        self.state = DfuState.RX_DATA
        return Work(activity=True)

    def _prevalidate(self, init: bytes) -> str | None:
        if len(init) < 12:
            return "init packet too short"
        device_type, revision, _version, count = struct.unpack_from("<HHIH", init)
        if len(init) - (10 + 2 * count) < 2:
            return "init packet has no CRC"
        if device_type != ADAFRUIT_DEVICE_TYPE:
            return f"device type 0x{device_type:04X} is not 0x0052"
        if self.mode & 0x03 and revision != self.board.device_revision:
            return f"device revision 0x{revision:04X} is not this board's"
        softdevices = struct.unpack_from(f"<{count}H", init, 10)
        if not any(sd in (ANY_SOFTDEVICE, self.board.softdevice_fwid) for sd in softdevices):
            return "no acceptable SoftDevice in the init packet"
        return None

    def _data(self, words: bytes) -> Work:
        if self.state != DfuState.RX_DATA:
            return Work()  # refused, ignored by the serial transport
        if self.received + len(words) > self.image_size:
            self.received = 0xFFFFFFFF  # poisoned: every later packet and the check fail
            return Work()
        offset = self.received
        start = self._bank_start() + offset
        self.flash[start : start + len(words)] = words
        self.received += len(words)
        # flash_nrf5x_write caches a page and writes it once a write reaches the next page
        first, last = offset // PAGE, (offset + len(words) - 1) // PAGE
        writes = last - first + int(offset > 0 and first != (offset - 1) // PAGE)
        writes += int(self.received == self.image_size)  # and the last one at the end
        return Work(((writes * self.board.page_write, False),) if writes else (), activity=True)

    def _stop(self, failure: tuple[str, str] | None = None) -> Work:
        # process_dfu_packet returns after a stop packet without freeing its slot (see the driver)
        step, code = failure or ("", "")
        if self.state != DfuState.RX_DATA or self.received != self.image_size:
            return Work(reason="stop before the whole image")
        if step == "VALIDATE":
            self.state = DfuState.VALIDATE
            return Work(reason=f"validation failed with {code}: not activated")
        self.state = DfuState.VALIDATE
        start = self._bank_start()
        image = bytes(self.flash[start : start + self.image_size])
        count = struct.unpack_from("<H", self.init, 8)[0]
        expected = int.from_bytes(self.init[10 + 2 * count : 12 + 2 * count], "little")
        crc = crc16_ccitt_false(image)
        checked = (len(image) * 1.6e-7, False)  # crc16_compute at 64 MHz
        if crc != expected:
            return Work((checked,), reason="CRC mismatch: not activated", activity=True)
        self.state = DfuState.WAIT_ACTIVATE
        if step == "ACTIVATE_N_RESET":
            return Work((checked,), reason=f"activation failed with {code}: not activated")
        return self._activate(image, crc, checked)

    def _activate(self, image: bytes, crc: int, checked: tuple[float, bool]) -> Work:
        board = self.board
        sd, bl, _app = self.sizes
        pages = -(-len(image) // PAGE)
        settings = ((board.settings_write, True),)
        if self.mode & 0x04:
            steps = [checked]
            if board.dual_bank:  # erase bank 0, copy bank 1 into it
                steps += [(pages * board.page_erase, True), (pages * board.page_write, False)]
            self._install_application(image)
            self.app_crc = crc
            return Work(
                (*steps, *settings), then="leave", reason="application activated", activity=True
            )
        # SoftDevice and/or bootloader: settings, then a reset, then the MBR swaps them in
        if self.mode & 0x01:
            self.softdevice_size = sd
            self.flash[MBR_SIZE : MBR_SIZE + sd] = image[:sd]
            self.app_valid = False
        if self.mode & 0x02:
            start = board.bootloader_start
            self.flash[start : start + bl] = image[sd:]
            self.bootloader_size = bl
        swap = ((pages * board.page_erase, True), (pages * board.page_write, False))
        return Work(
            (checked, *settings, *swap, *settings), then="reboot", reason="swapped", activity=True
        )
