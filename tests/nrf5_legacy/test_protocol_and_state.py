"""The sans-IO codec and the emulated bootloader's state machine, without a radio."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.errors import ProtocolError
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.init_packet import InitPacket
from aiodfu.nrf5_legacy.protocol import ImageType, OpCode, PacketReceipt, Response, Status
from aiodfu.testing.nrf5_legacy.state import (
    BootloaderConfig,
    BootloaderMachine,
    Notify,
    State,
)


def test_request_bytes() -> None:
    assert protocol.start_dfu(ImageType.SOFTDEVICE_BOOTLOADER) == b"\x01\x03"
    assert protocol.size_record(1, 2, 3) == bytes.fromhex("010000000200000003000000")
    assert protocol.packet_receipt_request(10) == b"\x08\x0a\x00"
    assert protocol.init_begin() + protocol.init_end() == b"\x02\x00\x02\x01"


def test_requests_the_host_builds_parse_back_as_the_target_reads_them() -> None:
    parse = protocol.parse_request
    for image_type in ImageType:
        request = parse(protocol.start_dfu(image_type))
        assert request == protocol.Request(OpCode.START_DFU, image_type=image_type)
        assert request.encode() == protocol.start_dfu(image_type)
    assert parse(protocol.start_dfu_v1()) == protocol.Request(OpCode.START_DFU)
    assert parse(protocol.init_begin()).init_phase == protocol.INIT_BEGIN
    assert parse(protocol.init_end()).init_phase == protocol.INIT_END
    assert parse(bytes([OpCode.INITIALIZE_DFU])) == protocol.Request(OpCode.INITIALIZE_DFU)
    assert parse(protocol.packet_receipt_request(513)).packets == 513
    for op in (OpCode.RECEIVE_FIRMWARE, OpCode.VALIDATE, OpCode.REPORT_RECEIVED_SIZE):
        assert parse(protocol.simple(op)) == protocol.Request(op)
    assert parse(b"\x42") == protocol.Request(0x42)  # unknown: the target answers 3
    assert protocol.parse_size_record(protocol.size_record(4, 8, 12)) == (4, 8, 12)


@pytest.mark.parametrize("data", [b"", b"\x01\x04\x00", b"\x02\x00\x00", b"\x08\x01"])
def test_malformed_requests_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_request(data)
    assert info.value.status == (data[0] if data else None)


@given(st.binary(min_size=1, max_size=4))
def test_request_parser_is_total(data: bytes) -> None:
    try:
        request = protocol.parse_request(data)
    except ProtocolError:
        return
    if len(data) == 1 or data[0] in (OpCode.INITIALIZE_DFU, OpCode.PACKET_RECEIPT_REQUEST):
        assert request.encode() == data


@given(st.binary(max_size=9))
def test_notification_parser_is_total(data: bytes) -> None:
    try:
        parsed = protocol.parse_notification(data)
    except ProtocolError:
        return
    assert parsed.encode() == data


@given(st.integers(0, 0xFFFFFFFF))
def test_notifications_round_trip(count: int) -> None:
    assert protocol.parse_notification(PacketReceipt(count).encode()) == PacketReceipt(count)
    report = Response(OpCode.REPORT_RECEIVED_SIZE, Status.SUCCESS, count)
    assert protocol.parse_notification(report.encode()) == report


def test_bootloader_address_is_last_octet_plus_one_without_carry() -> None:
    assert protocol.next_bootloader_address("c0:ff:ee:00:00:ff") == "C0:FF:EE:00:00:00"
    assert protocol.next_bootloader_address("C0:FF:EE:00:00:01") == "C0:FF:EE:00:00:02"


def _ready(firmware: bytes, config: BootloaderConfig | None = None) -> BootloaderMachine:
    machine = BootloaderMachine(config or BootloaderConfig(flash_rate=1e12))
    assert machine.control_point(b"\x01\x04", 0) == []
    erase = machine.packet(protocol.size_record(application=len(firmware)), 0)
    assert len(erase) == 1
    assert machine.erase_done() == [Notify(b"\x10\x01\x01")]
    machine.control_point(b"\x02\x00", 0)
    machine.packet(InitPacket.for_firmware(firmware).encode(), 0)
    assert machine.control_point(b"\x02\x01", 0) == [Notify(b"\x10\x02\x01")]
    return machine


def test_quirks_of_the_reference() -> None:
    machine = BootloaderMachine(BootloaderConfig())
    assert machine.control_point(b"\x01", 0) == [Notify(b"\x10\x01\x06")]
    assert machine.control_point(b"\x02", 0) == [Notify(b"\x10\x02\x06")]
    assert machine.control_point(b"\x08\x01", 0) == [Notify(b"\x10\x08\x03")]
    assert machine.control_point(b"\x42", 0) == [Notify(b"\x10\x42\x03")]
    assert machine.control_point(b"\x04", 0) == [Notify(b"\x10\x04\x02")]
    assert machine.packet(b"\x00" * 20, 0) == []  # before any Start: silently ignored
    machine.control_point(b"\x01\x04", 0)
    assert machine.packet(protocol.size_record(application=6), 0) == [Notify(b"\x10\x01\x03")]
    machine.control_point(b"\x01\x05", 0)
    assert machine.packet(protocol.size_record(1024, 0, 4), 0) == [Notify(b"\x10\x01\x03")]


def test_init_writes_are_zero_padded_and_bounded() -> None:
    firmware = bytes(range(40))
    machine = _ready(firmware)
    assert len(machine.init) == 16  # 14 bytes padded to 16
    fresh = BootloaderMachine(BootloaderConfig())
    fresh.control_point(b"\x01\x04", 0)
    fresh.packet(protocol.size_record(application=40), 0)
    fresh.erase_done()
    fresh.control_point(b"\x02\x00", 0)
    for _ in range(6):
        fresh.packet(b"\xff" * 20, 0)  # 6 x 20 = 120 bytes: fits
    assert fresh.packet(b"\xff" * 20, 0) == [Notify(b"\x10\x02\x06")]


@given(st.integers(1, 30), st.integers(1, 8))
def test_prn_counts_bytes_and_never_follows_the_final_packet(packets: int, prn: int) -> None:
    firmware = bytes(20 * packets)
    machine = _ready(firmware)
    machine.control_point(struct.pack("<BH", 8, prn), 0)
    receipts = []
    final = []
    for number in range(packets):
        for effect in machine.packet(firmware[number * 20 : number * 20 + 20], float(number)):
            assert isinstance(effect, Notify)
            (final if effect.data[0] == 0x10 else receipts).append(effect.data)
    expected = [
        PacketReceipt(n * 20 * prn).encode() for n in range(1, packets) if n * prn < packets
    ]
    assert receipts == expected
    assert final == [b"\x10\x03\x01"]
    assert machine.control_point(b"\x04", 0) == [Notify(b"\x10\x04\x01")]
    assert machine.state is State.WAIT_ACTIVATE


def test_pool_overflow_drops_the_packet_and_answers_6() -> None:
    firmware = bytes(20 * 20)
    machine = _ready(firmware, BootloaderConfig(flash_rate=20.0))  # 1 s per packet
    effects = [machine.packet(firmware[i * 20 : i * 20 + 20], 0.0) for i in range(9)]
    assert all(e == [] for e in effects[:8])
    assert effects[8] == [Notify(b"\x10\x03\x06")]
    assert machine.received == 160 and machine.pool_overflows == 1
    # one flash write later a buffer is free again
    assert machine.packet(firmware[160:180], 1.0) == []


def test_more_data_than_announced_and_misaligned_packets() -> None:
    machine = _ready(bytes(40))
    assert machine.packet(bytes(18), 0) == [Notify(b"\x10\x03\x03")]
    machine.packet(bytes(20), 0)
    assert machine.packet(bytes(24), 0) == [Notify(b"\x10\x03\x04")]


def test_start_while_not_idle_is_invalid_state() -> None:
    machine = _ready(bytes(40))
    assert machine.control_point(b"\x01\x04", 0) == [Notify(b"\x10\x01\x02")]
    assert machine.control_point(b"\x07", 0) == [Notify(b"\x10\x07\x01\x00\x00\x00\x00")]


@pytest.mark.parametrize("size", [0x3C000 + 4])
def test_application_larger_than_a_bank(size: int) -> None:
    machine = BootloaderMachine(BootloaderConfig())
    machine.control_point(b"\x01\x04", 0)
    assert machine.packet(protocol.size_record(application=size), 0) == [Notify(b"\x10\x01\x04")]
