"""Typed views of the DFU requests' responses (reference section 3).

The card's JSON is kept as sent in ``raw``; the fields hosts act on are typed.
Parsing never raises for a field the card left out: firmware versions differ
(some report ``ready`` without ``body``), and the retrieval decides what it
cannot do without.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from aiodfu.notecard.codec import Message


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
