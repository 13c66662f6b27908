"""The emulated Notecard's request handlers and DFU state, without I/O.

:class:`NotecardState` answers one parsed request at a time, given the
current time; :class:`~aiodfu.testing.notecard.NotecardEmulator` does the
serial side (framing, CRC, buffer, faults, pacing). Where the protocol
reference leaves behaviour open, the model chosen is documented in the
emulator's module docstring.
"""

from __future__ import annotations

import base64
import enum
import time
from typing import Any

import attrs

from aiodfu.core import integrity
from aiodfu.notecard import cobs
from aiodfu.notecard.protocol import MAX_CHUNK, DfuMode, Message

BINARY_STORE_CAPACITY = 130554
"""``card.binary`` ``max`` as reported by a real card (reference 3.4)."""
DFU_MODE_TIMEOUT = 15 * 60.0
NOT_IN_DFU_MODE = "not currently in the DFU operating mode (see hub.set)"
NOT_YET_ACTIVE = "DFU mode is not yet fully active: connected (session open) {connected}"
DEFAULT_STOP_STATUS = "successful firmware update"
HUB_MODES = frozenset({"periodic", "continuous", "minimum", "off", "dfu", "dfu-completed", "-"})


class StatusStyle(enum.Enum):
    """Which of Blues' two published samples the ``dfu.status`` texts follow.

    They disagree; hosts must parse both. ``GUIDE`` (the default) is the DFU guide
    (dev.blues.io "Notecard API Requests for DFU"): idle has no ``status``, a
    download in progress reads ``downloaded 66% (28672/42892)``. Its samples are
    self-consistent (that byte count is the ready sample's image length), so
    they read as captured from a card. ``SCHEMA`` is blues/notecard-schema's
    samples: idle ``no download in progress``, downloading ``downloading: 45%
    complete`` with ``pending: true``; those samples are illustrative (its
    binary ``dfu.get`` sample has a COBS length no 8192-byte chunk can have).
    """

    GUIDE = "guide"
    SCHEMA = "schema"


class Storage(enum.Enum):
    """Where the card keeps the downloaded host image, which decides whether DFU mode is needed."""

    ONBOARD_FLASH = "onboard-flash"
    """Serves ``dfu.get`` at any time, while still syncing."""
    MODEM_FS = "modem-fs"
    """The legacy profile: serves ``dfu.get`` only in DFU mode (``hub.set mode:dfu``)."""


@attrs.frozen
class BinaryReply:
    """A JSON response followed by a COBS frame (``card.binary.get``)."""

    response: Message
    frame: bytes


def error(text: str) -> Message:
    return {"err": text}


def unknown_request(name: str) -> str:
    """The card's answer to a request it does not know (note-c PR #142: both tags)."""
    return f"unknown request: {name} {{io}}{{not-supported}}"


