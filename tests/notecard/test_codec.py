"""The sans-IO pieces: CRC field, segments, line framing, error tags, COBS."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from notecard.notecard import Notecard as NotePythonCard

from aiodfu.notecard import cobs
from aiodfu.notecard.protocol import (
    CRC_FIELD_LENGTH,
    ErrorKind,
    LineFramer,
    LineTooLongError,
    classify_error,
    encode_json,
    segments,
    split_crc,
    stamp_crc,
)
from notecard import cobs as note_python_cobs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
messages = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


def test_stamp_matches_the_reference_host_log() -> None:
    assert stamp_crc(b'{"req":"card.dfu","name":"-","off":true}', 4) == (
        b'{"req":"card.dfu","name":"-","off":true,"crc":"0004:DFFBEA8F"}'
    )
    assert stamp_crc(b'{"req":"dfu.status"}', 5) == b'{"req":"dfu.status","crc":"0005:AF188B2B"}'


def test_stamp_adds_exactly_the_field_length() -> None:
    text = b'{"req":"dfu.get","length":0}'
    assert len(stamp_crc(text, 0)) - len(text) == CRC_FIELD_LENGTH


@given(messages, st.integers(0, 0xFFFF))
def test_stamp_equals_note_pythons_lower_case_field(
    message: dict[str, object], sequence: int
) -> None:
    text = json.dumps(message, separators=(",", ":"))
    theirs = NotePythonCard()._crc_add(text, sequence).encode()
    assert stamp_crc(text.encode(), sequence, upper=False) == theirs


@given(messages, st.integers(0, 0xFFFF), st.booleans())
def test_split_undoes_stamp_in_either_case(
    message: dict[str, object], sequence: int, upper: bool
) -> None:
    text = encode_json(message)
    bare, field = split_crc(stamp_crc(text, sequence, upper=upper) + b"\r\n")
    assert bare == text
    assert field is not None and field.valid and field.sequence == sequence


@given(messages, st.integers(0, 0xFFFF), st.data())
def test_a_flipped_byte_never_passes_the_check(
    message: dict[str, object], sequence: int, data: st.DataObject
) -> None:
    stamped = bytearray(stamp_crc(encode_json(message), sequence))
    index = data.draw(st.integers(0, len(stamped) - 1))
    mask = data.draw(st.integers(1, 255))
    # The reference compares the field's hex digits case-insensitively (note-c writes upper
    # case, note-python lower case), so a case change of a hex letter there is no corruption.
    field_start = bytes(stamped).rindex(b'"crc":"') + len(b'"crc":"')
    assume(not (field_start <= index and mask == 0x20 and chr(stamped[index]) in "ABCDEFabcdef"))
    stamped[index] ^= mask
    _bare, field = split_crc(bytes(stamped))
    assert field is None or not field.valid or field.sequence != sequence


def test_text_without_a_field_is_returned_unchanged() -> None:
    assert split_crc(b'{"mode":"idle"}\r\n') == (b'{"mode":"idle"}', None)


@given(st.binary(max_size=2000), st.integers(1, 300))
def test_segments_cover_the_data_in_bounded_pieces(data: bytes, size: int) -> None:
    pieces = list(segments(data, size))
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= size for piece in pieces)


@given(
    st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")), max_size=8),
    st.lists(st.integers(1, 50), max_size=20),
)
def test_framer_yields_lines_however_the_bytes_are_split(
    lines: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    framer = LineFramer(limit=100)
    got = []
    position = 0
    for cut in [*cuts, len(stream)]:
        framer.feed(stream[position : position + cut])
        position += cut
        while (line := framer.next_line()) is not None:
            got.append(line)
    framer.feed(stream[position:])
    while (line := framer.next_line()) is not None:
        got.append(line)
    assert got == lines


def test_framer_bounds_a_line_without_newline() -> None:
    framer = LineFramer(limit=10)
    framer.feed(b"x" * 11)
    with pytest.raises(LineTooLongError):
        framer.next_line()
    framer.feed(b"ok\n")
    assert framer.next_line() == b"ok"


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        ("CRC error in request {io}", ErrorKind.IO),
        ("unknown request: x {io}{not-supported}", ErrorKind.NOT_SUPPORTED),
        ("binary store is corrupted {bad-bin}", ErrorKind.BAD_BIN),
        ("{heartbeat}", ErrorKind.HEARTBEAT),
        (
            "DFU mode is not yet fully active: connected (session open) {connected}",
            ErrorKind.APPLICATION,
        ),
    ],
)
def test_error_tags_decide_the_retry(err: str, kind: ErrorKind) -> None:
    assert classify_error(err) is kind


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"\x00", b"\x0b\x0b"),
        (b"\x01\x02", b"\x09\x0b\x08"),
        (b"\x0a", b"\x08\x00"),
        (b"hello", b"\x0c\x62\x6f\x66\x66\x65"),
    ],
)
def test_cobs_examples_from_the_reference(data: bytes, encoded: bytes) -> None:
    assert cobs.encode(data) == encoded
    assert cobs.decode(encoded) == data


def test_cobs_run_of_254_gets_a_trailing_code_byte() -> None:
    encoded = cobs.encode(b"\x01" * 254)
    assert len(encoded) == 256
    assert cobs.decode(encoded) == b"\x01" * 254
    assert cobs.decode(encoded[:-1]) == b"\x01" * 254  # an encoder without it decodes too
    assert len(cobs.encode(bytes(range(1, 256)) * 33)[:8225]) <= cobs.max_encoded_length(8192)


@given(st.binary(max_size=3000))
def test_cobs_round_trip_without_newlines_and_as_note_python(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert b"\n" not in encoded
    assert len(encoded) <= cobs.max_encoded_length(len(data))
    assert cobs.decode(encoded) == data
    assert encoded == bytes(note_python_cobs.cobs_encode(bytearray(data), 0x0A))


@given(st.binary(max_size=300))
def test_cobs_decoder_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(cobs.CobsDecodeError):
        cobs.decode(data)
