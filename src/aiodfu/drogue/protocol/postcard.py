"""The subset of postcard 1.0 the serial transport needs, and Status/Command in it.

postcard writes no keys or lengths for structs: fields follow each other in
declaration order. Unsigned integers (and enum discriminants) are LEB128
varints, signed ones zigzag-mapped first; ``Option`` is a ``00``/``01`` tag;
byte strings are a varint length and the bytes. Decoding ignores trailing
data, as postcard's ``from_bytes`` does -- serial frames end in stale bytes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiodfu.drogue.errors import MalformedMessageError
from aiodfu.drogue.protocol.messages import (
    COMMANDS,
    SCHEMA,
    U32_MAX,
    Command,
    Kind,
    Message,
    Status,
    UpdateStatus,
)

M = TypeVar("M", bound=Message)

_MAX_VARINT_BYTES = 5  # a u32 needs at most 5 groups of 7 bits


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 of a u32."""
    if not 0 <= value <= U32_MAX:
        raise ValueError(f"{value} is not a u32")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def zigzag_encode(value: int) -> int:
    """Map an i32 to the u32 postcard sends (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...)."""
    if not -(1 << 31) <= value < 1 << 31:
        raise ValueError(f"{value} is not an i32")
    return ((value << 1) ^ (value >> 31)) & U32_MAX


def zigzag_decode(value: int) -> int:
    """Inverse of :func:`zigzag_encode`."""
    return (value >> 1) ^ -(value & 1)


class Reader:
    """Reads postcard values from a buffer; every failure is a :class:`MalformedMessageError`."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data)
        self.position = 0

    def varint(self) -> int:
        value = 0
        for index in range(_MAX_VARINT_BYTES):
            byte = self._take(1)[0]
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if value > U32_MAX:
                    raise self._error("varint does not fit a u32")
                return value
        raise self._error("varint longer than 5 bytes")

    def signed(self) -> int:
        return zigzag_decode(self.varint())

    def bytes(self) -> bytes:
        return bytes(self._take(self.varint()))

    def option_tag(self) -> bool:
        tag = self._take(1)[0]
        if tag > 1:
            raise self._error(f"option tag {tag:#04x} (only 00 and 01 exist)")
        return tag == 1

    def _take(self, count: int) -> memoryview:
        end = self.position + count
        if end > len(self._data):
            raise self._error("message ends early")
        piece = self._data[self.position : end]
        self.position = end
        return piece

    def _error(self, what: str) -> MalformedMessageError:
        return MalformedMessageError(f"malformed postcard: {what} at byte {self.position}")


def _encode_fields(message: Message, out: bytearray) -> None:
    for name, kind in SCHEMA[type(message)]:
        value = getattr(message, name)
        if kind is Kind.BYTES:
            out += encode_varint(len(value))
            out += value
        elif kind is Kind.U32:
            out += encode_varint(value)
        elif value is None:
            out.append(0)
        else:
            out.append(1)
            if kind is Kind.OPTIONAL_U32:
                out += encode_varint(value)
            else:
                _encode_fields(value, out)


def _decode_fields(cls: type[M], reader: Reader) -> M:
    values: dict[str, Any] = {}
    for name, kind in SCHEMA[cls]:
        if kind is Kind.BYTES:
            values[name] = reader.bytes()
        elif kind is Kind.U32:
            values[name] = reader.varint()
        elif not reader.option_tag():
            values[name] = None
        elif kind is Kind.OPTIONAL_U32:
            values[name] = reader.varint()
        else:
            values[name] = _decode_fields(UpdateStatus, reader)
    return cls(**values)


def encode(message: Status | Command) -> bytes:
    """The postcard bytes of a Status or a Command (commands start with their variant index)."""
    out = bytearray()
    if not isinstance(message, Status):
        out += encode_varint(COMMANDS.index(type(message)))
    _encode_fields(message, out)
    return bytes(out)


def decode_status(data: bytes | bytearray | memoryview) -> Status:
    """A Status from the start of ``data``; trailing bytes are ignored."""
    return _decode_fields(Status, Reader(data))


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """A Command from the start of ``data``; trailing bytes are ignored."""
    reader = Reader(data)
    variant = reader.varint()
    if variant >= len(COMMANDS):
        raise MalformedMessageError(f"malformed postcard: unknown command variant {variant}")
    command: Command = _decode_fields(COMMANDS[variant], reader)
    return command
