"""SLIP and the HCI three-wire packet, against adafruit-nrfutil's own encoder and the
bootloader's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core.integrity import crc16_ccitt_false
from aiodfu.nrf5_legacy import hci
from aiodfu.nrf5_legacy.slip import SlipDecoder, slip_encode

nrfutil_serial = pytest.importorskip("nordicsemi.dfu.dfu_transport_serial")
nrfutil_crc16 = pytest.importorskip("nordicsemi.dfu.crc16")


@given(st.binary(max_size=300))
def test_slip_round_trip_in_any_chunking(payload: bytes) -> None:
    framed = slip_encode(payload)
    assert framed[0] == framed[-1] == 0xC0 and 0xC0 not in framed[1:-1]
    decoder = SlipDecoder()
    frames = [frame for byte in framed for frame in decoder.feed(bytes([byte]))]
    assert frames == ([payload] if payload else [])


def test_slip_decoder_reads_as_the_bootloader_does() -> None:
    decoder = SlipDecoder(max_frame=4)
    assert decoder.feed(b"\x01\x02\xc0") == []  # nothing counts before the first C0
    assert decoder.feed(b"\xc0\xc0") == []  # empty frames are no frames
    assert decoder.feed(b"\xdb\x41\xc0") == [b"\x41"]  # a bad escape keeps the byte
    assert decoder.feed(b"\x01\xdb\xc0") == [b"\x01"]  # DB C0 ends the frame
    assert decoder.feed(b"\x01\x02\x03\x04\x05\x06\xc0") == [b"\x01\x02\x03\x04"]
    assert decoder.overflowed == 2


@given(st.binary(max_size=600))
def test_crc_is_nrfutils(data: bytes) -> None:
    assert crc16_ccitt_false(data) == nrfutil_crc16.calc_crc16(data, crc=0xFFFF)


@pytest.mark.parametrize("payload_size", [4, 16, 20, 516])
def test_reliable_packets_are_byte_identical_to_adafruit_nrfutils(payload_size: int) -> None:
    payload = bytes(range(256)) * 3
    payload = bytes([4, 0, 0, 0]) + payload[: payload_size - 4]
    nrfutil_serial.HciPacket.sequence_number = 0
    theirs = bytes(nrfutil_serial.HciPacket([chr(b) for b in payload]).data)  # seq 1
    assert slip_encode(hci.encode_reliable(1, payload)) == theirs


def test_the_bootloader_filter() -> None:
    good = hci.encode_reliable(3, hci.start_payload(4, 0, 0, 1024))
    assert hci.parse_reliable(good) == hci.Reliable(3, hci.start_payload(4, 0, 0, 1024))
    for bad in (
        good[:4],  # header only
        bytes([good[0] & ~0x40]) + good[1:],  # no data integrity bit
        bytes([good[0] & ~0x80]) + good[1:],  # not reliable
        good[:1] + bytes([good[1] & 0xF0 | 0x0D]) + good[2:],  # not type 14
        good[:3] + bytes([good[3] ^ 1]) + good[4:],  # header checksum
        good[:-1] + bytes([good[-1] ^ 1]),  # CRC
    ):
        assert hci.parse_reliable(bad) is None


def test_acks() -> None:
    for expected in range(8):
        ack = hci.encode_ack(expected)
        assert len(ack) == 4 and sum(ack) & 0xFF == 0
        assert hci.parse_ack(ack) == expected
    assert hci.parse_ack(hci.encode_reliable(1, b"\0" * 4)) is None


@pytest.mark.parametrize(
    ("base", "in_flight", "ack", "confirmed"),
    [
        (1, 1, 2, 1),
        (1, 1, 1, 0),  # a late duplicate, or the bootloader still waits for 1
        (7, 2, 1, 2),  # across the wrap
        (3, 2, 4, 1),
        (3, 2, 1, None),  # it rebooted: expects 1
        (3, 1, 6, None),
    ],
)
def test_what_an_ack_confirms(base: int, in_flight: int, ack: int, confirmed: int | None) -> None:
    assert hci.acked_count(base, in_flight, ack) == confirmed


def test_dfu_payloads_are_read_in_whole_words() -> None:
    init = bytes(range(14))
    packet = hci.DfuPacket.from_payload(hci.init_payload(init))
    assert packet.packet_type == hci.DfuPacketType.INIT
    assert packet.words == init + b"\0\0"
    assert hci.DfuPacket.from_payload(b"\x04\0\0\0\x01\x02\x03").words == b""
    with pytest.raises(ValueError, match="words"):
        hci.data_payload(b"\x01\x02")
