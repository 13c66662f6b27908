"""The legacy DFU bootloader's state machine (SDK 11 dual bank), without I/O.

:class:`BootloaderMachine` takes Control Point and Packet writes with the
current time and returns :class:`Effect` values for its host to carry out:
notifications (now or at a time), the start of a flash erase, a reset. It
keeps everything the real bootloader keeps in RAM -- which is why it outlives
connections -- and models the 8-buffer receive pool drained by a flash that
writes at a configured rate, so a sender that outruns the flash loses a packet
and gets ``10 03 06`` exactly as on hardware.

Status mapping and checks follow the protocol reference sections 2.4, 3.1, 3.2
and 5 (stock ``dfu_init_template.c`` prevalidation and CRC postvalidation).
With ``sdk_packet_routing`` the Packet characteristic is routed exactly as
``dfu_transport_ble.c`` routes it (reference section 13): by the last Control
Point request (``m_pkt_type``), so Start itself only records the mode and
every check is made when the size record arrives, whenever that is.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections import deque

import attrs

from aiodfu.core.errors import ProtocolError
from aiodfu.core.integrity import crc16_ccitt_false
from aiodfu.nrf5_legacy.init_packet import ANY_SOFTDEVICE
from aiodfu.nrf5_legacy.protocol import (
    INIT_BEGIN,
    INIT_END,
    ImageType,
    OpCode,
    PacketReceipt,
    Request,
    Response,
    Status,
    parse_request,
    parse_size_record,
)
from aiodfu.testing.nrf5_legacy.config import BootloaderConfig, InitFormat

__all__ = ["BootloaderConfig", "BootloaderMachine", "InitFormat", "State"]

INIT_BUFFER_SIZE = 128


class State(enum.Enum):
    IDLE = "idle"
    WAIT_SIZES = "waiting for the size record"
    ERASING = "erasing"
    READY = "ready for the init packet"
    RX_INIT = "receiving the init packet"
    RX_DATA = "receiving firmware"
    WAIT_ACTIVATE = "validated, waiting for activate"


@attrs.frozen
class Notify:
    data: bytes
    at: float | None = None
    """Send at this loop time (the final response after its flash write); None = now."""


@attrs.frozen
class BeginErase:
    seconds: float


@attrs.frozen
class ResetTarget:
    reason: str


@attrs.frozen
class Activate:
    image_type: ImageType
    firmware: bytes
    softdevice_size: int
    bootloader_size: int
    application_version: int | None


Effect = Notify | BeginErase | ResetTarget | Activate


class BootloaderMachine:
    """One boot of the bootloader: all of its RAM state."""

    def __init__(self, config: BootloaderConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.image_type = ImageType(0)
        self.sizes = (0, 0, 0)
        self.init = bytearray()
        self.bank = bytearray()
        self.received = 0
        """``m_num_of_firmware_bytes_rcvd``: bytes accepted (reported by PRN and opcode 7)."""
        self.prn_target = 0
        self.prn_count = 0
        self.pool: deque[float] = deque()  # completion times of packets still in the pool
        self.flash_free_at = 0.0
        self.pool_overflows = 0
        self.packets_dropped = 0
        self.expect_v1_size = False
        self.expect_v1_crc = False
        self.v1_crc: int | None = None
        self.pkt_type: OpCode | None = None
        """``m_pkt_type``: what the Packet characteristic carries (sdk_packet_routing)."""
        self.mode = ImageType(0)

    @property
    def total(self) -> int:
        return sum(self.sizes)

    # --- Control Point ------------------------------------------------------------------------

    def control_point(self, data: bytes, now: float) -> list[Effect]:
        try:
            request = parse_request(data)
        except ProtocolError as exc:  # a length its opcode does not take
            op = int(exc.status or 0)
            malformed = Status.NOT_SUPPORTED if op == OpCode.PACKET_RECEIPT_REQUEST else None
            return [_respond(op, malformed or Status.OPERATION_FAILED)]
        op = request.op
        if op == OpCode.START_DFU:
            return self._start(request)
        if op == OpCode.INITIALIZE_DFU:
            if request.init_phase is not None:
                self.pkt_type = OpCode.INITIALIZE_DFU
                if self.config.sdk_packet_routing and request.init_phase == INIT_BEGIN:
                    return []  # only routes the Packet characteristic; the data is checked
            return self._initialize(request)
        if op == OpCode.RECEIVE_FIRMWARE:
            self.pkt_type = OpCode.RECEIVE_FIRMWARE
            return []  # switches the Packet char to data: nothing to answer
        if op == OpCode.VALIDATE:
            return self._validate()
        if op in (OpCode.ACTIVATE_AND_RESET, OpCode.RESET):
            return self._activate() if op == OpCode.ACTIVATE_AND_RESET else [ResetTarget("reset")]
        if op == OpCode.REPORT_RECEIVED_SIZE:
            return [Notify(Response(op, Status.SUCCESS, self.received).encode())]
        if op == OpCode.PACKET_RECEIPT_REQUEST and request.packets is not None:
            self.prn_target = self.prn_count = request.packets
            return []
        return [_respond(op, Status.NOT_SUPPORTED)]

    def _start(self, request: Request) -> list[Effect]:
        if self.config.sdk_packet_routing and not self.config.v1_protocol:
            if request.image_type is None:
                return [_respond(OpCode.START_DFU, Status.OPERATION_FAILED)]
            self.pkt_type, self.mode = OpCode.START_DFU, request.image_type
            return []
        if self.config.v1_protocol:
            if self.state is not State.IDLE:
                return [_respond(OpCode.START_DFU, Status.INVALID_STATE)]
            if request.image_type is None:
                self.expect_v1_size = True
            else:
                self.state = State.WAIT_SIZES  # reads 12 bytes, wants 4: answers NOT_SUPPORTED
            return []
        if request.image_type is None:
            return [_respond(OpCode.START_DFU, Status.OPERATION_FAILED)]
        if self.state is not State.IDLE:
            return [_respond(OpCode.START_DFU, Status.INVALID_STATE)]
        self.image_type = request.image_type
        self.state = State.WAIT_SIZES
        return []

    def _sizes(self, record: bytes) -> list[Effect]:
        self.state = State.IDLE
        try:
            sd, bl, app = parse_size_record(record)
        except ProtocolError:
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        if self.config.v1_protocol:
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        if app and (sd or bl):
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        if (sd | bl | app) & 3 or not (sd or bl or app):
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        if bl > self.config.bootloader_region:
            return [_respond(OpCode.START_DFU, Status.DATA_SIZE)]
        limit = self.config.app_area_size if sd else self.config.bank_size
        if sd + bl + app > limit:
            return [_respond(OpCode.START_DFU, Status.DATA_SIZE)]
        return self._begin_erase((sd, bl, app))

    def _start_packet(self, record: bytes) -> list[Effect]:
        """``dfu_start_pkt_handle``: the checks in the source's order, the state last."""
        try:
            sd, bl, app = parse_size_record(record)
        except ProtocolError:
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        mode, sizes = self.mode, (sd, bl, app)  # the sizes count as given, whatever the mode
        if mode & ImageType.APPLICATION and mode & ImageType.SOFTDEVICE_BOOTLOADER:
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        if (sd | bl | app) & 3:
            return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
        limit = self.config.app_area_size if sizes[0] else self.config.bank_size
        if sizes[1] > self.config.bootloader_region or sum(sizes) > limit:
            return [_respond(OpCode.START_DFU, Status.DATA_SIZE)]
        if self.state is not State.IDLE:
            return [_respond(OpCode.START_DFU, Status.INVALID_STATE)]
        self.image_type = mode
        return self._begin_erase(sizes)

    def _begin_erase(self, sizes: tuple[int, int, int]) -> list[Effect]:
        self.sizes = sizes
        self.state = State.ERASING
        pages = -(-sum(sizes) // 4096)
        config = self.config
        seconds = config.erase_time_per_kib * sum(sizes) / 1024 + config.page_erase_time * pages
        return [BeginErase(seconds)]

    def erase_done(self) -> list[Effect]:
        """The erase finished: the Start response goes out now."""
        self.state = State.READY if not self.config.v1_protocol else State.RX_DATA
        return [_respond(OpCode.START_DFU, Status.SUCCESS)]

    def _initialize(self, request: Request) -> list[Effect]:
        if request.init_phase is None:
            if self.config.v1_protocol:
                self.expect_v1_crc = True
                return []
            return [_respond(OpCode.INITIALIZE_DFU, Status.OPERATION_FAILED)]
        if request.init_phase == INIT_BEGIN:
            if self.state not in (State.READY, State.RX_INIT):
                return [_respond(OpCode.INITIALIZE_DFU, Status.INVALID_STATE)]
            self.state = State.RX_INIT
            return []
        if request.init_phase == INIT_END:
            if self.state is not State.RX_INIT or not self.init:
                return [_respond(OpCode.INITIALIZE_DFU, Status.INVALID_STATE)]
            if not self._prevalidate():
                return [_respond(OpCode.INITIALIZE_DFU, Status.OPERATION_FAILED)]
            self.state = State.RX_DATA
            return [_respond(OpCode.INITIALIZE_DFU, Status.SUCCESS)]
        return [_respond(OpCode.INITIALIZE_DFU, Status.NOT_SUPPORTED)]

    def _prevalidate(self) -> bool:
        init = bytes(self.init)
        if len(init) < 12:
            return False
        device_type, revision, _, count = struct.unpack_from("<HHIH", init)
        extended = 10 + 2 * count
        if len(init) < extended + 2:
            return False
        config = self.config
        if config.uicr_device_type != 0xFFFF and device_type != config.uicr_device_type:
            return False
        if config.uicr_device_revision != 0xFFFF and revision != config.uicr_device_revision:
            return False
        softdevices = struct.unpack_from(f"<{count}H", init, 10)
        return ANY_SOFTDEVICE in softdevices or config.softdevice_fwid in softdevices

    def _validate(self) -> list[Effect]:
        if self.state is not State.RX_DATA or self.received != self.total or not self.total:
            return [_respond(OpCode.VALIDATE, Status.INVALID_STATE)]
        if not self._image_matches():
            return [_respond(OpCode.VALIDATE, Status.CRC_ERROR)]
        self.state = State.WAIT_ACTIVATE
        return [_respond(OpCode.VALIDATE, Status.SUCCESS)]

    def _image_matches(self) -> bool:
        image = bytes(self.bank)
        if self.config.v1_protocol:
            return self.v1_crc is None or self.v1_crc == crc16_ccitt_false(image)
        init = bytes(self.init)
        count = struct.unpack_from("<H", init, 8)[0]
        ext = init[10 + 2 * count :]
        if self.config.init_format is InitFormat.TEMPLATE:
            return int.from_bytes(ext[:2], "little") == crc16_ccitt_false(image)
        ext_id = int.from_bytes(ext[:4], "little") if len(ext) >= 8 else None
        if ext_id == 0:
            return int.from_bytes(ext[4:6], "little") == crc16_ccitt_false(image)
        if ext_id == 1:
            length = int.from_bytes(ext[4:8], "little")
            return length == len(image) and ext[8:40] == hashlib.sha256(image).digest()
        return int.from_bytes(ext[:2], "little") == crc16_ccitt_false(image)

    def _activate(self) -> list[Effect]:
        if self.state is not State.WAIT_ACTIVATE:
            return [ResetTarget("activate in the wrong state")]
        version = None
        if len(self.init) >= 8 and self.image_type & ImageType.APPLICATION:
            version = struct.unpack_from("<I", self.init, 4)[0]
        sd, bl, _ = self.sizes
        return [
            Activate(self.image_type or ImageType.APPLICATION, bytes(self.bank), sd, bl, version)
        ]

    # --- Packet -------------------------------------------------------------------------------

    def packet(self, data: bytes, now: float) -> list[Effect]:
        if self.config.sdk_packet_routing and not self.config.v1_protocol:
            return self._routed_packet(data, now)
        if self.state is State.WAIT_SIZES:
            return self._sizes(data)
        if self.expect_v1_size:
            self.expect_v1_size = False
            if len(data) != 4:
                return [_respond(OpCode.START_DFU, Status.NOT_SUPPORTED)]
            self.image_type = ImageType.APPLICATION
            return self._begin_erase((0, 0, int.from_bytes(data, "little")))
        if self.expect_v1_crc:
            self.expect_v1_crc = False
            self.v1_crc = int.from_bytes(data[:2], "little")
            return [_respond(OpCode.INITIALIZE_DFU, Status.SUCCESS)]
        if self.state is State.RX_INIT:
            return self.packet_init(data)
        if self.state in (State.READY, State.ERASING):
            return [_respond(OpCode.RECEIVE_FIRMWARE, Status.INVALID_STATE)]
        if self.state is not State.RX_DATA:
            return []  # packet type unknown: silently ignored
        return self._data(data, now)

    def _routed_packet(self, data: bytes, now: float) -> list[Effect]:
        """``on_dfu_pkt_write``: by ``m_pkt_type``, whatever the state."""
        if self.pkt_type is OpCode.START_DFU:
            return self._start_packet(data)
        if self.pkt_type is OpCode.INITIALIZE_DFU:
            if self.state not in (State.READY, State.RX_INIT):
                return [_respond(OpCode.INITIALIZE_DFU, Status.INVALID_STATE)]
            self.state = State.RX_INIT
            return self.packet_init(data)
        if self.pkt_type is OpCode.RECEIVE_FIRMWARE:
            if self.state is not State.RX_DATA:
                return [_respond(OpCode.RECEIVE_FIRMWARE, Status.INVALID_STATE)]
            return self._data(data, now)
        return []  # no Start yet (m_pkt_type invalid): nothing to tell the host

    def packet_init(self, data: bytes) -> list[Effect]:
        padded = bytes(data) + bytes(-len(data) % 4)
        if len(self.init) + len(padded) > INIT_BUFFER_SIZE:
            return [_respond(OpCode.INITIALIZE_DFU, Status.OPERATION_FAILED)]
        self.init += padded
        return []

    def _data(self, data: bytes, now: float) -> list[Effect]:
        """A firmware packet that reached the pool at ``now``: on a paced link, the time of the
        connection event that carried it, so the pool drains in the link's time."""
        if len(data) % 4 or not data:
            return [_respond(OpCode.RECEIVE_FIRMWARE, Status.NOT_SUPPORTED)]
        if self.received + len(data) > self.total:
            return [_respond(OpCode.RECEIVE_FIRMWARE, Status.DATA_SIZE)]
        while self.pool and self.pool[0] <= now:
            self.pool.popleft()
        if len(self.pool) >= self.config.pool_size:
            self.pool_overflows += 1
            self.packets_dropped += 1
            return [_respond(OpCode.RECEIVE_FIRMWARE, Status.OPERATION_FAILED)]
        done_at = max(now, self.flash_free_at) + len(data) / self.config.flash_rate
        self.flash_free_at = done_at
        self.pool.append(done_at)
        self.bank += data
        self.received += len(data)
        if self.received == self.total:
            return [Notify(_respond(OpCode.RECEIVE_FIRMWARE, Status.SUCCESS).data, at=done_at)]
        if self.prn_target:
            self.prn_count -= 1
            if self.prn_count == 0:
                self.prn_count = self.prn_target
                return [Notify(PacketReceipt(self.received).encode())]
        return []


def _respond(request: int, status: Status) -> Notify:
    return Notify(Response(request, status).encode())
