"""The AT client's ESP-AT extensions: raw data chunks, prompts, busy retry, error details."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.at import AtClient, AtCommandError, DataChunk, LineSplitter, Prompt
from aiodfu.transports.memory import MemoryLink


async def expect_bytes(stream, expected: bytes) -> None:  # type: ignore[no-untyped-def]
    data = b""
    while len(data) < len(expected):
        data += await asyncio.wait_for(stream.read(len(expected) - len(data)), 1)
    assert data == expected


def esp_splitter() -> LineSplitter:
    return LineSplitter(data_prefixes=(b"+HTTPCGET:",), prompts=(b">",))


@given(
    chunks=st.lists(st.binary(max_size=300), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=50), max_size=40),
)
def test_data_chunks_survive_any_content_and_any_split(
    chunks: list[bytes], cuts: list[int]
) -> None:
    wire = (
        b'AT+HTTPCGET=""\r\n'
        + b"".join(b"+HTTPCGET:%d,%s\r\n" % (len(chunk), chunk) for chunk in chunks)
        + b"\r\nOK\r\n"
    )
    splitter = esp_splitter()
    items: list[object] = []
    position = 0
    for cut in cuts:
        items += splitter.feed_items(wire[position : position + cut])
        position += cut
    items += splitter.feed_items(wire[position:])
    assert items == ['AT+HTTPCGET=""', *(DataChunk("+HTTPCGET:", c) for c in chunks), "OK"]


def test_prompt_is_reported_without_a_line_end() -> None:
    splitter = esp_splitter()
    assert splitter.feed_items(b"\r\nOK\r\n\r\n>") == ["OK", Prompt(">")]


def test_plain_feed_is_unchanged_by_the_options() -> None:
    splitter = esp_splitter()
    assert splitter.feed(b"+HTTPCGET:3,\r\n\x00\r\nOK\r\n+HTTPCGETX\r\n") == ["OK", "+HTTPCGETX"]


def test_a_line_sharing_the_prefix_without_a_length_is_a_line() -> None:
    assert esp_splitter().feed_items(b"+HTTPCGET:abc\r\n") == ["+HTTPCGET:abc"]


@pytest.fixture
async def esp():  # type: ignore[no-untyped-def]
    link = MemoryLink()
    client = AtClient(
        link.host,
        terminator=b"\r\n",
        data_prefixes=("+HTTPCGET:",),
        prompts=(">",),
        busy_lines=("busy p...",),
        busy_retry=0.001,
        error_detail_prefixes=("ERR CODE:",),
        extra_finals=("SET OK",),
    )
    client.start()
    yield client, link.device
    await client.aclose()


async def test_data_goes_to_the_command_in_flight(esp) -> None:  # type: ignore[no-untyped-def]
    client, device = esp
    received: list[bytes] = []
    task = asyncio.create_task(
        client.command('AT+HTTPCGET=""', timeout=1, on_data=received.append, idle_timeout=0.5)
    )
    await expect_bytes(device, b'AT+HTTPCGET=""\r\n')
    await device.write(b"+HTTPCGET:6,\r\nOK\r\n\r\n+HTTPCGET:2,\x00>\r\n\r\nOK\r\n")
    response = await task
    assert received == [b"\r\nOK\r\n", b"\x00>"]
    assert response.final == "OK"


async def test_busy_is_sent_again(esp) -> None:  # type: ignore[no-untyped-def]
    client, device = esp
    task = asyncio.create_task(client.command("AT+RMOTAFETCH", timeout=1))
    await expect_bytes(device, b"AT+RMOTAFETCH\r\n")
    await device.write(b"busy p...\r\n")
    await expect_bytes(device, b"AT+RMOTAFETCH\r\n")
    await device.write(b"\r\nOK\r\n")
    assert (await task).final == "OK"
    assert client.busy_replies == 1


async def test_error_detail_is_kept_on_the_error(esp) -> None:  # type: ignore[no-untyped-def]
    client, device = esp
    task = asyncio.create_task(client.command('AT+HTTPCGET=""', timeout=1, offset=7))
    await expect_bytes(device, b'AT+HTTPCGET=""\r\n')
    await device.write(b"ERR CODE:0x010a7194\r\n\r\nERROR\r\n")
    with pytest.raises(AtCommandError) as info:
        await task
    assert info.value.status == "ERR CODE:0x010a7194"
    assert info.value.response.final == "ERROR"
    assert info.value.offset == 7


async def test_prompt_flow_sends_the_data_after_the_prompt(esp) -> None:  # type: ignore[no-untyped-def]
    client, device = esp
    task = asyncio.create_task(
        client.command_with_data("AT+HTTPURLCFG=10", b"http://x/?", timeout=1)
    )
    await expect_bytes(device, b"AT+HTTPURLCFG=10\r\n")
    await device.write(b"\r\nOK\r\n\r\n>")
    await expect_bytes(device, b"http://x/?")
    await device.write(b"\r\nSET OK\r\n")
    assert (await task).final == "SET OK"


async def test_prompt_flow_error_before_the_prompt_sends_nothing(esp) -> None:  # type: ignore[no-untyped-def]
    client, device = esp
    task = asyncio.create_task(client.command_with_data("AT+HTTPURLCFG=3", b"abc", timeout=1))
    await expect_bytes(device, b"AT+HTTPURLCFG=3\r\n")
    await device.write(b"\r\nERROR\r\n")
    with pytest.raises(AtCommandError):
        await task
    follow = asyncio.create_task(client.command("AT", timeout=1))
    await expect_bytes(device, b"AT\r\n")  # "abc" was never sent: this is the next byte
    await device.write(b"\r\nOK\r\n")
    await follow
