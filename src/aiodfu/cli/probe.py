"""A quick check that a device answers, before a command hands it to the session.

The library's sessions are patient on purpose: they reopen the link and repeat
the handshake under the retry policy, so a device that is slow to wake or
briefly unplugged still gets updated -- and an absent one takes half a minute
or more to be reported, a wrong baud rate looking the same as silence. At the
command line the answer is wanted at once, so each serial backend's commands
open their port through :func:`probed_port`:

1. the port is opened once: a missing, busy or forbidden port is reported at once;
2. the backend's own handshake runs on it with short timeouts, all of it within
   one bound (:attr:`Probe.bound`: the backend's default, or ``--probe-timeout``);
3. nothing came back: :class:`NoAnswerError` says what to check (port, power,
   cable, baud rate); bytes came back but none the protocol's:
   :class:`UnrecognisedBytesError` says so ("wrong baud rate?"), and ``-vv``
   shows them;
4. otherwise the open port becomes the session's first link, so the device sees
   no reopen. A device that answers in its protocol but did not finish the quick
   handshake is left to the session's full one: the probe only speeds up the
   diagnosis of silence and noise, and never fails a device that speaks.

The library's documented timeouts are untouched; the probe belongs to the
command line, and ``--probe-timeout 0`` turns it off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import click

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError, ProtocolError
from aiodfu.core.session import Connector, open_link
from aiodfu.transports.base import Buffer, ByteStream
from aiodfu.transports.serial import port_connector

log = logging.getLogger("aiodfu.cli.probe")

F = TypeVar("F", bound=Callable[..., Any])

PROBE_LIMIT = 5.0
"""No backend's default bound exceeds this at 115200 baud: an absent device is reported
within about 5 s (issue 13)."""

_CHECK_HINT = (
    "check that this is the device's port (`aiodfu ports`), that the device is powered and "
    "runs firmware that speaks {protocol}, the cable (a charge-only USB cable carries no "
    "data) and the baud rate (--baud){extra}; `-vv` shows what went over the wire."
)


def wire_time(count: int, baudrate: int | None) -> float:
    """Seconds ``count`` bytes take on a UART at ``baudrate`` (8N1); 0 when unknown."""
    return 0.0 if not baudrate else count * 10 / baudrate


@attrs.frozen
class Probe:
    """How one backend checks that a device answers.

    ``check`` runs the backend's own handshake on the stream with short timeouts
    (it must not close the stream); ``bound`` caps all of it; ``recognises`` tells
    the protocol's bytes from noise.
    """

    protocol: str
    """What the device should send, for messages: ``"AT"``, ``"Notecard JSON"``..."""
    bound: float
    check: Callable[[ByteStream], Awaitable[object]]
    recognises: Callable[[bytes], bool]
    extra_hint: str = ""
    """A backend's own thing to check, e.g. "RTS/CTS: --no-rtscts if the lines are not wired"."""


class NoAnswerError(DfuTimeoutError):
    """Nothing at all came back from the port within the probe's bound.

    Not transient: it ends the command at once (the session's retries are not run).
    """

    transient = False

    def __init__(self, port: str, probe: Probe) -> None:
        self.port = port
        self.seconds = probe.bound
        extra = f"; {probe.extra_hint}" if probe.extra_hint else ""
        self.hint = _CHECK_HINT.format(protocol=probe.protocol, extra=extra)
        super().__init__(
            f"no answer from {port} within {probe.bound:.1f} s: the device sent nothing",
            operation="probe",
        )


class UnrecognisedBytesError(ProtocolError):
    """Bytes came back, but none that the protocol sends: usually a wrong baud rate."""

    transient = False

    def __init__(self, port: str, probe: Probe, received: bytes, count: int) -> None:
        self.port = port
        self.seconds = probe.bound
        self.received = received
        self.count = count
        self.hint = (
            f"check the baud rate (--baud; the device's UART setting) first, then that this is "
            f"the device's port (`aiodfu ports`) and that it runs firmware that speaks "
            f"{probe.protocol}; `-vv` shows the bytes."
        )
        preview = received[:12].hex(" ")
        super().__init__(
            f"{port} sent {count} bytes that are not {probe.protocol} (starting {preview}): "
            "wrong baud rate?",
            operation="probe",
        )


