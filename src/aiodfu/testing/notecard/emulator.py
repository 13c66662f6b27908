"""An emulated Blues Notecard serving host-firmware DFU (IAP) over its serial interface.

:class:`NotecardEmulator` answers the JSON request interface as a Notecard
does (reference ``notecard-dfu.md``): newline-delimited JSON, ``\\r\\n`` after
every response, a bare ``\\n`` answered with ``\\r\\n`` (what a host's reset
looks for), no reply to ``{"cmd":...}``, the ``crc`` field checked on requests
and added to responses with the request's sequence number, and the DFU
requests: ``dfu.status`` (modes, body, ``on``/``off``/``vvalue``/``version``/
``stop``, ``name:"card"``), ``hub.set`` (``dfu``, ``dfu-completed``, ...),
``dfu.get`` (probe, base64 with per-chunk MD5, ``binary:true``),
``card.binary`` / ``card.binary.get`` (COBS frame after the JSON line),
``card.dfu`` and ``card.version``. Any serial host drives it, including Blues'
own note-python::

    from aiodfu.testing.notecard import NotecardEmulator
    from aiodfu.testing.pty import serve_pty

    card = NotecardEmulator(image=firmware)
    stream = card.connect()                   # in-memory; or:
    async with serve_pty(card) as path:       # notecard.OpenSerial(serial.Serial(path))
        ...
    assert card.mode == "completed"           # the host closed out the DFU

Options (keyword arguments, also attributes):

``image`` / ``image_version`` / ``image_name``
    The host firmware the card has downloaded (``None``: nothing, mode ``idle``);
    ``image_version`` adds ``version`` to the body. :meth:`NotecardEmulator.offer`
    delivers another image later, :meth:`NotecardEmulator.fail_download` fails it.
``downloading_polls``
    ``dfu.status`` reports ``downloading`` with a progress text this many times first.
``status_style``
    :class:`StatusStyle`: the ``dfu.status`` texts of Blues' DFU guide (default) or of
    its schema's samples, which disagree (idle status, progress text, ``pending``).
``storage``
    :class:`Storage`: ``ONBOARD_FLASH`` serves ``dfu.get`` any time;
    ``MODEM_FS`` (the legacy profile) only in DFU mode, answering
    ``not currently in the DFU operating mode`` outside it and the
    ``{connected}`` error for ``dfu_entry_delay`` seconds after ``hub.set mode:dfu``.
``dfu_mode_timeout``
    Seconds after the last ``hub.set mode:dfu`` when DFU mode ends by itself (900).
``refresh_on_get``
    Each ``dfu.get`` restarts that timer too (newer firmware).
``body_in_status``
    ``False`` reproduces the firmware quirk of ``ready`` without ``body``.
``chunk_md5``
    Put the chunk's MD5 in ``dfu.get`` ``status`` (the seed shows only ``payload``).
``binary_store`` / ``binary_dfu_get``
    Firmware with ``card.binary`` / with ``dfu.get binary:true`` (>= 9.1.1;
    without it ``binary`` is ignored and the payload is base64).
``crc``
    ``False`` imitates firmware before 2023-06: the ``crc`` field is ignored and never sent.
``rx_buffer`` / ``rx_idle_gap``
    The card's 1500-byte receive buffer: bytes beyond it that arrive without
    a newline or an ``rx_idle_gap``-second pause are lost, so a host that does
    not pause between 250-byte segments sends a corrupted request.
``request_latency``
    Seconds the card spends on each request before answering.
``link_model``
    The :class:`~aiodfu.transports.memory.LinkModel` of :meth:`connect` and
    :func:`~aiodfu.testing.pty.serve_pty` (UART pacing: 9600 on the main UART,
    115200 on AUX).
``faults``
    A :class:`NotecardFaults`, mutable while the card runs.

Faults address requests by their index over the card's life (0-based, every
line with ``req``): ``silent_requests`` (no answer), ``truncated_responses``
(half a line, no newline), ``corrupted_responses`` (a flipped byte: CRC
mismatch), ``wrong_sequence`` (the echoed sequence number is off by one),
``io_errors`` (``{io}`` instead of the answer), ``bad_bin`` (``{bad-bin}``),
``corrupted_frames`` (a flipped byte in a ``card.binary.get`` frame);
``heartbeats`` interim ``{heartbeat}`` lines before every answer
(``heartbeat_interval`` apart; ``heartbeat_flood`` never stops); ``silent``
answers nothing at all.

Inspection: ``mode`` / ``status_text`` (``dfu.status``), ``hub_mode``,
:meth:`in_dfu_mode`, ``reported_version``, ``card_dfu`` (NOFU configuration),
``stops`` (the ``status``/``err`` of every ``stop``), ``served`` (``(offset,
length, binary)`` of every chunk served), ``requests`` (every parsed request),
``crc_errors``, ``dropped_bytes`` (lost to the receive buffer), ``image`` (the
image the card holds; ``None`` after ``stop``), ``delivered`` (the last image a
host retrieved in full before its ``stop``). State outlives connections.

Models where the reference leaves room: ``body`` comes with every
``dfu.get`` at offset 0; a chunk past the end of the image is shortened; every
reply to a request with a valid ``crc`` carries one (errors and heartbeats
included: note-c PR #74), replies to a garbled request (CRC mismatch, not JSON,
the ``io_errors`` fault) none; a request that is not JSON answers
``{"err":"... {io}"}``; ``hub.set``/``stop`` answer like ``dfu.status``/``{}``.
"""

