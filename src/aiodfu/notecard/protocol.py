"""The Notecard's JSON request interface, sans-IO: framing (reference section 2) and the
DFU requests' responses as typed values (section 3).

Everything here is pure: the host device, the emulator and the property
tests share it.

* Requests are compact JSON, one per line. :func:`stamp_crc` adds the
  ``"crc":"SSSS:CCCCCCCC"`` field (16-bit sequence number, CRC-32 of the text
  without the field); :func:`split_crc` takes it off again and reports what it
  said, for either direction.
* :func:`segments` cuts a request into the at most 250-byte pieces a host must
  write with pauses between them (the card has no flow control).
* :class:`LineFramer` turns received bytes into lines ending in ``\\n``, with a
  bound on their length; the binary store's COBS frames end in ``\\n`` too, so
  the same framer serves both.
* :func:`classify_error` sorts an ``err`` text by its machine tags, which decide
  whether a host retries.
* :class:`DfuStatus`, :class:`ImageInfo`, :class:`BinaryStoreStatus`: the card's
  JSON kept as sent in ``raw``, the fields hosts act on typed. Parsing never
  raises for a field the card left out: firmware versions differ (some report
  ``ready`` without ``body``), and the retrieval decides what it cannot do without.
"""

from __future__ import annotations

import enum
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

SEGMENT_SIZE = 250
"""The most a host may write before pausing (reference 2.1)."""

CRC_FIELD_LENGTH = 22
"""Bytes ``stamp_crc`` adds: ``,"crc":"SSSS:CCCCCCCC"`` (the closing brace was already there)."""

_CRC_TAIL = re.compile(rb'[, ]?"crc":"([0-9A-Fa-f]{4}):([0-9A-Fa-f]{8})"\}$')

Message = dict[str, Any]


