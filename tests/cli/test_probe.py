"""The quick probe (aiodfu.cli.probe) on in-memory links, and the protocol recognisers it uses.

The backends' commands are probed end to end on ptys in their own test files
(tests/<backend>/test_cli.py): a silent port, a noisy one, the configured bound.
"""

from __future__ import annotations

import asyncio
import importlib

import pytest

from aiodfu.at.diagnosis import looks_like_at
from aiodfu.cli.probe import (
    PROBE_LIMIT,
    NoAnswerError,
    Probe,
    TappedStream,
    UnrecognisedBytesError,
    probe_bound,
    probed_port,
    run_probe,
)
from aiodfu.core.errors import DfuTimeoutError, LinkLostError
from aiodfu.drogue import Status
from aiodfu.drogue.serial import frame, looks_like_status_frames
from aiodfu.notecard.device import looks_like_notecard
from aiodfu.registry import BACKENDS
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import MemoryLink
from tests.cli.ptys import NOISE

PROBED = ["serial-modem", "drogue", "notecard", "rainmaker"]


async def expect(stream: ByteStream, wanted: bytes, reply: bytes) -> None:
    """A check: send ``wanted``, then read until ``reply`` came back."""
    await stream.write(wanted)
    seen = b""
    while reply not in seen:
        seen += await stream.read()


def probe(bound: float = 0.3, reply: bytes = b"OK") -> Probe:
    async def check(stream: ByteStream) -> None:
        await expect(stream, b"AT\r", reply)

    return Probe("AT", bound, check, recognises=looks_like_at, extra_hint="try --no-rtscts")


@pytest.mark.parametrize("name", PROBED)
def test_every_default_bound_is_about_five_seconds(name: str) -> None:
    (backend,) = [entry for entry in BACKENDS if entry.name == name]
    module = backend.load_cli()
    assert module.default_probe_bound(115_200) <= PROBE_LIMIT
    made = module.probe_for(115_200, 2.5)
    assert made.bound == 2.5  # the configured bound is the one the probe carries


def test_probe_timeout_zero_turns_the_probe_off() -> None:
    assert probe_bound(None, 4.2) == 4.2
    assert probe_bound(1.5, 4.2) == 1.5
    assert probe_bound(0, 4.2) is None


async def test_silence_is_no_answer_and_names_the_bound_and_what_to_check() -> None:
    link = MemoryLink()
    with pytest.raises(NoAnswerError) as caught:
        await run_probe(TappedStream(link.host), probe(0.3), "/dev/ttyX")
    error = caught.value
    assert not error.transient  # ends the command: the session's retries are not run
    assert isinstance(error, TimeoutError) and error.seconds == 0.3
    assert "no answer from /dev/ttyX within 0.3 s" in str(error)
    assert "try --no-rtscts" in error.hint and "cable" in error.hint


async def test_noise_is_reported_with_the_bytes() -> None:
    link = MemoryLink()
    await link.device.write(NOISE)
    with pytest.raises(UnrecognisedBytesError) as caught:
        await run_probe(TappedStream(link.host), probe(0.3), "/dev/ttyX")
    error = caught.value
    assert error.count == len(NOISE) and error.received == NOISE
    assert "128 bytes that are not AT (starting 80 81 82" in str(error)
    assert "wrong baud rate?" in str(error) and "--baud" in error.hint


async def test_a_device_that_speaks_the_protocol_is_left_to_the_session() -> None:
    """Bytes of the protocol but no finished check: no error -- the session's own, patient
    handshake decides (a busy module, a modem stuck in a long data mode)."""
    link = MemoryLink()
    await link.device.write(b"\r\nbusy p...\r\n")
    await run_probe(TappedStream(link.host), probe(0.3), "/dev/ttyX")


async def test_a_lost_link_is_reported_as_it_is() -> None:
    link = MemoryLink()
    await link.device.aclose()
    with pytest.raises(LinkLostError):
        await run_probe(TappedStream(link.host), probe(0.3), "/dev/ttyX")


