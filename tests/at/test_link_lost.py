"""AtClient.wait_lost: link loss as an event of its own (wsproto's receive_data(None) idea)."""

import asyncio

import pytest

from aiodfu.at import AtClient
from aiodfu.core.errors import LinkLostError
from aiodfu.transports.memory import MemoryLink


async def test_wait_lost_returns_the_error_when_the_link_drops() -> None:
    link = MemoryLink()
    async with AtClient(link.host) as client:
        first = asyncio.create_task(client.wait_lost())
        second = asyncio.create_task(client.wait_lost())
        await asyncio.sleep(0.01)
        assert not first.done()
        first.cancel()  # one waiter giving up leaves the others waiting
        await asyncio.sleep(0.01)
        assert not second.done()
        link.break_link()
        error = await asyncio.wait_for(second, 1)
        assert isinstance(error, LinkLostError)
        assert client.closed
        # once lost, every later wait returns at once with the same error
        assert await asyncio.wait_for(client.wait_lost(), 1) is error


async def test_wait_lost_after_close() -> None:
    link = MemoryLink()
    client = AtClient(link.host)
    client.start()
    waiting = asyncio.create_task(client.wait_lost())
    await asyncio.sleep(0.01)
    await client.aclose()
    assert "closed" in (await asyncio.wait_for(waiting, 1)).message


async def test_a_plain_wait_can_be_raced_against_link_loss() -> None:
    link = MemoryLink()
    async with AtClient(link.host) as client:
        never = asyncio.get_running_loop().create_future()
        lost = asyncio.ensure_future(client.wait_lost())
        asyncio.get_running_loop().call_later(0.02, link.break_link)
        done, _ = await asyncio.wait({never, lost}, timeout=5, return_when="FIRST_COMPLETED")
        assert done == {lost}
        never.cancel()
    with pytest.raises(LinkLostError):
        await client.command("AT", timeout=1)
