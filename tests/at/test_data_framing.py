"""A data chunk whose terminator is missing lost its framing: flagged, never taken as data."""

import asyncio

import pytest

from aiodfu.at import AtClient
from aiodfu.at.lines import DataChunk, LineSplitter
from aiodfu.core.errors import ProtocolError
from aiodfu.transports.memory import MemoryLink

PREFIX = b"+HTTPCGET:"


def split(wire: bytes) -> list[object]:
    splitter = LineSplitter(data_prefixes=(PREFIX,), data_terminator=b"\r\n")
    return list(splitter.feed_items(wire))


def test_intact_chunks_consume_their_terminator() -> None:
    wire = b"+HTTPCGET:3,a\r\n\r\n+HTTPCGET:2,OK\r\n\r\nOK\r\n"
    assert split(wire) == [DataChunk("+HTTPCGET:", b"a\r\n"), DataChunk("+HTTPCGET:", b"OK"), "OK"]


@pytest.mark.parametrize(
    "wire",
    [
        b"+HTTPCGET:4,abcd+HTTPCGET:2,ef\r\nOK\r\n",  # CR LF lost
        b"+HTTPCGET:4,abXcd\r\n+HTTPCGET:2,ef\r\nOK\r\n",  # a byte added in the data
        b"+HTTPCGET:4,abd\r\n+HTTPCGET:2,ef\r\nOK\r\n",  # a byte lost in the data
        b"+HTTPCGET:5,abcd\r\n+HTTPCGET:2,ef\r\nOK\r\n",  # the length changed
    ],
)
def test_a_slipped_chunk_is_flagged_and_the_next_frame_recovers(wire: bytes) -> None:
    items = split(wire)
    first = items[0]
    assert isinstance(first, DataChunk) and not first.intact
    assert DataChunk("+HTTPCGET:", b"ef") in items and items[-1] == "OK"


def test_without_a_terminator_option_nothing_is_checked() -> None:
    splitter = LineSplitter(data_prefixes=(PREFIX,))
    assert splitter.feed_items(b"+HTTPCGET:2,abXY") == [DataChunk("+HTTPCGET:", b"ab")]


async def test_the_client_fails_the_command_instead_of_handing_over_slipped_data() -> None:
    link = MemoryLink()
    received: list[bytes] = []
    async with AtClient(
        link.host, terminator=b"\r\n", data_prefixes=("+HTTPCGET:",), data_terminator="\r\n"
    ) as client:
        task = asyncio.create_task(
            client.command('AT+HTTPCGET=""', timeout=2, on_data=received.append)
        )
        await asyncio.sleep(0.01)
        await link.device.write(b"+HTTPCGET:3,abc\r\n+HTTPCGET:3,deXf\r\n+HTTPCGET:1,g\r\nOK\r\n")
        with pytest.raises(ProtocolError, match="lost its framing") as info:
            await task
        assert info.value.transient
    assert received == [b"abc"]
