"""The codecs against the protocol reference's hex examples, round trips and hostile input."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol import cbor, postcard
from aiodfu.drogue.protocol.messages import Status, Swap, Sync, UpdateStatus, Wait, Write
from aiodfu.drogue.serial import TAG_SIZE, echoes, frame, new_tag

V0, V1 = b"0.1.0", b"0.1.1"
FIRST = Status(V0, 512)
UPDATING = Status(V0, 512, None, UpdateStatus(V1, 1024))
WAIT = Wait(None, 300)
SYNC = Sync(V0)
WRITE = Write(V1, None, 512, b"\xde\xad")
SWAP = Swap(V1, None, b"\xaa" * 4)

NAMED_STATUS = (
    "a46776657273696f6e45302e312e30636d74751902006e636f7272656c6174696f6e5f6964f666757064617465"
)
# (message, named CBOR, packed CBOR, postcard) -- reference sections 2.1 and 3.3
EXAMPLES = [
    (FIRST, NAMED_STATUS + "f6", "a40045302e312e300119020002f603f6", "05302e312e300180040000"),
    (
        UPDATING,
        NAMED_STATUS + "a26776657273696f6e45302e312e31666f6666736574190400",
        "a40045302e312e300119020002f603a20045302e312e3101190400",
        "05302e312e30018004000105302e312e318008",
    ),
    (
        WAIT,
        "a16457616974a26e636f7272656c6174696f6e5f6964f664706f6c6c19012c",
        "a100a200f60119012c",
        "000001ac02",
    ),
    (
        SYNC,
        "a16453796e63a36776657273696f6e45302e312e306e636f7272656c6174696f6e5f6964f664706f6c6cf6",
        "a101a30045302e312e3001f602f6",
        "0105302e312e300000",
    ),
    (
        WRITE,
        "a1655772697465a46776657273696f6e45302e312e316e636f7272656c6174696f6e5f6964f6"
        "666f6666736574190200646461746142dead",
        "a102a40045302e312e3101f6021902000342dead",
        "0205302e312e3100800402dead",
    ),
    (
        SWAP,
        "a16453776170a36776657273696f6e45302e312e316e636f7272656c6174696f6e5f6964f6"
        "68636865636b73756d44aaaaaaaa",
        "a103a30045302e312e3101f60244aaaaaaaa",
        "0305302e312e310004aaaaaaaa",
    ),
]
IDS = ["status", "status-update", "wait", "sync", "write", "swap"]


def decoders(message: object) -> tuple:  # type: ignore[type-arg]
    if isinstance(message, Status):
        return cbor.decode_status, postcard.decode_status
    return cbor.decode_command, postcard.decode_command


@pytest.mark.parametrize(("message", "named", "packed", "post"), EXAMPLES, ids=IDS)
def test_reference_hex_examples(message, named, packed, post) -> None:  # type: ignore[no-untyped-def]
    assert cbor.encode(message, packed=False).hex() == named
    assert cbor.encode(message).hex() == packed
    assert postcard.encode(message).hex() == post
    decode_cbor, decode_postcard = decoders(message)
    assert decode_cbor(bytes.fromhex(named)) == message
    assert decode_cbor(bytes.fromhex(packed)) == message
    assert decode_postcard(bytes.fromhex(post) + b"\x5a" * 40) == message  # stale tail ignored


versions = st.binary(max_size=16)
u32 = st.integers(0, 0xFFFF_FFFF)
opt_u32 = st.none() | u32
updates = st.builds(UpdateStatus, versions, u32)
statuses = st.builds(Status, versions, opt_u32, opt_u32, st.none() | updates)
commands = st.one_of(
    st.builds(Wait, opt_u32, opt_u32),
    st.builds(Sync, versions, opt_u32, opt_u32),
    st.builds(Write, versions, opt_u32, u32, st.binary(max_size=968)),
    st.builds(Swap, versions, opt_u32, st.binary(max_size=32)),
)


@given(message=statuses | commands, packed=st.booleans())
def test_round_trips(message, packed: bool) -> None:  # type: ignore[no-untyped-def]
    decode_cbor, decode_postcard = decoders(message)
    assert decode_cbor(cbor.encode(message, packed=packed)) == message
    assert decode_postcard(postcard.encode(message)) == message


@given(data=st.binary(max_size=64))
def test_arbitrary_postcard_decodes_consistently_or_fails_typed(data: bytes) -> None:
    for decode in (postcard.decode_status, postcard.decode_command):
        try:
            message = decode(data)
        except MalformedMessageError:
            continue
        encoded = postcard.encode(message)  # canonical: never longer than what was read
        assert len(encoded) <= len(data) and decode(encoded) == message


@given(data=st.binary(max_size=64), status=st.booleans())
def test_arbitrary_cbor_decodes_or_fails_typed(data: bytes, status: bool) -> None:
    decode = cbor.decode_status if status else cbor.decode_command
    try:
        message = decode(data)
    except MalformedMessageError:
        return
    assert decode(cbor.encode(message)) == message


@given(value=u32)
def test_varint_round_trip(value: int) -> None:
    encoded = postcard.encode_varint(value)
    assert len(encoded) == max(1, (value.bit_length() + 6) // 7)
    assert postcard.Reader(encoded).varint() == value


@given(value=st.integers(-(1 << 31), (1 << 31) - 1))
def test_zigzag_round_trip(value: int) -> None:
    mapped = postcard.zigzag_encode(value)
    assert mapped == (2 * value if value >= 0 else -2 * value - 1)
    assert postcard.Reader(postcard.encode_varint(mapped)).signed() == value


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ("8080808010", "does not fit a u32"),
        ("808080808001", "longer than 5 bytes"),
        ("05302e31", "ends early"),
        ("05302e312e3002", "option tag"),
    ],
)
def test_postcard_rejects(data: str, what: str) -> None:
    with pytest.raises(MalformedMessageError, match=what):
        postcard.decode_status(bytes.fromhex(data))


def test_postcard_rejects_unknown_variant() -> None:
    with pytest.raises(MalformedMessageError, match="variant 4"):
        postcard.decode_command(b"\x04")


def test_cbor_ignores_unknown_keys_and_takes_missing_optionals_as_none() -> None:
    body = cbor2.dumps({"version": V0, "extra": [1, 2], 7: "x"})
    assert cbor.decode_status(body) == Status(V0)
    mixed = cbor2.dumps({"Write": {0: V1, "offset": 8, 3: b"\x01"}})
    assert cbor.decode_command(mixed) == Write(V1, None, 8, b"\x01")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({0: "0.1.0"}, "byte string"),  # a text string where bytes belong
        ({0: [48, 46]}, "byte string"),
        ({0: V0, 1: -1}, "u32"),
        ({0: V0, 1: 1 << 32}, "u32"),
        ({0: V0, 1: True}, "u32"),
        ({1: 512}, "lacks its version"),
        ([V0], "must be a map"),
    ],
)
def test_cbor_rejects_what_the_device_rejects(body: object, what: str) -> None:
    with pytest.raises(MalformedMessageError, match=what):
        cbor.decode_status(cbor2.dumps(body))


def test_cbor_rejects_indefinite_byte_strings_and_trailing_data() -> None:
    # {0: (_ h'302e', h'312e30')}: the same bytes, chunked
    chunked = bytes.fromhex("a1005f42302e43312e30ff")
    assert cbor2.loads(chunked) == {0: V0}  # cbor2 alone would accept it
    with pytest.raises(MalformedMessageError, match="indefinite"):
        cbor.decode_status(chunked)
    with pytest.raises(MalformedMessageError, match="trailing"):
        cbor.decode_status(cbor.encode(FIRST) + b"\x00")


@pytest.mark.parametrize(
    "body", [{"Reboot": {}}, {9: {}}, {"Sync": {0: V0}, "Wait": {}}, "Sync"], ids=str
)
def test_cbor_rejects_unknown_or_ambiguous_variants(body: object) -> None:
    with pytest.raises(MalformedMessageError):
        cbor.decode_command(cbor2.dumps(body))


def test_a_frame_read_from_its_middle_decodes_as_nothing_but_wait() -> None:
    """A device that reads a command frame from the middle (partial reads, desync) must not
    find a Write or Swap in its padding or its acknowledgement tag."""
    for _ in range(50):
        tag = new_tag()
        data = frame(Sync(b"0.2.0"), tag)
        assert echoes(data, tag) and len(tag) == TAG_SIZE
        for start in range(20, len(data)):
            try:
                command = postcard.decode_command(data[start:] + bytes(16))
            except MalformedMessageError:
                continue
            assert isinstance(command, Wait), (start, command)