from __future__ import annotations

import asyncio
import logging

import attrs

from aiodfu.core.errors import LinkLostError
from aiodfu.notecard.protocol import (
    Message,
    encode_json,
    parse_object,
    split_crc,
    stamp_crc,
)
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.notecard.state import (
    DFU_MODE_TIMEOUT,
    BinaryReply,
    NotecardState,
    StatusStyle,
    Storage,
    error,
)
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

log = logging.getLogger("aiodfu.testing.notecard")

RX_BUFFER = 1500


@attrs.define
class NotecardFaults:
    """Faults to inject; tests may change them while the card runs (see the module docs)."""

    silent_requests: set[int] = attrs.field(factory=set)
    truncated_responses: set[int] = attrs.field(factory=set)
    corrupted_responses: set[int] = attrs.field(factory=set)
    wrong_sequence: set[int] = attrs.field(factory=set)
    io_errors: set[int] = attrs.field(factory=set)
    bad_bin: set[int] = attrs.field(factory=set)
    corrupted_frames: set[int] = attrs.field(factory=set)
    heartbeats: int = 0
    heartbeat_interval: float = 0.0
    heartbeat_flood: bool = False
    silent: bool = False


class NotecardEmulator(NotecardState, Emulator):
    """A Blues Notecard; see the module documentation for options, faults and inspection."""

    def __init__(
        self,
        *,
        image: bytes | None = None,
        image_version: str | None = None,
        image_name: str = "host-firmware.bin",
        downloading_polls: int = 0,
        storage: Storage = Storage.ONBOARD_FLASH,
        dfu_entry_delay: float = 0.0,
        dfu_mode_timeout: float = DFU_MODE_TIMEOUT,
        refresh_on_get: bool = False,
        body_in_status: bool = True,
        chunk_md5: bool = True,
        binary_store: bool = True,
        binary_dfu_get: bool = True,
        firmware_version: str = "9.1.1",
        status_style: StatusStyle = StatusStyle.GUIDE,
        crc: bool = True,
        rx_buffer: int = RX_BUFFER,
        rx_idle_gap: float = 0.05,
        request_latency: float = 0.0,
        link_model: LinkModel | None = None,
        faults: NotecardFaults | None = None,
    ) -> None:
        Emulator.__init__(self, link_model=link_model)
        NotecardState.__init__(
            self,
            image=image,
            image_version=image_version,
            image_name=image_name,
            storage=storage,
            dfu_entry_delay=dfu_entry_delay,
            dfu_mode_timeout=dfu_mode_timeout,
            refresh_on_get=refresh_on_get,
            body_in_status=body_in_status,
            chunk_md5=chunk_md5,
            binary_store=binary_store,
            binary_dfu_get=binary_dfu_get,
            downloading_polls=downloading_polls,
            firmware_version=firmware_version,
            status_style=status_style,
        )
        self.crc = crc
        self.rx_buffer = rx_buffer
        self.rx_idle_gap = rx_idle_gap
        self.request_latency = request_latency
        self.faults = faults if faults is not None else NotecardFaults()
        self.requests: list[Message] = []
        self.crc_errors = 0
        self.dropped_bytes = 0
        self.busy = False
        """The card is working on a request (its ``request_latency``)."""
        self._request_count = 0

    def in_dfu_mode(self, now: float | None = None) -> bool:
        """Whether DFU mode is fully active now (or at loop time ``now``)."""
        return super().in_dfu_mode(asyncio.get_running_loop().time() if now is None else now)

    # --- serving -----------------------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        reader = asyncio.get_running_loop().create_task(self._receive(stream, lines))
        try:
            while (line := await lines.get()) is not None:
                await self._answer(stream, line)
            raise LinkLostError("link closed (reading)")
        finally:
            reader.cancel()

    async def _receive(self, stream: ByteStream, lines: asyncio.Queue[bytes | None]) -> None:
        """Split what arrives into lines, losing what overflows the card's receive buffer.

        Reading goes on while a request is being answered, as the card's UART
        interrupt does; a lost link ends the queue with ``None``.
        """
        loop = asyncio.get_running_loop()
        partial = bytearray()
        last_arrival = -1e9
        partial_room = self.rx_buffer
        while True:
            try:
                data = await stream.read()
            except LinkLostError:
                lines.put_nowait(None)
                return
            now = loop.time()
            if now - last_arrival >= self.rx_idle_gap:
                partial_room = self.rx_buffer  # the card drained its buffer during the pause
            last_arrival = now
            for byte in data:
                if byte == 0x0A:
                    lines.put_nowait(bytes(partial).rstrip(b"\r"))
                    partial.clear()
                    partial_room = self.rx_buffer
                elif partial_room > 0:
                    partial.append(byte)
                    partial_room -= 1
                else:
                    self.dropped_bytes += 1

    async def _answer(self, stream: ByteStream, line: bytes) -> None:
        faults = self.faults
        if faults.silent:
            return
        if not line.strip():
            await stream.write(b"\r\n")
            return
        bare, field = split_crc(line)
        try:
            request = parse_object(bare if field is not None else line)
        except ValueError:
            await self._write_line(stream, error("error parsing JSON request {io}"))
            return
        if "cmd" in request and "req" not in request:
            self.requests.append(request)
            self.handle(request, asyncio.get_running_loop().time())
            return
        index = self._request_count
        self._request_count += 1
        self.requests.append(request)
        sequence = None
        if field is not None and self.crc:
            if not field.valid:
                self.crc_errors += 1
                await self._write_line(stream, error("CRC error in request {io}"))
                return
            sequence = field.sequence
        if index in faults.silent_requests:
            return
        if self.request_latency:
            self.busy = True
            try:
                await asyncio.sleep(self.request_latency)
            finally:
                self.busy = False
        await self._heartbeats(stream, sequence)
        if index in faults.io_errors:  # the card saw a garbled request: it cannot echo a CRC
            await self._write_line(stream, error("serial I/O error {io}"))
            return
        reply: Message | BinaryReply
        if index in faults.bad_bin:
            reply = error("binary store is corrupted {bad-bin}")
        else:
            reply = self.handle(request, asyncio.get_running_loop().time())
        response = reply.response if isinstance(reply, BinaryReply) else reply
        if sequence is not None and index in faults.wrong_sequence:
            sequence += 1
        text = self._stamped(response, sequence)
        if index in faults.corrupted_responses:
            text = _flip_middle(text)
        if index in faults.truncated_responses:
            await stream.write(text[: len(text) // 2])
            return
        if isinstance(reply, BinaryReply):
            frame = reply.frame
            if index in faults.corrupted_frames:
                frame = _flip_middle(frame, avoid=0x0A)
            await stream.write(text + b"\r\n" + frame + b"\n")
        else:
            await stream.write(text + b"\r\n")

    async def _heartbeats(self, stream: ByteStream, sequence: int | None) -> None:
        faults = self.faults
        sent = 0
        while faults.heartbeat_flood or sent < faults.heartbeats:
            sent += 1
            heartbeat = {"err": "{heartbeat}", "status": f"busy ({sent})"}
            await stream.write(self._stamped(heartbeat, sequence) + b"\r\n")
            await asyncio.sleep(faults.heartbeat_interval)

    @staticmethod
    def _stamped(response: Message, sequence: int | None) -> bytes:
        """The reply's JSON, with the request's sequence number and a CRC if it had a valid one.

        Every reply to such a request gets one, error replies and heartbeats included (note-c
        PR #74; note-python treats a reply without one as corrupt once the card has sent any).
        """
        text = encode_json(response)
        return text if sequence is None else stamp_crc(text, sequence)

    @staticmethod
    async def _write_line(stream: ByteStream, response: Message) -> None:
        await stream.write(encode_json(response) + b"\r\n")

    @property
    def image(self) -> bytes | None:
        """The host image the card holds (``None`` once a ``stop`` deleted it)."""
        return self._image

    @image.setter
    def image(self, value: bytes | None) -> None:
        self._image = value

    @property
    def saved_image(self) -> bytes | None:
        """The image the card holds, or else the last one a host retrieved in full (``delivered``).

        A ``stop`` deletes the card's copy, so after a completed update this is what the
        host received -- what ``aiodfu emulate notecard --save-image`` writes.
        """
        return self._image if self._image is not None else self.delivered


def _flip_middle(data: bytes, *, avoid: int | None = None) -> bytes:
    """``data`` with its middle byte changed (never into a newline, which would split it)."""
    if not data:
        return data
    index = len(data) // 2
    corrupted = bytearray(data)
    corrupted[index] ^= 0x20
    if corrupted[index] in (0x0A, avoid):
        corrupted[index] ^= 0x01
    return bytes(corrupted)
