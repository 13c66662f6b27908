import asyncio

import pytest

from aiodfu.core.errors import LinkLostError
from aiodfu.transports.memory import LinkFaults, LinkModel, MemoryLink


async def read_exactly(stream, count: int) -> bytes:  # type: ignore[no-untyped-def]
    data = b""
    while len(data) < count:
        data += await stream.read(count - len(data))
    return data


async def test_unthrottled_round_trip_both_directions() -> None:
    link = MemoryLink()
    await link.host.write(b"hello")
    assert await read_exactly(link.device, 5) == b"hello"
    await link.device.write(b"world")
    assert await read_exactly(link.host, 5) == b"world"


async def test_pacing_never_beats_the_baud_rate() -> None:
    model = LinkModel(baud=115200)
    link = MemoryLink(model)
    payload = bytes(2304)  # 0.2 s of wire time at 115200 8N1
    loop = asyncio.get_running_loop()
    started = loop.time()
    await link.host.write(payload)
    assert await read_exactly(link.device, len(payload)) == payload
    assert loop.time() - started >= model.wire_time(len(payload)) * 0.98


async def test_flow_control_blocks_the_writer_until_the_reader_drains() -> None:
    link = MemoryLink(LinkModel(rx_buffer=16, tx_buffer=16))
    writer = asyncio.create_task(link.host.write(bytes(100)))
    await asyncio.sleep(0.05)
    assert not writer.done()  # 16 received + 16 queued, the rest held back
    received = await read_exactly(link.device, 100)
    await writer
    assert received == bytes(100)


async def test_without_flow_control_overflow_is_lost() -> None:
    link = MemoryLink(LinkModel(rx_buffer=16, flow_control=False))
    await link.host.write(bytes(range(40)))
    assert await link.device.read() == bytes(range(16))


async def test_drop_after_breaks_both_ends_after_n_bytes() -> None:
    link = MemoryLink(host_to_device=LinkFaults(drop_after=10))
    with pytest.raises(LinkLostError):
        await link.host.write(bytes(range(30)))
    assert await link.device.read() == bytes(range(10))  # what crossed is still delivered
    with pytest.raises(LinkLostError):
        await link.device.read()
    with pytest.raises(LinkLostError):
        await link.host.read()
    assert link.host.closed and link.device.closed


async def test_corrupt_flips_the_chosen_bytes() -> None:
    link = MemoryLink(device_to_host=LinkFaults(corrupt_at={1, 3}))
    await link.device.write(b"\x00\x00\x00\x00\x00")
    assert await read_exactly(link.host, 5) == b"\x00\xff\x00\xff\x00"


async def test_stall_stops_delivery_but_keeps_the_link_up() -> None:
    link = MemoryLink(host_to_device=LinkFaults(stall_after=4))
    await link.host.write(b"abcdefgh")
    assert await link.device.read() == b"abcd"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link.device.read(), 0.05)
    assert not link.host.closed


async def test_paced_link_with_drop() -> None:
    link = MemoryLink(LinkModel(baud=1_000_000), host_to_device=LinkFaults(drop_after=500))
    await link.host.write(bytes(1000))
    received = b""
    while not link.broken or len(received) < 500:
        received += await asyncio.wait_for(link.device.read(), 1)
    assert len(received) == 500
    with pytest.raises(LinkLostError):
        await link.device.read()


async def read_available(stream, wait: float = 0.05) -> bytes:  # type: ignore[no-untyped-def]
    data = b""
    while True:
        try:
            data += await asyncio.wait_for(stream.read(), wait)
        except TimeoutError:
            return data


async def test_byte_faults_flip_lose_duplicate_and_insert_at_sender_offsets() -> None:
    faults = LinkFaults(
        flip_bits={1: 0x01},
        lose_at={3},
        duplicate_at={4},
        insert_before={6: b"GARBAGE"},
        corrupt_at={7},
    )
    link = MemoryLink(host_to_device=faults)
    for byte in b"abcdefgh":  # one byte a write: faults must not depend on write sizes
        await link.host.write(bytes([byte]))
    received = await read_available(link.device)
    assert received == b"a" + bytes([ord("b") ^ 1]) + b"c" + b"ee" + b"f" + b"GARBAGEg" + bytes(
        [ord("h") ^ 0xFF]
    )
    assert [str(fault) for fault in link.fired] == [
        "host->device corrupt at 1",
        "host->device lose at 3",
        "host->device duplicate at 4",
        "host->device insert at 6",
        "host->device corrupt at 7",
    ]


async def test_time_triggered_stall_and_drop() -> None:
    link = MemoryLink(device_to_host=LinkFaults(stall_after_seconds=0.02))
    await asyncio.sleep(0.05)
    await link.device.write(b"lost in the stall")
    assert await read_available(link.host) == b""
    assert not link.broken and [f.kind for f in link.fired] == ["stall"]

    dropping = MemoryLink(host_to_device=LinkFaults(drop_after_seconds=0.02))
    await asyncio.sleep(0.05)
    assert dropping.broken and [f.kind for f in dropping.fired] == ["drop"]
    with pytest.raises(LinkLostError):
        await dropping.host.write(b"x")


async def test_overflow_without_flow_control_is_recorded() -> None:
    link = MemoryLink(LinkModel(rx_buffer=4, flow_control=False))
    await link.host.write(b"0123456789")
    assert await read_available(link.device) == b"0123"
    assert [f.kind for f in link.fired] == ["overflow"]
