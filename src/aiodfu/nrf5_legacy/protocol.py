"""The legacy DFU wire protocol, without I/O: UUIDs, requests, notifications, statuses.

One codec serves the controller, the emulated target and the property tests:
requests are built and parsed here, notifications are built and parsed here,
and nothing here awaits anything.
"""

from __future__ import annotations

import enum
import struct

import attrs

from aiodfu.core.errors import ProtocolError

_BASE = "-1212-efde-1523-785feabcd123"
SERVICE_UUID = "00001530" + _BASE
CONTROL_POINT_UUID = "00001531" + _BASE
PACKET_UUID = "00001532" + _BASE
REVISION_UUID = "00001534" + _BASE

DFU_TARGET_NAME = "DfuTarg"
DEFAULT_PACKET_SIZE = 20
"""Stock SDK 11: ATT MTU 23, so 20-byte Packet writes."""
CONTROL_POINT_MAX = 20
RX_POOL_SIZE = 8
"""The stock bootloader's receive pool (``RX_BUF_QUEUE_SIZE``)."""

REVISION_APPLICATION = 0x0001
REVISION_SDK11 = 0x0008

ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_PREPARED_WRITE_REJECTED = 0x82


class ImageType(enum.IntFlag):
    """The Start DFU mode byte: which images the size record announces."""

    SOFTDEVICE = 0x01
    BOOTLOADER = 0x02
    APPLICATION = 0x04
    SOFTDEVICE_BOOTLOADER = 0x03


class OpCode(enum.IntEnum):
    START_DFU = 0x01
    INITIALIZE_DFU = 0x02
    RECEIVE_FIRMWARE = 0x03
    VALIDATE = 0x04
    ACTIVATE_AND_RESET = 0x05
    RESET = 0x06
    REPORT_RECEIVED_SIZE = 0x07
    PACKET_RECEIPT_REQUEST = 0x08
    RESPONSE = 0x10
    PACKET_RECEIPT = 0x11


class Status(enum.IntEnum):
    SUCCESS = 1
    INVALID_STATE = 2
    NOT_SUPPORTED = 3
    DATA_SIZE = 4
    CRC_ERROR = 5
    OPERATION_FAILED = 6

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    Status.SUCCESS: "success",
    Status.INVALID_STATE: "invalid state: request out of order or an interrupted session",
    Status.NOT_SUPPORTED: "not supported by this bootloader",
    Status.DATA_SIZE: "data size exceeds the limit",
    Status.CRC_ERROR: "CRC error: the received image does not match the init packet",
    Status.OPERATION_FAILED: "operation failed (receive pool overflow, init packet rejected "
    "or flash error)",
}

INIT_BEGIN = 0x00
INIT_END = 0x01


# --- requests -------------------------------------------------------------------------------


def start_dfu(image_type: ImageType) -> bytes:
    return bytes([OpCode.START_DFU, image_type])


def start_dfu_v1() -> bytes:
    """Start in the pre-SDK-7 form: a bare ``01``, followed by a 4-byte application size."""
    return bytes([OpCode.START_DFU])


def size_record(softdevice: int = 0, bootloader: int = 0, application: int = 0) -> bytes:
    return struct.pack("<III", softdevice, bootloader, application)


def init_begin() -> bytes:
    return bytes([OpCode.INITIALIZE_DFU, INIT_BEGIN])


def init_end() -> bytes:
    return bytes([OpCode.INITIALIZE_DFU, INIT_END])


def packet_receipt_request(packets: int) -> bytes:
    if not 0 <= packets <= 0xFFFF:
        raise ValueError("PRN interval must be 0..65535 packets")
    return struct.pack("<BH", OpCode.PACKET_RECEIPT_REQUEST, packets)


def simple(op: OpCode) -> bytes:
    """Requests that are the opcode alone: 03, 04, 05, 06, 07."""
    return bytes([op])