class TappedStream:
    """A :class:`~aiodfu.transports.base.ByteStream` that keeps what was read while
    ``recording``: the first :attr:`HEAD` bytes and the count."""

    HEAD = 4096

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.head = bytearray()
        self.count = 0
        self.recording = True

    async def read(self, max_bytes: int = 65536) -> bytes:
        data = await self.stream.read(max_bytes)
        if self.recording:
            self.count += len(data)
            self.head += data[: max(self.HEAD - len(self.head), 0)]
        return data

    async def write(self, data: Buffer) -> None:
        await self.stream.write(data)

    async def aclose(self) -> None:
        await self.stream.aclose()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def lent(self) -> ByteStream:
        """This stream for the probe's handshake, whose clean-up must not close it."""
        return _Lent(self)


class _Lent:
    def __init__(self, stream: TappedStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int = 65536) -> bytes:
        return await self._stream.read(max_bytes)

    async def write(self, data: Buffer) -> None:
        await self._stream.write(data)

    async def aclose(self) -> None:
        """The probe is done with the stream; the session takes it over, open."""

    @property
    def closed(self) -> bool:
        return self._stream.closed


async def run_probe(stream: TappedStream, probe: Probe, port: str) -> None:
    """Run ``probe`` on ``stream``; raise :class:`NoAnswerError` or
    :class:`UnrecognisedBytesError` if the device is silent or speaks something else."""
    failure: BaseException
    try:
        async with asyncio.timeout(probe.bound):
            await probe.check(stream.lent())
    except LinkLostError:
        raise  # the port itself failed: that error says it best
    except (TimeoutError, DfuError) as exc:
        failure = exc
    else:
        log.debug("probe: %s answered in %s", port, probe.protocol)
        return
    finally:
        stream.recording = False
    received = bytes(stream.head)
    if stream.count == 0:
        raise NoAnswerError(port, probe) from failure
    if not probe.recognises(received):
        log.debug(
            "probe: %d bytes from %s are not %s: %s%s",
            stream.count,
            port,
            probe.protocol,
            received[:256].hex(" "),
            " ..." if stream.count > 256 else "",
        )
        raise UnrecognisedBytesError(port, probe, received, stream.count) from failure
    log.info(
        "%s answers in %s but did not finish the quick check (%s); the session's own "
        "handshake takes over",
        port,
        probe.protocol,
        failure,
    )


class _Handover:
    """A connector that gives the probed stream first, then opens the port afresh."""

    def __init__(self, first: TappedStream, fresh: Connector[ByteStream]) -> None:
        self._first: TappedStream | None = first
        self._fresh = fresh

    async def __call__(self) -> ByteStream:
        first, self._first = self._first, None
        if first is not None and not first.closed:
            return first
        return await open_link(self._fresh)

    async def close_unclaimed(self) -> None:
        first, self._first = self._first, None
        if first is not None:
            await first.aclose()


@asynccontextmanager
async def probed_port(
    port: str, baudrate: int, *, rtscts: bool, probe: Probe | None
) -> AsyncIterator[Connector[ByteStream]]:
    """A connector for a session on ``port``, whose device was probed first (see the module
    docstring); with ``probe`` None, the plain connector."""
    fresh = port_connector(port, baudrate, rtscts=rtscts)
    if probe is None:
        yield fresh
        return
    stream = TappedStream(await fresh())
    try:
        await run_probe(stream, probe, port)
    except BaseException:
        await stream.aclose()
        raise
    handover = _Handover(stream, fresh)
    try:
        yield handover
    finally:
        await handover.close_unclaimed()


def probe_option(function: F) -> F:
    """``--probe-timeout SECONDS``: the bound of the quick check (0 turns it off)."""
    return click.option(
        "--probe-timeout",
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        help=(
            "How long the quick check that the device answers may take before the session "
            f"(default: the backend's, at most {PROBE_LIMIT:g} s at 115200 baud); "
            "0 skips it and leaves a silent device to the session's retries."
        ),
    )(function)


def probe_bound(given: float | None, default: float) -> float | None:
    """The bound a command uses: ``--probe-timeout`` if given (0: no probe), else ``default``."""
    if given is None:
        return default
    return given or None


def chosen_probe(
    given: float | None,
    baudrate: int,
    default: Callable[[int], float],
    make: Callable[[int, float], Probe],
) -> Probe | None:
    """A backend's probe with the bound ``--probe-timeout`` gave (``given``), else its
    ``default(baudrate)``; None when the probe is turned off."""
    bound = probe_bound(given, default(baudrate))
    return None if bound is None else make(baudrate, bound)
