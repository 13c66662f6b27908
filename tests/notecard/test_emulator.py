"""The emulated card on the raw wire, per the reference's emulator checklist."""

from __future__ import annotations

import asyncio
import base64
import json
import zlib

from hypothesis import given
from hypothesis import strategies as st

from aiodfu.core import integrity
from aiodfu.notecard import cobs
from aiodfu.notecard.protocol import split_crc, stamp_crc
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults, StatusStyle, Storage
from aiodfu.testing.notecard.state import BinaryReply
from aiodfu.transports.base import ByteStream

from .conftest import IMAGE


async def read_until(stream: ByteStream, count: int) -> bytes:
    """``count`` newline-terminated lines, raw."""
    data = b""
    while data.count(b"\n") < count:
        data += await asyncio.wait_for(stream.read(), 2)
    return data


async def ask(stream: ByteStream, request: dict[str, object]) -> dict[str, object]:
    await stream.write(json.dumps(request).encode() + b"\n")
    return json.loads(await read_until(stream, 1))  # type: ignore[no-any-return]


async def test_a_bare_newline_is_answered_with_crlf_and_cmd_with_nothing(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    stream = card.connect()
    await stream.write(b'{"cmd":"hub.set","mode":"minimum"}\r\n\n')
    assert await read_until(stream, 1) == b"\r\n"
    assert card.hub_mode == "minimum"


async def test_crc_is_checked_and_echoed_with_the_sequence_number(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    stream = card.connect()
    request = stamp_crc(b'{"req":"card.binary"}', 0x1234, upper=False)
    await stream.write(request + b"\n")
    line = (await read_until(stream, 1)).rstrip()
    bare = b'{"connected":true,"max":130554}'
    assert line == bare[:-1] + b',"crc":"1234:%08X"}' % zlib.crc32(bare)
    await stream.write(request.replace(b"card", b"cart") + b"\n")
    assert b"{io}" in await read_until(stream, 1)
    assert card.crc_errors == 1


async def test_malformed_and_unknown_requests(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(binary_store=False))
    stream = card.connect()
    await stream.write(b'{"req":"dfu.sta\n')
    assert b"{io}" in await read_until(stream, 1)
    reply = await ask(stream, {"req": "card.binary"})
    assert "{io}{not-supported}" in str(reply["err"])


async def test_dfu_get_limits_and_base64_chunks(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    stream = card.connect()
    assert await ask(stream, {"req": "dfu.get", "length": 0}) == {"payload": ""}  # the schema
    assert "8192" in str((await ask(stream, {"req": "dfu.get", "length": 8193}))["err"])
    assert "beyond" in str(
        (await ask(stream, {"req": "dfu.get", "offset": len(IMAGE), "length": 1}))["err"]
    )
    first = await ask(stream, {"req": "dfu.get", "offset": 0, "length": 100})
    later = await ask(stream, {"req": "dfu.get", "offset": 100, "length": 50})
    assert base64.b64decode(str(first["payload"])) == IMAGE[:100]
    assert first["status"] == integrity.md5(IMAGE[:100]).hex()
    assert isinstance(first["body"], dict) and first["body"]["length"] == len(IMAGE)
    assert "body" not in later and base64.b64decode(str(later["payload"])) == IMAGE[100:150]


async def test_binary_chunk_then_a_cobs_frame_after_the_json_line(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    stream = card.connect()
    staged = await ask(stream, {"req": "dfu.get", "offset": 300, "length": 2000, "binary": True})
    data = IMAGE[300:2300]
    assert staged == {
        "cobs": len(cobs.encode(data)),
        "length": 2000,
        "status": integrity.md5(data).hex(),
    }
    await stream.write(b'{"req":"card.binary.get","offset":0,"length":2000}\n')
    raw = await read_until(stream, 2)
    line, frame = raw.split(b"\r\n", 1)
    assert json.loads(line) == {"status": integrity.md5(data).hex()}
    assert frame.endswith(b"\n") and cobs.decode(frame[:-1]) == data
    store = await ask(stream, {"req": "card.binary"})
    assert store["length"] == 2000 and store["max"] == 130554
    assert "length" not in await ask(stream, {"req": "card.binary", "delete": True})


async def test_legacy_profile_entry_delay_and_fifteen_minute_exit(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(
        NotecardEmulator(
            image=IMAGE, storage=Storage.MODEM_FS, dfu_entry_delay=0.1, dfu_mode_timeout=0.3
        )
    )
    stream = card.connect()
    assert "not currently in the DFU" in str(
        (await ask(stream, {"req": "dfu.get", "length": 0}))["err"]
    )
    await ask(stream, {"req": "hub.set", "mode": "dfu"})
    assert "{connected}" in str((await ask(stream, {"req": "dfu.get", "length": 0}))["err"])
    await asyncio.sleep(0.15)
    assert await ask(stream, {"req": "dfu.get", "length": 0}) == {"payload": ""}  # the schema
    await asyncio.sleep(0.2)
    await ask(stream, {"req": "hub.set", "mode": "dfu"})  # the keep-alive restarts the timer
    await asyncio.sleep(0.2)
    assert card.in_dfu_mode()
    await asyncio.sleep(0.2)
    assert "not currently in the DFU" in str(
        (await ask(stream, {"req": "dfu.get", "length": 0}))["err"]
    )
    assert card.hub_mode == "periodic"


async def test_heartbeats_precede_the_answer(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(faults=NotecardFaults(heartbeats=2)))
    stream = card.connect()
    await stream.write(b'{"req":"dfu.status"}\n')
    lines = (await read_until(stream, 3)).splitlines()
    assert [json.loads(line).get("err") for line in lines] == ["{heartbeat}", "{heartbeat}", None]


async def test_state_outlives_the_connection(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    await ask(card.connect(), {"req": "hub.set", "mode": "continuous"})
    card.disconnect()
    assert (await ask(card.connect(), {"req": "dfu.status", "stop": True}))["mode"] == "completed"
    assert card.hub_mode == "continuous" and card.image is None


arguments = st.dictionaries(
    st.sampled_from(
        [
            "offset",
            "length",
            "binary",
            "mode",
            "name",
            "on",
            "off",
            "stop",
            "status",
            "err",
            "delete",
            "version",
            "vvalue",
            "seconds",
            "start",
        ]
    ),
    st.none()
    | st.booleans()
    | st.integers(-5, 20_000)
    | st.sampled_from(["dfu", "-", "stm32", "x"]),
    max_size=4,
)
requests = st.builds(
    lambda name, args: {"req": name, **args},
    st.sampled_from(
        [
            "dfu.status",
            "hub.set",
            "dfu.get",
            "card.binary",
            "card.binary.get",
            "card.dfu",
            "card.version",
            "card.nothing",
        ]
    ),
    arguments,
)


@given(st.lists(st.tuples(requests, st.floats(0, 2000)), max_size=25), st.sampled_from(Storage))
def test_any_request_sequence_gets_an_answer_never_a_crash(
    steps: list[tuple[dict[str, object], float]], storage: Storage
) -> None:
    state = NotecardEmulator(image=IMAGE[:3000], storage=storage)
    now = 0.0
    for request, delay in steps:
        now += delay
        reply = state.handle(request, now)
        response = reply.response if isinstance(reply, BinaryReply) else reply
        assert isinstance(response, dict)
        json.dumps(response)
        if isinstance(reply, BinaryReply):
            assert state.binary_store is not None
            assert cobs.decode(reply.frame) in state.binary_store


async def test_error_replies_and_heartbeats_carry_the_requests_crc(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=NotecardFaults(heartbeats=1)))
    stream = card.connect()
    request = stamp_crc(b'{"req":"dfu.get","offset":0,"length":9000}', 7)
    await stream.write(request + b"\n")
    heartbeat, refusal = (await read_until(stream, 2)).splitlines()
    for line, tag in ((heartbeat, b"{heartbeat}"), (refusal, b"8192")):
        bare, field = split_crc(line)
        assert tag in bare and field is not None and field.valid and field.sequence == 7
    await stream.write(request.replace(b"9000", b"9001") + b"\n")  # the CRC no longer matches
    bare, field = split_crc((await read_until(stream, 1)).rstrip())
    assert b"{io}" in bare and field is None  # a garbled request gets no CRC back


async def test_status_texts_follow_the_guide_or_the_schema(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    guide = aiodfu_emulators(NotecardEmulator(downloading_polls=3))
    schema = aiodfu_emulators(NotecardEmulator(status_style=StatusStyle.SCHEMA))
    assert await ask(guide.connect(), {"req": "dfu.status"}) == {"mode": "idle", "on": True}
    schema_stream = schema.connect()
    assert await ask(schema_stream, {"req": "dfu.status"}) == {
        "mode": "idle",
        "status": "no download in progress",
        "on": True,
    }
    guide.offer(IMAGE, polls=3)
    schema.offer(IMAGE, polls=3)
    guide_reply = await ask(guide.connect(), {"req": "dfu.status"})
    schema_reply = await ask(schema_stream, {"req": "dfu.status"})
    assert guide_reply == {
        "mode": "downloading",
        "status": f"downloaded 33% ({len(IMAGE) // 3}/{len(IMAGE)})",
        "on": True,
    }
    assert schema_reply == {
        "mode": "downloading",
        "status": "downloading: 33% complete",
        "on": True,
        "pending": True,
    }


async def test_saved_image_is_what_the_card_holds_or_delivered_in_full(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    partly = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    fully = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    assert partly.saved_image == IMAGE  # held
    for card, lengths in ((partly, [4096]), (fully, [8192, 8192, 8192])):
        stream = card.connect()
        for offset, length in zip(range(0, len(IMAGE), 8192), lengths, strict=False):
            await ask(stream, {"req": "dfu.get", "offset": offset, "length": length})
        await ask(stream, {"req": "dfu.status", "stop": True})
    assert partly.image is None and partly.saved_image is None and partly.delivered is None
    assert fully.image is None and fully.saved_image == IMAGE == fully.delivered