@attrs.frozen
class Request:
    """One Control Point write, as the target reads it.

    ``image_type`` is Start DFU's mode byte (``None``: the pre-SDK-7 bare ``01``);
    ``init_phase`` is Initialize's :data:`INIT_BEGIN` / :data:`INIT_END` (``None``:
    the pre-SDK-7 bare ``02``); ``packets`` is a PRN request's interval. ``op`` may
    be an opcode the protocol does not define (the target answers NOT_SUPPORTED).
    """

    op: int
    image_type: ImageType | None = None
    init_phase: int | None = None
    packets: int | None = None

    def encode(self) -> bytes:
        if self.op == OpCode.START_DFU and self.image_type is not None:
            return start_dfu(self.image_type)
        if self.op == OpCode.INITIALIZE_DFU and self.init_phase is not None:
            return bytes([self.op, self.init_phase])
        if self.op == OpCode.PACKET_RECEIPT_REQUEST and self.packets is not None:
            return packet_receipt_request(self.packets)
        return bytes([self.op])


def parse_request(data: bytes) -> Request:
    """Parse a Control Point write; :class:`ProtocolError` (``status`` = the opcode) when
    its length is wrong for its opcode: Start and Initialize take one or two bytes, a PRN
    request exactly three."""
    if not data:
        raise ProtocolError("empty Control Point write", operation="Control Point")
    op = data[0]
    if op == OpCode.START_DFU and len(data) <= 2:
        return Request(op, image_type=ImageType(data[1] & 0x07) if len(data) == 2 else None)
    if op == OpCode.INITIALIZE_DFU and len(data) <= 2:
        return Request(op, init_phase=data[1] if len(data) == 2 else None)
    if op == OpCode.PACKET_RECEIPT_REQUEST and len(data) == 3:
        return Request(op, packets=struct.unpack_from("<H", data, 1)[0])
    if op in (OpCode.START_DFU, OpCode.INITIALIZE_DFU, OpCode.PACKET_RECEIPT_REQUEST):
        raise ProtocolError(
            f"{len(data)}-byte request {data.hex(' ')}", operation="Control Point", status=op
        )
    return Request(op)


def parse_size_record(data: bytes) -> tuple[int, int, int]:
    """The 12-byte size record (SoftDevice, bootloader, application); ProtocolError if not."""
    if len(data) != 12:
        raise ProtocolError(f"a {len(data)}-byte size record", operation="Start DFU")
    softdevice, bootloader, application = struct.unpack("<III", data)
    return softdevice, bootloader, application


# --- notifications --------------------------------------------------------------------------


@attrs.frozen
class Response:
    """``10 <request> <status> [u32]``: the answer to a request."""

    request: int
    status: int
    value: int | None = None

    def encode(self) -> bytes:
        out = bytes([OpCode.RESPONSE, self.request, self.status])
        if self.value is not None:
            out += struct.pack("<I", self.value)
        return out


@attrs.frozen
class PacketReceipt:
    """``11 <u32>``: cumulative firmware bytes the target accepted."""

    received: int

    def encode(self) -> bytes:
        return struct.pack("<BI", OpCode.PACKET_RECEIPT, self.received)


Notification = Response | PacketReceipt


def parse_notification(data: bytes) -> Notification:
    """Parse one Control Point notification; raise :class:`ProtocolError` if malformed."""
    if len(data) == 5 and data[0] == OpCode.PACKET_RECEIPT:
        return PacketReceipt(struct.unpack_from("<I", data, 1)[0])
    if data[:1] == bytes([OpCode.RESPONSE]):
        if len(data) == 3:
            return Response(data[1], data[2])
        if len(data) == 7 and data[1] == OpCode.REPORT_RECEIVED_SIZE:
            return Response(data[1], data[2], struct.unpack_from("<I", data, 3)[0])
    raise ProtocolError(
        f"unexpected Control Point notification {data.hex(' ')}", operation="notification"
    )


def describe_status(status: int) -> str:
    try:
        return Status(status).meaning
    except ValueError:
        return f"unknown status {status}"


def next_bootloader_address(address: str) -> str:
    """The address a bootloader entered without peer data uses: last octet + 1, no carry."""
    octets = address.split(":")
    if len(octets) != 6:
        raise ValueError(f"not a Bluetooth address: {address!r}")
    octets[-1] = f"{(int(octets[-1], 16) + 1) % 256:02X}"
    return ":".join(o.upper() for o in octets)