def encode_json(message: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the Notecard and both Blues libraries write it."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def stamp_crc(text: bytes, sequence: int, *, upper: bool = True) -> bytes:
    """Add the CRC/sequence field to a compact JSON object (``text`` ends in ``}``).

    note-c writes upper-case hex, note-python lower-case; readers compare
    case-insensitively. An object without fields gets no comma.
    """
    if not text.endswith(b"}"):
        raise ValueError("a JSON object must end in '}'")
    field = f'"crc":"{sequence & 0xFFFF:04X}:{zlib.crc32(text):08X}"'
    if not upper:
        field = field.lower()
    separator = b"" if text.replace(b" ", b"") == b"{}" else b","
    return text[:-1] + separator + field.encode() + b"}"


@attrs.frozen
class CrcField:
    """What a ``crc`` field said: the sequence number and whether the CRC matched."""

    sequence: int
    valid: bool


def split_crc(text: bytes) -> tuple[bytes, CrcField | None]:
    """Take the ``crc`` field off the end of ``text`` (trailing white space ignored).

    Returns the text as it was before stamping and the field's content, or
    ``text`` unchanged and ``None`` if it has no field there. The CRC is
    checked on the raw text, never on re-serialised JSON (floats would change).
    """
    text = text.rstrip()
    match = _CRC_TAIL.search(text)
    if match is None:
        return text, None
    bare = text[: match.start()] + b"}"
    sequence = int(match.group(1), 16)
    valid = int(match.group(2), 16) == zlib.crc32(bare)
    return bare, CrcField(sequence, valid)


def segments(data: bytes, size: int = SEGMENT_SIZE) -> Iterator[bytes]:
    """``data`` in pieces of at most ``size`` bytes."""
    if size <= 0:
        raise ValueError("segment size must be positive")
    for start in range(0, len(data), size):
        yield data[start : start + size]


class LineTooLongError(ValueError):
    """More than the framer's limit arrived without a ``\\n``."""


class LineFramer:
    """Feed bytes in, take ``\\n``-terminated lines out (without the ``\\n``).

    ``limit`` bounds a line, so a card (or a noisy link) that never sends a
    newline cannot make the host buffer without end.
    """

    def __init__(self, limit: int = 32768) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_line(self) -> bytes | None:
        """The next complete line, or ``None``; raises :class:`LineTooLongError` past the limit."""
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self.limit:
                self._buffer.clear()
                raise LineTooLongError(f"more than {self.limit} bytes without a newline")
            return None
        if end > self.limit:
            del self._buffer[: end + 1]
            raise LineTooLongError(f"a line of {end} bytes exceeds the limit of {self.limit}")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    @property
    def pending(self) -> int:
        """Bytes received after the last complete line."""
        return len(self._buffer)

    def clear(self) -> None:
        """Forget buffered bytes (after a resync they can only be the tail of an old reply)."""
        self._buffer.clear()


class ErrorKind(enum.Enum):
    """How a host treats an ``err`` text (reference 2.4)."""

    IO = "io"
    """``{io}`` without ``{not-supported}``: retry after 500 ms."""
    NOT_SUPPORTED = "not-supported"
    """Unknown or corrupted request name: do not retry."""
    BAD_BIN = "bad-bin"
    """The binary store transfer failed: the caller redoes the binary operation."""
    HEARTBEAT = "heartbeat"
    """An interim response: keep waiting, do not resend."""
    APPLICATION = "application"
    """Anything else: the request's own failure, returned to the caller."""


def classify_error(err: str) -> ErrorKind:
    if "{heartbeat}" in err:
        return ErrorKind.HEARTBEAT
    if "{not-supported}" in err:
        return ErrorKind.NOT_SUPPORTED
    if "{io}" in err:
        return ErrorKind.IO
    if "{bad-bin}" in err:
        return ErrorKind.BAD_BIN
    return ErrorKind.APPLICATION


def parse_object(text: bytes) -> Message:
    """Parse one JSON object; raises :class:`ValueError` for anything else."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def request_name(message: Mapping[str, Any]) -> str:
    """The ``req`` (or ``cmd``) name, for messages and errors."""
    name = message.get("req", message.get("cmd"))
    return name if isinstance(name, str) else "?"


# --- the DFU requests' responses (reference section 3) ----------------------------------------


class DfuMode(enum.StrEnum):
    """``dfu.status`` ``mode`` values."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    READY = "ready"
    OUTBOARD_READY = "outboard-ready"
    ERROR = "error"
    COMPLETED = "completed"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@attrs.frozen
class ImageInfo:
    """The ``body`` describing the downloaded host image."""

    length: int | None
    md5: str | None
    crc32: int | None = None
    version: str | None = None
    name: str | None = None
    source: str | None = None
    notes: str | None = None
    type: str | None = None
    raw: Message = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_body(cls, body: Any) -> ImageInfo | None:
        if not isinstance(body, dict):
            return None
        md5 = _str(body.get("md5"))
        return cls(
            length=_int(body.get("length")),
            md5=md5.lower() if md5 else None,
            crc32=_int(body.get("crc32")),
            version=_str(body.get("version")),
            name=_str(body.get("name")),
            source=_str(body.get("source")),
            notes=_str(body.get("notes")),
            type=_str(body.get("type")),
            raw=body,
        )

    @property
    def identity(self) -> tuple[object, ...]:
        """What tells one image from another: a change of it mid-retrieval is an error."""
        return (self.length, self.md5, self.crc32, self.name)


@attrs.frozen
class DfuStatus:
    """A ``dfu.status`` response."""

    mode: str
    status: str | None = None
    on: bool | None = None
    off: bool | None = None
    pending: bool | None = None
    body: ImageInfo | None = None
    raw: Message = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_response(cls, response: Message) -> DfuStatus:
        return cls(
            mode=_str(response.get("mode")) or DfuMode.IDLE,
            status=_str(response.get("status")),
            on=_bool(response.get("on")),
            off=_bool(response.get("off")),
            pending=_bool(response.get("pending")),
            body=ImageInfo.from_body(response.get("body")),
            raw=response,
        )

    @property
    def ready(self) -> bool:
        return self.mode == DfuMode.READY


@attrs.frozen
class BinaryStoreStatus:
    """A ``card.binary`` response: capacity and what the store holds."""

    max: int
    length: int = 0
    cobs: int = 0
    status: str | None = None

    @classmethod
    def from_response(cls, response: Message) -> BinaryStoreStatus:
        return cls(
            max=_int(response.get("max")) or 0,
            length=_int(response.get("length")) or 0,
            cobs=_int(response.get("cobs")) or 0,
            status=_str(response.get("status")),
        )


MAX_CHUNK = 8192
"""``dfu.get`` rejects a larger ``length`` (reference 3.3)."""

NOT_CONNECTED_TAG = "{connected}"
NOT_IN_DFU_MODE = "not currently in the DFU operating mode"
