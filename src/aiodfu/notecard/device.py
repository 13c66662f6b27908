"""The Notecard as a device: its link's lifecycle and one JSON transaction at a time, done robustly.

:class:`NotecardDevice` is the :class:`~aiodfu.core.link.DeviceLink` of the
backend. Its handshake on every new link is the reset of reference 2.6
(send ``\\n`` until only CR/LF comes back); a transient failure is resynced
in place, or by reopening the link when it was lost or stalled (no answer to
a resync); its release, however a
session ends, re-aligns the framing, empties a binary store a retrieval used
and leaves DFU mode if it was entered -- so the card syncs again and a fresh
session finds it as it would after a clean close-out (its image kept).

Transactions follow note-c's ``NoteTransaction`` (reference 2.3-2.6):
requests are written in 250-byte segments with pauses between them (none
after the last), stamped with a CRC and a sequence number that stays the same
across the retries of one transaction; responses are checked the same way,
error replies included when they carry the field. ``{io}`` errors, CRC or
sequence mismatches, malformed JSON, silence and I2C bus glitches are
retried after 500 ms, all but the first after a resync that re-aligns the
line framing; ``{heartbeat}`` interim responses restart the response timer
without re-sending (note-python re-sends: a bug this device does not copy).
Every wait is bounded, heartbeats included, and a response longer than
``max_response`` bytes is an error, not an unbounded buffer. A lost link is
not retried here: it raises :class:`~aiodfu.core.errors.LinkLostError` for
the caller (:meth:`NotecardDevice.robustly`, the transfer engine) to recover.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiodfu.core.errors import DfuError, DfuTimeoutError, LinkLostError
from aiodfu.core.link import DeviceLink
from aiodfu.core.session import Connector
from aiodfu.core.timeouts import deadline, wait_within
from aiodfu.core.transfer import RetryPolicy
from aiodfu.notecard import cobs
from aiodfu.notecard.errors import (
    BinaryTransferError,
    CorruptResponseError,
    NotecardIoError,
    NotecardRequestError,
    RequestNotSupportedError,
    ResyncFailedError,
)
from aiodfu.notecard.protocol import (
    SEGMENT_SIZE,
    ErrorKind,
    LineFramer,
    LineTooLongError,
    Message,
    classify_error,
    encode_json,
    parse_object,
    request_name,
    segments,
    split_crc,
    stamp_crc,
)
from aiodfu.notecard.timeouts import DEFAULT_RETRY, Timeouts
from aiodfu.transports.base import ByteStream
from aiodfu.transports.i2c import I2cError

log = logging.getLogger("aiodfu.notecard")

TRANSACTION_ATTEMPTS = 6
"""note-c: the first attempt and up to 5 retries."""
RESET_ATTEMPTS = 10
DEFAULT_MAX_RESPONSE = 32768
"""Enough for an 8192-byte base64 chunk (~11 KB of JSON) or its binary frame, with room."""
_Retryable = (
    DfuTimeoutError,
    CorruptResponseError,
    NotecardIoError,
    BinaryTransferError,
    I2cError,  # a NACK or a short read on serial-over-I2C
)


class NotecardDevice(DeviceLink[ByteStream]):
    """One Notecard over the byte streams ``connector`` opens (a serial port, serial-over-I2C).

    ``baudrate`` (when known) lengthens each segment pause by the segment's
    wire time, so the card really sees a 250 ms gap even when the port
    buffers the write. ``crc=False`` talks to firmware older than 2023-06
    without the field. ``retry`` governs reconnecting and :meth:`robustly`;
    one transaction makes ``attempts`` attempts of its own first.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        baudrate: int | None = None,
        crc: bool = True,
        attempts: int = TRANSACTION_ATTEMPTS,
        max_response: int = DEFAULT_MAX_RESPONSE,
        segment_size: int = SEGMENT_SIZE,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.timeouts = timeouts or Timeouts()
        super().__init__(connector, retry=retry or DEFAULT_RETRY, open_timeout=self.timeouts.open)
        self.baudrate = baudrate
        self.crc = crc
        self.attempts = attempts
        self.segment_size = segment_size
        self.sequence = 0
        self.card_sends_crc = False
        """Sticky: once the card has sent a CRC, a response without one is corrupt."""
        self.in_dfu_mode = False
        """This host put the card in DFU mode (``hub.set mode:dfu``) and has not left it yet."""
        self.binary_store_used = False
        """A retrieval staged chunks in the card's binary store and has not emptied it yet."""
        self._framer = LineFramer(max_response)
        self._reset_required = True
        self._lock = asyncio.Lock()

    # --- the link's lifecycle (DeviceLink hooks) ---------------------------------------------

    def is_alive(self, link: ByteStream) -> bool:
        return not link.closed

    async def attach(self, link: ByteStream) -> None:
        self._framer.clear()
        self._reset_required = True

    async def handshake(self) -> None:
        """The reset procedure of reference 2.6 on a fresh link."""
        async with self._lock:
            await self._resync()

    async def resync(self, error: DfuError | None = None) -> None:
        """After a failure: reopen a lost link, or re-align the framing on a live one.

        A link on which the last resync got no answer at all is reopened too: it may be
        up but stalled (a wedged adapter), which only a fresh link cures.
        """
        if isinstance(error, LinkLostError | ResyncFailedError) or not self.connected:
            await self.reopen()
        await self.handshake()

    async def on_release(self) -> None:
        """Re-align the framing, empty the binary store we used, leave DFU mode we entered."""
        if self.binary_store_used:
            await self.transaction({"req": "card.binary", "delete": True})
            self.binary_store_used = False
        if self.in_dfu_mode:
            await self.transaction({"req": "hub.set", "mode": "dfu-completed"})
            self.in_dfu_mode = False
        if self._reset_required:
            await self.handshake()

    @property
    def stream(self) -> ByteStream:
        """The open byte stream (:class:`LinkLostError` when there is none)."""
        return self.link

    async def _resync(self) -> None:
        """Send ``\\n`` until the card answers with nothing but CR/LF (up to 10 times)."""
        stream = self.stream
        await asyncio.sleep(self.timeouts.reset_settle)
        loop = asyncio.get_running_loop()
        async with deadline(self.timeouts.transaction, "reset"):
            for attempt in range(1, RESET_ATTEMPTS + 1):
                try:
                    await wait_within(stream.write(b"\n"), self.timeouts.first_byte, "reset")
                except I2cError as exc:  # no acknowledge (card busy or resetting): try again
                    log.debug("reset attempt %d: %s", attempt, exc)
                    continue
                received = other = False
                window_end = loop.time() + self.timeouts.reset_drain
                while (remaining := window_end - loop.time()) > 0:
                    try:
                        data = await wait_within(stream.read(), remaining, "reset drain")
                    except DfuTimeoutError:
                        break
                    except I2cError as exc:  # the bus glitched: this attempt saw noise
                        log.debug("reset drain: %s", exc)
                        received = other = True
                        break
                    received = True
                    if data.strip(b"\r\n"):
                        other = True
                        window_end = loop.time() + self.timeouts.reset_drain
                if received and not other:
                    self._framer.clear()
                    self._reset_required = False
                    return
                log.debug("reset attempt %d: %s", attempt, "noise" if received else "silence")
                await asyncio.sleep(self.timeouts.reset_pause)
        raise ResyncFailedError(
            f"the Notecard did not answer a bare newline with CR/LF in {RESET_ATTEMPTS} attempts",
            operation="reset",
        )

    # --- transactions ------------------------------------------------------------------------

    async def command(self, message: Mapping[str, Any]) -> None:
        """Send a ``{"cmd":...}``: fire and forget, no CRC, no response, no retry."""
        if "cmd" not in message:
            raise ValueError("a command needs a 'cmd' field")
        async with self._lock:
            if self._reset_required:
                await self._resync()
            await self._send(encode_json(message) + b"\n", request_name(message))

    async def transaction(
        self, message: Mapping[str, Any], *, timeout: float | None = None
    ) -> Message:
        """Send a ``{"req":...}`` and return its response, retried per note-c's rules.

        An ``err`` response raises :class:`NotecardRequestError` (``status`` =
        the text), :class:`RequestNotSupportedError` for ``{not-supported}``,
        :class:`BinaryTransferError` for ``{bad-bin}``. ``timeout`` replaces
        the first-byte timeout for requests the card takes long over.
        """
        response, _ = await self._transact(message, timeout=timeout, binary=False)
        return response

    async def binary_transaction(
        self, message: Mapping[str, Any], *, timeout: float | None = None
    ) -> tuple[Message, bytes]:
        """A request whose JSON line is followed by a COBS frame (``card.binary.get``).

        Returns the response and the decoded bytes. The request is idempotent,
        so a garbled frame is retried like a garbled response.
        """
        response, frame = await self._transact(message, timeout=timeout, binary=True)
        assert frame is not None
        return response, frame

    async def _transact(
        self, message: Mapping[str, Any], *, timeout: float | None, binary: bool
    ) -> tuple[Message, bytes | None]:
        if "req" not in message:
            raise ValueError("a request needs a 'req' field")
        name = request_name(message)
        text = encode_json(message)
        async with self._lock:
            sequence = self.sequence
            line = (stamp_crc(text, sequence) if self.crc else text) + b"\n"
            try:
                return await self._attempts(line, name, sequence, timeout, binary)
            finally:
                self.sequence = (sequence + 1) & 0xFFFF

    async def _attempts(
        self, line: bytes, name: str, sequence: int, timeout: float | None, binary: bool
    ) -> tuple[Message, bytes | None]:
        last: DfuError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                if self._reset_required:
                    await self._resync()
                async with deadline(self.timeouts.transaction, name):
                    await self._send(line, name)
                    response = await self._receive(name, sequence, timeout)
                    self._raise_for_error(response, name)
                    frame = await self._receive_frame(name) if binary else None
                return response, frame
            except LinkLostError as exc:
                self._reset_required = True
                raise exc.locate(name) from None
            except asyncio.CancelledError:
                self._reset_required = True  # a request may be half written: re-align first
                raise
            except _Retryable as exc:
                last = exc
                if not isinstance(exc, NotecardIoError):
                    self._reset_required = True  # the framing may be off: re-align first
                if isinstance(exc, BinaryTransferError) and exc.status is not None:
                    raise  # {bad-bin} from the card: the caller redoes the binary operation
                log.info("%s: attempt %d failed (%s)", name, attempt, exc)
                if attempt < self.attempts:
                    await asyncio.sleep(self.timeouts.retry_pause)
        self._reset_required = True
        assert last is not None
        raise last

    async def _send(self, line: bytes, name: str) -> None:
        stream = self.stream
        log.debug("-> %r", line)
        for index, segment in enumerate(segments(line, self.segment_size)):
            if index:
                await asyncio.sleep(
                    self.timeouts.segment_pause + self._wire_time(self.segment_size)
                )
            await wait_within(stream.write(segment), self.timeouts.first_byte, name)

    def _wire_time(self, count: int) -> float:
        return 0.0 if self.baudrate is None else count * 10 / self.baudrate

    async def _read_line(self, name: str, first: float) -> bytes:
        """The next line, waiting ``first`` s for its first byte, then ``inter_byte`` s per read."""
        waited = self._framer.pending > 0
        while True:
            try:
                line = self._framer.next_line()
            except LineTooLongError as exc:
                raise CorruptResponseError(str(exc), operation=name) from None
            if line is not None:
                return line
            limit = self.timeouts.inter_byte if waited else first
            data = await wait_within(self.stream.read(), limit, name)
            self._framer.feed(data)
            waited = True

    async def _receive(self, name: str, sequence: int, timeout: float | None) -> Message:
        first = self.timeouts.first_byte if timeout is None else timeout
        while True:
            raw = (await self._read_line(name, first)).rstrip()
            if not raw:
                continue  # a stray CR LF (the echo of a reset) is not a response
            log.debug("<- %r", raw)
            bare, field = split_crc(raw)
            if field is not None and self.crc:
                self.card_sends_crc = True
                if not field.valid:
                    raise CorruptResponseError("response CRC mismatch", operation=name)
                if field.sequence != sequence:
                    raise CorruptResponseError(
                        f"response for sequence {field.sequence}, expected {sequence}",
                        operation=name,
                    )
            elif b'"err":"' in raw:
                pass  # an error without a CRC: the card's answer to a garbled request (note-c)
            elif self.crc and (self.card_sends_crc or b'"crc":' in raw):
                raise CorruptResponseError("response without a valid CRC field", operation=name)
            response = self._parse(bare, name)
            err = response.get("err")
            if isinstance(err, str) and classify_error(err) is ErrorKind.HEARTBEAT:
                log.info("%s: card busy: %s", name, response.get("status", ""))
                continue
            return response

    @staticmethod
    def _parse(raw: bytes, name: str) -> Message:
        try:
            return parse_object(raw)
        except ValueError as exc:
            raise CorruptResponseError(
                f"response is not a JSON object: {exc}", operation=name
            ) from None

    @staticmethod
    def _raise_for_error(response: Message, name: str) -> None:
        err = response.get("err")
        if err is None:
            return
        text = str(err)
        kind = classify_error(text)
        if kind is ErrorKind.IO:
            raise NotecardIoError("the card reported an I/O error", operation=name, status=text)
        if kind is ErrorKind.NOT_SUPPORTED:
            raise RequestNotSupportedError(
                "the card does not support this request", operation=name, status=text
            )
        if kind is ErrorKind.BAD_BIN:
            raise BinaryTransferError(
                "the card's binary store transfer failed", operation=name, status=text
            )
        raise NotecardRequestError("the card refused the request", operation=name, status=text)

    async def _receive_frame(self, name: str) -> bytes:
        """The COBS frame after a binary response's JSON line, decoded."""
        try:
            encoded = await self._read_line(name, self.timeouts.inter_byte)
        except CorruptResponseError as exc:
            raise BinaryTransferError(exc.message, operation=name) from None
        try:
            return cobs.decode(encoded)
        except cobs.CobsDecodeError as exc:
            raise BinaryTransferError(f"corrupt binary frame: {exc}", operation=name) from None


NotecardClient = NotecardDevice
"""The device's earlier name (it was only the request client then), kept."""


# --- diagnosis -----------------------------------------------------------------------------------


def looks_like_notecard(data: bytes) -> bool:
    """Whether ``data`` read from a port is what a Notecard sends -- CR/LF answering a bare
    newline (the reset), or a JSON object -- rather than noise, which is what a link at the
    wrong baud rate delivers.

    A diagnosis aid for a quick "does it answer" check (:mod:`aiodfu.cli.probe`).
    """
    if data and not data.strip(b"\r\n"):
        return True
    return b'{"' in data and b"}" in data
