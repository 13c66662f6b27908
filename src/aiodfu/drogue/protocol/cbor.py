"""Status and Command in serde_cbor's two forms, through cbor2.

serde_cbor writes a struct as a definite-length map with *every* field
(``None`` as ``null``) in declaration order, keyed by field name ("named",
``to_vec``) or by field index ("packed", ``to_vec_packed``); an enum variant
is a one-entry map keyed by variant name or index. Devices send packed
Status, drgdfu's cloud client named; Drogue Ajour answers packed -- so
decoding accepts both (even mixed), ignores unknown keys and takes a missing
optional field as ``None``, as serde_cbor does.

cbor2 joins indefinite-length byte strings silently, but the device's
borrowed ``Bytes`` type rejects them, so :func:`_check_well_formed` walks
the item heads first and refuses them (and trailing data) the way the device would.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cbor2

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

_INDEFINITE = 31
_BREAK = 0xFF


def _fields_map(message: Message, packed: bool) -> dict[object, object]:
    out: dict[object, object] = {}
    for index, (name, kind) in enumerate(SCHEMA[type(message)]):
        value = getattr(message, name)
        if kind is Kind.OPTIONAL_UPDATE and value is not None:
            value = _fields_map(value, packed)
        out[index if packed else name] = value
    return out


def encode(message: Status | Command, *, packed: bool = True) -> bytes:
    """serde_cbor's encoding: packed (``to_vec_packed``, the default) or named (``to_vec``)."""
    body = _fields_map(message, packed)
    if not isinstance(message, Status):
        kind = type(message)
        body = {COMMANDS.index(kind) if packed else kind.__name__: body}
    return cbor2.dumps(body)


def _malformed(what: str) -> MalformedMessageError:
    return MalformedMessageError(f"malformed CBOR: {what}")


def _head(data: bytes, position: int) -> tuple[int, int, int, int]:
    """(major type, additional info, argument, position after the head)."""
    if position >= len(data):
        raise _malformed("ends early")
    initial = data[position]
    major, info = initial >> 5, initial & 0x1F
    position += 1
    if info < 24 or info == _INDEFINITE:
        return major, info, info, position
    if info > 27:
        raise _malformed(f"reserved additional information {info} at byte {position - 1}")
    size = 1 << (info - 24)
    if position + size > len(data):
        raise _malformed("ends early")
    return major, info, int.from_bytes(data[position : position + size], "big"), position + size


def _skip_item(data: bytes, position: int) -> int:
    """Position after the item at ``position``; rejects indefinite-length byte/text strings."""
    major, info, argument, position = _head(data, position)
    if info == _INDEFINITE:
        if major in (2, 3):
            raise _malformed("indefinite-length string (the device accepts definite only)")
        if major in (4, 5):
            while position < len(data) and data[position] != _BREAK:
                position = _skip_item(data, position)
                if major == 5:
                    position = _skip_item(data, position)
            if position >= len(data):
                raise _malformed("ends early")
            return position + 1
        if major != 7:
            raise _malformed(f"indefinite length on major type {major}")
        raise _malformed("unexpected break")
    if major in (2, 3):
        if position + argument > len(data):
            raise _malformed("ends early")
        return position + argument
    if major in (4, 5):
        for _ in range(argument * (2 if major == 5 else 1)):
            position = _skip_item(data, position)
    elif major == 6:
        position = _skip_item(data, position)
    return position


def _check_well_formed(data: bytes) -> None:
    end = _skip_item(data, 0)
    if end != len(data):
        raise _malformed(f"{len(data) - end} trailing bytes")


def _load(data: bytes) -> object:
    data = bytes(data)
    _check_well_formed(data)
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise _malformed(str(exc)) from exc


def _field(kind: Kind, name: str, value: object) -> object:
    if kind is Kind.BYTES:
        if not isinstance(value, bytes):
            raise _malformed(f"{name} must be a byte string, not {type(value).__name__}")
        return value
    if kind is Kind.OPTIONAL_UPDATE:
        return None if value is None else _from_map(UpdateStatus, value)
    if value is None and kind is Kind.OPTIONAL_U32:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
        raise _malformed(f"{name} must be a u32, not {value!r}")
    return value


def _from_map(cls: type[M], body: object) -> M:
    if not isinstance(body, dict):
        raise _malformed(f"{cls.__name__} must be a map, not {type(body).__name__}")
    values: dict[str, Any] = {}
    for index, (name, kind) in enumerate(SCHEMA[cls]):
        if name in body:
            raw = body[name]
        elif index in body:
            raw = body[index]
        elif kind in (Kind.OPTIONAL_U32, Kind.OPTIONAL_UPDATE):
            raw = None
        else:
            raise _malformed(f"{cls.__name__} lacks its {name} field")
        values[name] = _field(kind, name, raw)
    return cls(**values)


def decode_status(data: bytes) -> Status:
    """A Status in either serde_cbor form."""
    return _from_map(Status, _load(data))


def decode_command(data: bytes) -> Command:
    """A Command in either serde_cbor form."""
    body = _load(data)
    if not isinstance(body, dict) or len(body) != 1:
        raise _malformed("a command is a map with exactly one variant entry")
    ((variant, fields),) = body.items()
    names = [kind.__name__ for kind in COMMANDS]
    if isinstance(variant, str) and variant in names:
        kind = COMMANDS[names.index(variant)]
    elif isinstance(variant, int) and not isinstance(variant, bool) and 0 <= variant < len(names):
        kind = COMMANDS[variant]
    else:
        raise _malformed(f"unknown command variant {variant!r}")
    command: Command = _from_map(kind, fields)
    return command
