"""The serial DFU link layer (nRF5 SDK ``hci_transport.c``) and the DFU packets it carries.

Every SLIP frame holds one packet with a 4-byte header::

    byte 0   seq (bits 0-2) | ack (bits 3-5) | data integrity (bit 6) | reliable (bit 7)
    byte 1   packet type (bits 0-3: 14 vendor specific, 0 ack) | payload length bits 0-3
    byte 2   payload length bits 4-11
    byte 3   header checksum: the four header bytes sum to 0 modulo 256

A reliable packet (the host's) is followed by its payload and, with the data
integrity bit, a CRC-16/CCITT-FALSE over header and payload, little endian.
An ack (the bootloader's) is the header alone: unreliable, type 0, length 0,
and its ack field is the sequence number the bootloader expects next.

The bootloader starts expecting sequence number 1. A valid packet with the
expected number is acknowledged (expected + 1) *on receipt, before it is
processed*; a valid packet with any other number is dropped and acknowledged
with the number still expected; a packet that fails any check (length, both
flag bits, type 14, header checksum, CRC -- the length field is not checked)
is dropped without an ack. So the host must retransmit the same sequence
number until an ack moves past it, and an ack that names an unexpected
number means the bootloader's link state is not the host's (it rebooted).

The payload's first 4 bytes are the DFU packet type, little endian (the
bootloader reads only the first byte): 1 init packet, 3 start, 4 data, 5 stop
data; 0 is "invalid" and is acknowledged and then discarded, which makes it a
harmless probe. The payload after the type is read in whole 32-bit words.
"""

from __future__ import annotations

import enum
import struct

import attrs

from aiodfu.core.integrity import crc16_ccitt_false

HEADER_SIZE = 4
CRC_SIZE = 2
SEQUENCE_MODULO = 8
FIRST_SEQUENCE = 1
"""The sequence number a freshly started bootloader expects."""
TYPE_ACK = 0
TYPE_VENDOR_SPECIFIC = 14
MAX_PAYLOAD = 0xFFF
"""The 12-bit length field."""
RX_BUFFER_SIZE = 600
"""The bootloader's receive buffer (``HCI_RX_BUF_SIZE``): header + payload + CRC must fit."""
DATA_PACKET_SIZE = 512
"""Firmware bytes per data packet (adafruit-nrfutil's ``DFU_PACKET_MAX_SIZE``)."""

_INTEGRITY = 0x40
_RELIABLE = 0x80


class DfuPacketType(enum.IntEnum):
    """The first word of a reliable packet's payload."""

    INVALID = 0
    INIT = 1
    START = 3
    DATA = 4
    STOP_DATA = 5


def _checksum(three: bytes) -> int:
    return (-sum(three)) & 0xFF


def _header(byte0: int, packet_type: int, length: int) -> bytes:
    three = bytes([byte0, packet_type | (length & 0x0F) << 4, (length >> 4) & 0xFF])
    return three + bytes([_checksum(three)])


def encode_reliable(seq: int, payload: bytes) -> bytes:
    """A reliable packet with data integrity (what the host sends), not yet SLIP-framed.

    The ack field carries ``seq + 1``, as adafruit-nrfutil writes it (the
    bootloader never reads it: it sends nothing reliable back).
    """
    if not 0 <= seq < SEQUENCE_MODULO:
        raise ValueError(f"sequence number {seq} is not 0..7")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the 12-bit length field")
    ack = (seq + 1) % SEQUENCE_MODULO
    packet = _header(seq | ack << 3 | _INTEGRITY | _RELIABLE, TYPE_VENDOR_SPECIFIC, len(payload))
    packet += payload
    return packet + struct.pack("<H", crc16_ccitt_false(packet))


def encode_ack(expected: int) -> bytes:
    """The bootloader's acknowledgement: ``expected`` is the sequence number it wants next."""
    return _header((expected % SEQUENCE_MODULO) << 3, TYPE_ACK, 0)


@attrs.frozen
class Reliable:
    """A reliable packet the bootloader accepts as well formed."""

    seq: int
    payload: bytes


def parse_reliable(frame: bytes) -> Reliable | None:
    """``frame`` as the bootloader's packet filter sees it; ``None`` if it drops it silently."""
    if len(frame) <= HEADER_SIZE or not frame[0] & _INTEGRITY or not frame[0] & _RELIABLE:
        return None
    if frame[1] & 0x0F != TYPE_VENDOR_SPECIFIC or sum(frame[:HEADER_SIZE]) & 0xFF:
        return None
    if len(frame) < HEADER_SIZE + CRC_SIZE:
        return None
    body, crc = frame[:-CRC_SIZE], frame[-CRC_SIZE:]
    if crc16_ccitt_false(body) != int.from_bytes(crc, "little"):
        return None
    return Reliable(frame[0] & 0x07, body[HEADER_SIZE:])


def parse_ack(frame: bytes) -> int | None:
    """The ack number of an acknowledgement frame; ``None`` for anything else."""
    if len(frame) < HEADER_SIZE or frame[1] & 0x0F != TYPE_ACK:
        return None
    if sum(frame[:HEADER_SIZE]) & 0xFF:
        return None
    return (frame[0] >> 3) & 0x07


def next_sequence(seq: int, steps: int = 1) -> int:
    return (seq + steps) % SEQUENCE_MODULO


def acked_count(base: int, in_flight: int, ack: int) -> int | None:
    """How many of the ``in_flight`` packets from sequence ``base`` an ack of ``ack`` confirms.

    0 means the ack names ``base`` itself: a late duplicate, or the bootloader
    dropped a packet and still waits for ``base`` -- either way, nothing new.
    ``None`` means the ack names a number that no packet in flight can
    explain: the bootloader's link state is not ours (it rebooted).
    """
    distance = (ack - base) % SEQUENCE_MODULO
    if distance <= in_flight:
        return distance
    return None


# --- the DFU packets inside -----------------------------------------------------------------


def _typed(packet_type: DfuPacketType, body: bytes = b"") -> bytes:
    return struct.pack("<I", packet_type) + body


def start_payload(mode: int, softdevice: int, bootloader: int, application: int) -> bytes:
    """Start: the image-type bitmask, then the three image sizes."""
    return _typed(
        DfuPacketType.START, struct.pack("<IIII", mode, softdevice, bootloader, application)
    )


def init_payload(init_packet: bytes) -> bytes:
    """The whole ``.dat`` in one packet, zero-padded to whole words (the bootloader reads words)."""
    return _typed(DfuPacketType.INIT, init_packet + bytes(-len(init_packet) % 4))


def data_payload(firmware: bytes) -> bytes:
    if len(firmware) % 4:
        raise ValueError("firmware data must be whole 32-bit words")
    return _typed(DfuPacketType.DATA, firmware)


def stop_payload() -> bytes:
    return _typed(DfuPacketType.STOP_DATA)


PROBE_PAYLOAD = _typed(DfuPacketType.INVALID)
"""Acknowledged by a running bootloader, then discarded: learns its sequence state safely."""


@attrs.frozen
class DfuPacket:
    """A DFU packet as the bootloader reads it: the type byte and the whole words after it."""

    packet_type: int
    words: bytes

    @classmethod
    def from_payload(cls, payload: bytes) -> DfuPacket:
        count = max(len(payload) // 4 - 1, 0)
        return cls(payload[0] if payload else DfuPacketType.INVALID, payload[4 : 4 + 4 * count])
