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
    Seconds the card spends on each request before answering (``command_latency``).
``link_model``
    The :class:`~aiodfu.transports.memory.LinkModel` of :meth:`connect` and
    :func:`~aiodfu.testing.pty.serve_pty` (UART pacing: 9600 on the main UART,
    115200 on AUX).
``faults``
    A :class:`NotecardFaults`, mutable while the card runs.

Faults (:class:`NotecardFaults`, :mod:`aiodfu.testing.notecard.faults`) are
the shared device faults (a ``plan`` of triggered faults, ``silent``,
``unsolicited``, the ``fired`` record; ``FAULT_VOCABULARY`` says what the card
can fail at: its ``err`` replies at a request or at a ``dfu.get`` offset, a
restart, silence, stray output, latency), over serial and over I2C alike,
plus the card's own per-request knobs: ``silent_requests``,
``truncated_responses``, ``corrupted_responses``, ``wrong_sequence``,
``io_errors``, ``bad_bin``, ``corrupted_frames``, ``heartbeats``.
``reboot_time`` is how long a restart keeps the card away (over I2C it does
not acknowledge its address meanwhile).

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

(A little over 400 lines: a quarter of them is this page, the device's documentation.)
"""

from __future__ import annotations

import asyncio
import logging

from aiodfu.core.errors import LinkLostError
from aiodfu.notecard.protocol import (
    Message,
    encode_json,
    parse_object,
    split_crc,
    stamp_crc,
)
from aiodfu.testing.device_faults import ErrorReply
from aiodfu.testing.faulty_device import FaultyDevice, Outcome
from aiodfu.testing.notecard.faults import FAULT_VOCABULARY, NotecardFaults, error_text
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

__all__ = ["NotecardEmulator"]

RX_BUFFER = 1500


class NotecardEmulator(NotecardState, FaultyDevice):
    """A Blues Notecard; see the module documentation for options, faults and inspection."""

    FAULT_VOCABULARY = FAULT_VOCABULARY
    faults: NotecardFaults

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
        reboot_time: float = 0.0,
        link_model: LinkModel | None = None,
        faults: NotecardFaults | None = None,
    ) -> None:
        FaultyDevice.__init__(
            self,
            faults=faults if faults is not None else NotecardFaults(),
            link_model=link_model,
            reboot_time=reboot_time,
            command_latency=request_latency,
        )
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
        self.requests: list[Message] = []
        self.crc_errors = 0
        self.dropped_bytes = 0
        self.boots = 0
        """Restarts so far (a :class:`~aiodfu.testing.device_faults.Reboot`)."""
        self.busy = False
        """The card is working on a request (its ``request_latency``)."""
        self._request_count = 0
        self._partial = bytearray()
        self._lines: asyncio.Queue[bytes] = asyncio.Queue()

    @property
    def request_latency(self) -> float:
        """Seconds the card spends on each request before answering."""
        return self.command_latency

    @request_latency.setter
    def request_latency(self, value: float) -> None:
        self.command_latency = value

    def in_dfu_mode(self, now: float | None = None) -> bool:
        """Whether DFU mode is fully active now (or at loop time ``now``)."""
        return super().in_dfu_mode(asyncio.get_running_loop().time() if now is None else now)

    def restart(self) -> tuple[bytes, float]:
        """The card restarts: its RAM goes (see :mod:`~aiodfu.testing.notecard.faults`)."""
        self.boots += 1
        self.lose_ram()
        self._partial.clear()
        while not self._lines.empty():
            self._lines.get_nowait()
        return b"", self.reboot_time  # a card prints nothing on its request port when back

    async def answer_delay(self) -> None:
        self.busy = True
        try:
            await super().answer_delay()
        finally:
            self.busy = False

    # --- serving -----------------------------------------------------------------------------

    async def serve(self, stream: ByteStream) -> None:
        """Read lines in one task and answer them in another, as the card's UART interrupt
        keeps receiving while a request is being worked on."""
        self._stream = stream
        self._partial.clear()
        self._lines = lines = asyncio.Queue[bytes]()
        loop = asyncio.get_running_loop()
        tasks = {loop.create_task(self._receive(stream)), loop.create_task(self._answer_all(lines))}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise LinkLostError("link closed (reading)")
        finally:
            for task in tasks:
                task.cancel()

    async def _answer_all(self, lines: asyncio.Queue[bytes]) -> None:
        while True:
            line = await lines.get()
            if not self.unresponsive:
                await self._answer(line)
                await self.idle()

    async def _receive(self, stream: ByteStream) -> None:
        """Split what arrives into lines, losing what overflows the card's receive buffer
        (and what arrives while it is away: its buffer starts empty when it is back)."""
        loop = asyncio.get_running_loop()
        partial = self._partial
        last_arrival = -1e9
        partial_room = self.rx_buffer
        while True:
            data = await stream.read()
            if self.unresponsive:
                partial.clear()
                continue
            now = loop.time()
            if now - last_arrival >= self.rx_idle_gap:
                partial_room = self.rx_buffer  # the card drained its buffer during the pause
            last_arrival = now
            for byte in data:
                if byte == 0x0A:
                    self._lines.put_nowait(bytes(partial).rstrip(b"\r"))
                    partial.clear()
                    partial_room = self.rx_buffer
                elif partial_room > 0:
                    partial.append(byte)
                    partial_room -= 1
                else:
                    self.dropped_bytes += 1

    async def _answer(self, line: bytes) -> None:
        faults = self.faults
        if not line.strip():
            await self.send(b"\r\n")
            return
        bare, field = split_crc(line)
        try:
            request = parse_object(bare if field is not None else line)
        except ValueError:
            await self._write_line(error("error parsing JSON request {io}"))
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
                await self._write_line(error("CRC error in request {io}"))
                return
            sequence = field.sequence
        if index in faults.silent_requests:
            return
        boots = self.boots
        outcome = await self._take(request)
        if outcome is Outcome.HALT:
            return
        await self._heartbeats(sequence)
        if self.boots != boots:
            return  # the card restarted while working on it: the request is lost
        if index in faults.io_errors:  # the card saw a garbled request: it cannot echo a CRC
            await self._write_line(error("serial I/O error {io}"))
            return
        reply: Message | BinaryReply
        if isinstance(outcome, ErrorReply):
            reply = error(error_text(outcome.code, str(request.get("req"))))
        elif index in faults.bad_bin:
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
            await self.send(text[: len(text) // 2])
            return
        if isinstance(reply, BinaryReply):
            frame = reply.frame
            if index in faults.corrupted_frames:
                frame = _flip_middle(frame, avoid=0x0A)
            await self.send(text + b"\r\n" + frame + b"\n")
        else:
            await self.send(text + b"\r\n")

    async def _take(self, request: Message) -> ErrorReply | Outcome:
        """The planned faults act on ``request`` (and, for a ``dfu.get``, on the offsets its
        chunk covers), then the card's latency; an error, a halt, or proceed."""
        name = str(request.get("req"))
        offset, length = request.get("offset", 0), request.get("length", 0)
        chunk = name == "dfu.get" and isinstance(offset, int) and isinstance(length, int)
        shown = f"{name} offset={offset} length={length}" if chunk else name
        outcome = await self.take_command(name, shown=shown)
        if chunk and outcome is not Outcome.HALT and self.image is not None:
            end = min(offset + length, len(self.image))
            waiting = self.next_fault_offset(offset, end) if length > 0 else None
            if waiting is not None:
                at_offset = await self.take_offset(waiting)
                if at_offset is Outcome.HALT or isinstance(outcome, Outcome):
                    outcome = at_offset
        return outcome

    async def _heartbeats(self, sequence: int | None) -> None:
        faults = self.faults
        sent = 0
        while faults.heartbeat_flood or sent < faults.heartbeats:
            sent += 1
            heartbeat = {"err": "{heartbeat}", "status": f"busy ({sent})"}
            await self.send(self._stamped(heartbeat, sequence) + b"\r\n")
            await asyncio.sleep(faults.heartbeat_interval)

    @staticmethod
    def _stamped(response: Message, sequence: int | None) -> bytes:
        """The reply's JSON, with the request's sequence number and a CRC if it had a valid one.

        Every reply to such a request gets one, error replies and heartbeats included (note-c
        PR #74; note-python treats a reply without one as corrupt once the card has sent any).
        """
        text = encode_json(response)
        return text if sequence is None else stamp_crc(text, sequence)

    async def _write_line(self, response: Message) -> None:
        await self.send(encode_json(response) + b"\r\n")

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