class NotecardState:
    """DFU-relevant state of one Notecard; ``handle`` answers a request."""

    def __init__(
        self,
        *,
        image: bytes | None,
        image_version: str | None,
        image_name: str,
        storage: Storage,
        dfu_entry_delay: float,
        dfu_mode_timeout: float,
        refresh_on_get: bool,
        body_in_status: bool,
        chunk_md5: bool,
        binary_store: bool,
        binary_dfu_get: bool,
        downloading_polls: int,
        firmware_version: str,
        status_style: StatusStyle = StatusStyle.GUIDE,
    ) -> None:
        self.status_style = status_style
        self.storage = storage
        self.dfu_entry_delay = dfu_entry_delay
        self.dfu_mode_timeout = dfu_mode_timeout
        self.refresh_on_get = refresh_on_get
        self.body_in_status = body_in_status
        self.chunk_md5 = chunk_md5
        self.binary_store_supported = binary_store
        self.binary_dfu_get = binary_dfu_get
        self.firmware_version = firmware_version
        self.downloads_on = True
        self.vvalue: str | None = None
        self.reported_version: str | dict[str, Any] | None = None
        self.hub_mode = "periodic"
        self.card_dfu: dict[str, Any] = {"name": ""}
        self.stops: list[Message] = []
        self.served: list[tuple[int, int, bool]] = []
        self.binary_store: bytes | None = None
        self._previous_hub_mode = "periodic"
        self._dfu_entered_at: float | None = None
        self._dfu_refreshed_at = 0.0
        self.image: bytes | None = None
        self.delivered: bytes | None = None
        """The last image a host retrieved in full before a ``stop`` deleted it."""
        self._fetched: list[tuple[int, int]] = []
        self.body: Message = {}
        self.mode: str = DfuMode.IDLE
        self.status_text: str | None = None
        self._downloading_polls = 0
        if image is not None:
            self.offer(image, version=image_version, name=image_name, polls=downloading_polls)

    # --- what tests drive --------------------------------------------------------------------

    def offer(
        self, image: bytes, *, version: str | None = None, name: str = "host.bin", polls: int = 0
    ) -> None:
        """A new host image arrives from Notehub (``downloading`` for ``polls`` polls first)."""
        created = int(time.time())
        stem = name.rsplit(".", 1)[0]
        self.image = image
        self._fetched = []
        self.body = {
            "crc32": integrity.crc32(image),
            "created": created,
            "info": {},
            "length": len(image),
            "md5": integrity.md5(image).hex(),
            "modified": created,
            "name": f"{stem}${time.strftime('%Y%m%d%H%M%S', time.gmtime(created))}.bin",
            "notes": "emulated host firmware",
            "source": name,
            "type": "firmware",
        }
        if version is not None:
            self.body["version"] = version
        self._downloading_polls = polls
        self.mode = DfuMode.DOWNLOADING if polls else DfuMode.READY
        self.status_text = None if polls else "successfully downloaded"

    def fail_download(self, status: str = "firmware update superceded") -> None:
        """The download fails (or is superseded): mode ``error`` with ``status``."""
        self.image = None
        self.mode = DfuMode.ERROR
        self.status_text = status

    def lose_ram(self) -> None:
        """The card restarts: DFU operating mode and the binary store (RAM) go; the image
        downloaded to its storage, and the DFU status with it, stay."""
        if self.hub_mode == "dfu":
            self.hub_mode = self._previous_hub_mode
        self._dfu_entered_at = None
        self.binary_store = None

    def in_dfu_mode(self, now: float) -> bool:
        """DFU mode fully active (entered, entry delay over, 15-minute timer running)."""
        return (
            self.hub_mode == "dfu"
            and self._dfu_entered_at is not None
            and now >= self._dfu_entered_at + self.dfu_entry_delay
            and not self._dfu_expired(now)
        )

    def _dfu_expired(self, now: float) -> bool:
        return now > self._dfu_refreshed_at + self.dfu_mode_timeout

    # --- requests ----------------------------------------------------------------------------

    def handle(self, request: Message, now: float) -> Message | BinaryReply:
        name = request.get("req", request.get("cmd"))
        name = name if isinstance(name, str) else ""
        self._expire_dfu_mode(now)
        handler = {
            "dfu.status": self._dfu_status,
            "hub.set": self._hub_set,
            "dfu.get": self._dfu_get,
            "card.binary": self._card_binary,
            "card.binary.get": self._card_binary_get,
            "card.dfu": self._card_dfu,
            "card.version": self._card_version,
        }.get(name)
        if handler is None or (name.startswith("card.binary") and not self.binary_store_supported):
            return error(unknown_request(name))
        return handler(request, now)

    def _expire_dfu_mode(self, now: float) -> None:
        if self.hub_mode == "dfu" and self._dfu_expired(now):
            self.hub_mode = self._previous_hub_mode
            self._dfu_entered_at = None

    def _dfu_status(self, request: Message, now: float) -> Message:
        if request.get("name", "user") == "card":
            return {"mode": DfuMode.IDLE, "on": True}
        if request.get("off") is True:
            self.downloads_on = False
        elif request.get("on") is True:
            self.downloads_on = True
        if isinstance(request.get("vvalue"), str):
            self.vvalue = request["vvalue"]
        if "version" in request:
            self.reported_version = request["version"]
        if request.get("stop") is True:
            self._stop(request)
        if self.mode == DfuMode.DOWNLOADING:
            self._download_progress()
        response: Message = {"mode": str(self.mode)}
        if self.status_text is not None:
            response["status"] = self.status_text
        elif self.status_style is StatusStyle.SCHEMA and self.mode == DfuMode.IDLE:
            response["status"] = "no download in progress"
        if self.mode == DfuMode.DOWNLOADING and self.status_style is StatusStyle.SCHEMA:
            response["pending"] = True
        response["on" if self.downloads_on else "off"] = True
        if self.mode == DfuMode.READY and self.body_in_status:
            response["body"] = self.body
        return response

    def _download_progress(self) -> None:
        assert self.image is not None
        self._downloading_polls -= 1
        if self._downloading_polls <= 0:
            self.mode = DfuMode.READY
            self.status_text = "successfully downloaded"
            return
        total = len(self.image)
        done = total // (self._downloading_polls + 1)
        percent = done * 100 // max(total, 1)
        if self.status_style is StatusStyle.SCHEMA:
            self.status_text = f"downloading: {percent}% complete"
        else:
            self.status_text = f"downloaded {percent}% ({done}/{total})"

    def _stop(self, request: Message) -> None:
        self.stops.append({key: request[key] for key in ("status", "err") if key in request})
        if self.image is not None and _covers(self._fetched, len(self.image)):
            self.delivered = self.image
        self.image = None
        self.binary_store = None
        err = request.get("err")
        if isinstance(err, str):
            self.mode = DfuMode.ERROR
            self.status_text = err
        else:
            self.mode = DfuMode.COMPLETED
            status = request.get("status")
            self.status_text = status if isinstance(status, str) else DEFAULT_STOP_STATUS
        if self.hub_mode == "dfu":
            self.hub_mode = self._previous_hub_mode
            self._dfu_entered_at = None

    def _hub_set(self, request: Message, now: float) -> Message:
        mode = request.get("mode")
        if mode is None:
            return {}
        if mode not in HUB_MODES:
            return error(f"hub.set: unknown mode '{mode}'")
        if mode == "dfu":
            if self.hub_mode != "dfu":
                self._previous_hub_mode = self.hub_mode
                self.hub_mode = "dfu"
                self._dfu_entered_at = now
            self._dfu_refreshed_at = now
        elif mode == "dfu-completed":
            if self.hub_mode == "dfu":
                self.hub_mode = self._previous_hub_mode
            self._dfu_entered_at = None
        else:
            self.hub_mode = "periodic" if mode == "-" else mode
            self._dfu_entered_at = None
        return {}

    def _dfu_get(self, request: Message, now: float) -> Message:
        if self.storage is Storage.MODEM_FS:
            if self.hub_mode != "dfu":
                return error(NOT_IN_DFU_MODE)
            if not self.in_dfu_mode(now):
                return error(NOT_YET_ACTIVE)
            if self.refresh_on_get:
                self._dfu_refreshed_at = now
        length = request.get("length", 0)
        offset = request.get("offset", 0)
        if not isinstance(length, int) or not isinstance(offset, int) or length < 0 or offset < 0:
            return error("dfu.get: offset and length must be non-negative integers")
        if self.image is None or self.mode != DfuMode.READY:
            return error("dfu.get: no host firmware image is ready")
        if length == 0:
            return {"payload": ""}  # the only published sample of the probe's answer (schema)
        if length > MAX_CHUNK:
            return error(f"dfu.get: length {length} exceeds the maximum of {MAX_CHUNK}")
        if offset >= len(self.image):
            return error(f"dfu.get: offset {offset} is beyond the image ({len(self.image)} bytes)")
        data = self.image[offset : offset + length]
        binary = request.get("binary") is True and self.binary_dfu_get
        self.served.append((offset, len(data), binary))
        self._fetched.append((offset, len(data)))
        response: Message
        if binary:
            self.binary_store = data
            response = {"cobs": len(cobs.encode(data)), "length": len(data)}
        else:
            response = {"payload": base64.b64encode(data).decode()}
        if self.chunk_md5:
            response["status"] = integrity.md5(data).hex()
        if offset == 0:
            response["body"] = self.body
        return response

    def _card_binary(self, request: Message, now: float) -> Message:
        if request.get("delete") is True:
            self.binary_store = None
        store = self.binary_store or b""
        response: Message = {"connected": self.hub_mode != "dfu", "max": BINARY_STORE_CAPACITY}
        if store:
            response.update(
                length=len(store),
                cobs=len(cobs.encode(store)),
                status=integrity.md5(store).hex(),
            )
        return response

    def _card_binary_get(self, request: Message, now: float) -> Message | BinaryReply:
        store = self.binary_store
        offset = request.get("offset", 0)
        length = request.get("length")
        if store is None:
            return error("card.binary.get: the binary store is empty {bad-bin}")
        if not isinstance(offset, int) or offset < 0:
            return error("card.binary.get: bad offset {bad-bin}")
        if length is None:
            length = len(store) - offset
        if not isinstance(length, int) or length < 0 or offset + length > len(store):
            return error(f"card.binary.get: the store holds {len(store)} bytes {{bad-bin}}")
        data = store[offset : offset + length]
        return BinaryReply({"status": integrity.md5(data).hex()}, cobs.encode(data))

    def _card_dfu(self, request: Message, now: float) -> Message:
        config = self.card_dfu
        name = request.get("name")
        if isinstance(name, str):
            if name == "-":
                config.clear()
                config["name"] = ""
            elif name in ("esp32", "stm32", "stm32-bi", "mcuboot", ""):
                config["name"] = name
            else:
                return error(f"card.dfu: unknown host MCU class '{name}'")
        if request.get("off") is True:
            config["off"] = True
            config.pop("on", None)
            if isinstance(request.get("seconds"), int):
                config["seconds"] = request["seconds"]
        elif request.get("on") is True:
            config["on"] = True
            config.pop("off", None)
        for flag in ("stop", "start"):
            if request.get(flag) is True:
                config["reset_host"] = flag == "start"
        if request.get("mode") in ("aux", "altdfu"):
            config["pins"] = request["mode"]
        response: Message = {}
        if config.get("name") or not config.get("off"):
            response["name"] = config.get("name", "")  # a reset class answers as observed
        if config.get("off"):
            response.update(mode="off", off=True)
        elif config.get("on"):
            response["on"] = True
        return response

    def _card_version(self, request: Message, now: float) -> Message:
        major, minor, patch = (int(part) for part in self.firmware_version.split(".")[:3])
        return {
            "version": f"notecard-{self.firmware_version}",
            "body": {"ver_major": major, "ver_minor": minor, "ver_patch": patch},
        }


def _covers(ranges: list[tuple[int, int]], length: int) -> bool:
    """Whether the ``(offset, length)`` ranges together cover ``[0, length)``."""
    reached = 0
    for offset, size in sorted(ranges):
        if offset > reached:
            return False
        reached = max(reached, offset + size)
    return reached >= length
