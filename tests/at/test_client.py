import asyncio

import pytest

from aiodfu.at import AtClient, response_prefix_of
from aiodfu.core.errors import CommandRejectedError, DfuTimeoutError, LinkLostError
from aiodfu.transports.memory import MemoryLink


async def expect_bytes(stream, expected: bytes) -> None:  # type: ignore[no-untyped-def]
    data = b""
    while len(data) < len(expected):
        data += await asyncio.wait_for(stream.read(len(expected) - len(data)), 1)
    assert data == expected


@pytest.fixture
async def wired():  # type: ignore[no-untyped-def]
    link = MemoryLink()
    client = AtClient(link.host)
    client.start()
    yield client, link.device
    await client.aclose()


def test_response_prefix_derivation() -> None:
    assert response_prefix_of("AT#XDFUINIT=?") == "#XDFUINIT:"
    assert response_prefix_of("AT%SHORTSWVER") == "%SHORTSWVER:"
    assert response_prefix_of("at+cgmr") == "+CGMR:"
    assert response_prefix_of("AT#XFOTA=7") == "#XFOTA:"
    assert response_prefix_of("AT") is None


async def test_information_lines_and_urcs_are_kept_apart(wired) -> None:  # type: ignore[no-untyped-def]
    client, device = wired
    unsolicited: list[str] = []
    client.add_listener(unsolicited.append)
    task = asyncio.create_task(client.command("AT#XDFUINIT=?", timeout=1))
    await expect_bytes(device, b"AT#XDFUINIT=?\r")
    await device.write(
        b"\r\n+CEREG: 5\r\n\r\n#XDFUINIT: (0,1,2,3),<size>\r\n#XDFU: 0,1,0\r\n\r\nOK\r\n"
    )
    response = await task
    assert response.lines == ("#XDFUINIT: (0,1,2,3),<size>",)
    assert response.final == "OK"
    assert unsolicited == ["+CEREG: 5", "#XDFU: 0,1,0"]


async def test_error_reply_is_typed_and_keeps_the_device_status(wired) -> None:  # type: ignore[no-untyped-def]
    client, device = wired
    task = asyncio.create_task(client.command("AT#XDFUAPPLY=7", timeout=1, offset=12))
    await expect_bytes(device, b"AT#XDFUAPPLY=7\r")
    await device.write(b"\r\n+CME ERROR: 10\r\n")
    with pytest.raises(CommandRejectedError) as info:
        await task
    assert info.value.status == "+CME ERROR: 10"
    assert info.value.operation == "AT#XDFUAPPLY=7"
    assert info.value.offset == 12


async def test_echo_is_dropped(wired) -> None:  # type: ignore[no-untyped-def]
    client, device = wired
    task = asyncio.create_task(client.command("AT%SHORTSWVER", timeout=1))
    await expect_bytes(device, b"AT%SHORTSWVER\r")
    await device.write(b"AT%SHORTSWVER\r\n%SHORTSWVER: nrf91x1_2.0.2\r\nOK\r\n")
    assert (await task).lines == ("%SHORTSWVER: nrf91x1_2.0.2",)


async def test_silence_is_a_typed_timeout(wired) -> None:  # type: ignore[no-untyped-def]
    client, _device = wired
    with pytest.raises(DfuTimeoutError) as info:
        await client.command("AT", timeout=0.05)
    assert info.value.operation == "AT"
    assert isinstance(info.value, TimeoutError)


async def test_link_loss_fails_command_and_waiters_at_once() -> None:
    link = MemoryLink()
    async with AtClient(link.host) as client:
        waiter = client.expect(lambda line: line.startswith("#XDFU:"), "chunk result")
        task = asyncio.create_task(client.command("AT", timeout=30))
        await asyncio.sleep(0.01)
        link.break_link()
        with pytest.raises(LinkLostError):
            await asyncio.wait_for(task, 1)
        with pytest.raises(LinkLostError):
            await waiter.wait(30)
        with pytest.raises(LinkLostError):
            await client.command("AT", timeout=1)


async def test_waiter_registered_first_never_misses_a_fast_urc(wired) -> None:  # type: ignore[no-untyped-def]
    client, device = wired
    with client.expect(lambda line: line == "#XDFU: 0,2,0", "apply") as waiter:
        await device.write(b"#XDFU: 0,2,0\r\n")  # arrives before anyone awaits
        await asyncio.sleep(0.01)
        assert await waiter.wait(1) == "#XDFU: 0,2,0"


async def test_stray_final_codes_outside_a_command_are_ignored(wired) -> None:  # type: ignore[no-untyped-def]
    client, device = wired
    await device.write(b"\r\nOK\r\n\r\nERROR\r\n")
    await asyncio.sleep(0.01)
    task = asyncio.create_task(client.command("AT", timeout=1))
    await expect_bytes(device, b"AT\r")
    await device.write(b"\r\nOK\r\n")
    assert (await task).final == "OK"


async def test_a_command_without_any_bound_is_refused(wired) -> None:  # type: ignore[no-untyped-def]
    from aiodfu.core.errors import UsageError

    client, _device = wired
    with pytest.raises(UsageError, match="timeout"):
        await client.command("AT", timeout=None)