class MemoryPorts:
    """``probed_port`` opens these in-memory links in turn instead of serial ports."""

    def __init__(self) -> None:
        self.links = [MemoryLink(), MemoryLink()]
        self.opened = 0

    def port_connector(self, port: str, baudrate: int, *, rtscts: bool):  # type: ignore[no-untyped-def]
        async def connect() -> ByteStream:
            self.opened += 1
            return self.links[self.opened - 1].host

        return connect

    async def answer_ok(self) -> None:
        """The first device answers ``AT`` with ``OK``."""
        await expect(self.links[0].device, b"", b"AT\r")
        await self.links[0].device.write(b"\r\nOK\r\n")


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> MemoryPorts:
    ports = MemoryPorts()
    module = importlib.import_module("aiodfu.cli.probe")
    monkeypatch.setattr(module, "port_connector", ports.port_connector)
    return ports


async def test_the_probed_stream_is_the_sessions_first_link_then_the_port_reopens(
    ports: MemoryPorts,
) -> None:
    answering = asyncio.create_task(ports.answer_ok())
    async with probed_port("/dev/ttyX", 115200, rtscts=False, probe=probe(2.0)) as connector:
        first = await connector()
        assert ports.opened == 1 and not first.closed  # the probe's own stream, still open
        await first.write(b"next")
        assert await ports.links[0].device.read() == b"next"
        second = await connector()
        assert second is ports.links[1].host  # a reconnect opens the port afresh
    await answering


async def test_an_unclaimed_probed_stream_is_closed(ports: MemoryPorts) -> None:
    answering = asyncio.create_task(ports.answer_ok())
    async with probed_port("/dev/ttyX", 115200, rtscts=False, probe=probe(2.0)):
        pass  # no session took the stream
    await answering
    assert ports.links[0].broken


async def test_a_failed_probe_closes_its_stream(ports: MemoryPorts) -> None:
    with pytest.raises(NoAnswerError):
        async with probed_port("/dev/ttyX", 115200, rtscts=False, probe=probe(0.2)):
            pytest.fail("no connector for a device that did not answer")
    assert ports.links[0].broken


# --- the recognisers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\r\nOK\r\n", True),
        (b"AT\r\r\nERROR\r\n", True),
        (b"\r\n#XDFU: 0,1,0\r\n", True),
        (b"busy p...\r\n", True),
        (b"Bootloader mode ready\r\n", True),
        (NOISE, False),
        (b"\x00\x00\xff\r\n\xfeO\xffK\r\n", False),
        (b"hello world\r\n", False),
        (b"", False),
    ],
)
def test_looks_like_at(data: bytes, expected: bool) -> None:
    assert looks_like_at(data) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\r\n", True),
        (b'{"mode":"idle"}\r\n', True),
        (b"\r\n\r\n" + NOISE, False),
        (NOISE, False),
        (b"", False),
    ],
)
def test_looks_like_notecard(data: bytes, expected: bool) -> None:
    assert looks_like_notecard(data) is expected


def test_looks_like_status_frames_finds_a_frame_anywhere() -> None:
    status = frame(Status(b"0.1.0", mtu=968))
    assert looks_like_status_frames(NOISE[:37] + status)
    assert not looks_like_status_frames(NOISE * 8)
    assert not looks_like_status_frames(bytes(2048))  # zeros decode to an empty version


async def test_silence_from_a_real_timeout_error_too() -> None:
    """A check that ends by its own DfuTimeoutError before the bound is diagnosed the same."""

    async def check(stream: ByteStream) -> None:
        raise DfuTimeoutError("no answer within 0.1 s", operation="AT")

    silent = Probe("AT", 5.0, check, recognises=looks_like_at)
    with pytest.raises(NoAnswerError):
        await run_probe(TappedStream(MemoryLink().host), silent, "/dev/ttyX")
