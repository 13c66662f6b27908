"""The engine's view of pulling the host image off a Notecard (reference section 4, steps 3-7).

:class:`ImageRetrieval` is a pull :class:`~aiodfu.core.transfer.Transfer`:
``prepare`` makes sure the card serves the image (probing, entering DFU mode
if the probe fails) and returns the length verified so far, so after a link
loss the engine continues there and no chunk is fetched twice once it
verified. ``move`` fetches one chunk (base64 ``dfu.get``, or ``dfu.get
binary:true`` + ``card.binary.get``), checks its length and MD5 and only then
writes it to the pull's sink (:mod:`aiodfu.core.sinks`: memory, or a file).
``complete`` checks the whole image against the announced length, MD5 and
CRC-32, reading the sink back in blocks -- nothing is handed over for
installing before that passes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import zlib
from collections.abc import Iterable

import attrs

from aiodfu.core import integrity
from aiodfu.core.errors import DfuError, ProtocolError
from aiodfu.core.progress import ProgressTracker
from aiodfu.core.sinks import MemorySink, PulledImage, PullSink, read_blocks
from aiodfu.core.transfer import Chunk, chunk_plan
from aiodfu.notecard.device import NotecardDevice
from aiodfu.notecard.errors import (
    ChunkVerificationError,
    DfuModeEntryTimeoutError,
    DfuModeError,
    ImageChangedError,
    ImageVerificationError,
    MissingImageInfoError,
    NotecardRequestError,
    RequestNotSupportedError,
)
from aiodfu.notecard.protocol import (
    MAX_CHUNK,
    NOT_CONNECTED_TAG,
    NOT_IN_DFU_MODE,
    BinaryStoreStatus,
    DfuStatus,
    ImageInfo,
    Message,
)

log = logging.getLogger("aiodfu.notecard")

# Failures after which the card is told the DFU failed (reference 4, steps 3 and 8).
_REPORTED_FAILURES = (ImageVerificationError, DfuModeEntryTimeoutError, MissingImageInfoError)


@attrs.frozen
class RetrievalMode:
    """How to retrieve: base64 or the binary store, in chunks of what size."""

    binary: bool
    store_cleared: bool
    chunk_size: int


async def choose_mode(
    device: NotecardDevice, binary: bool | None, chunk_size: int
) -> RetrievalMode:
    """Binary when the card has a store (``binary=None``, or as told), else base64.

    Detection empties the store at the same time (``card.binary delete``
    reports the capacity too), saving the binary loop a round trip; the
    chunk size is capped at that capacity.
    """
    if binary is False:
        return RetrievalMode(binary=False, store_cleared=False, chunk_size=chunk_size)
    try:
        reply = await device.transaction({"req": "card.binary", "delete": True})
    except RequestNotSupportedError:
        capacity = 0
    else:
        capacity = BinaryStoreStatus.from_response(reply).max
    use_binary = capacity > 0 if binary is None else binary
    size = min(chunk_size, capacity) if use_binary and capacity else chunk_size
    log.info("retrieval mode: %s, %d-byte chunks", "binary" if use_binary else "base64", size)
    return RetrievalMode(binary=use_binary, store_cleared=capacity > 0, chunk_size=size)


def _is_dfu_mode_error(error: NotecardRequestError) -> bool:
    text = str(error.status or "")
    return NOT_CONNECTED_TAG in text or NOT_IN_DFU_MODE in text


class DfuModeKeeper:
    """Enters DFU mode only when the card needs it, keeps it alive, and leaves it."""

    def __init__(self, device: NotecardDevice) -> None:
        self.device = device
        self.entered = False
        self.ever_entered = False
        self._last_sent = 0.0

    async def probe(self) -> NotecardRequestError | None:
        """``dfu.get length:0``: ``None`` when the card can serve the image, else its refusal."""
        try:
            await self.device.transaction({"req": "dfu.get", "length": 0})
        except NotecardRequestError as exc:
            if exc.transient or type(exc) is not NotecardRequestError:
                raise
            return exc
        return None

    async def ensure(self) -> None:
        """Probe; if refused, ``hub.set mode:dfu`` and poll the probe until it passes."""
        refusal = await self.probe()
        if refusal is None:
            return
        log.info("the card does not serve the image yet (%s): entering DFU mode", refusal.status)
        await self.enter()
        timeouts = self.device.timeouts
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeouts.dfu_entry
        while loop.time() < give_up:
            await asyncio.sleep(min(timeouts.dfu_probe_interval, max(give_up - loop.time(), 0)))
            refusal = await self.probe()
            if refusal is None:
                return
            if NOT_IN_DFU_MODE in str(refusal.status or ""):
                # Not entering at all any more: the card restarted (DFU mode is not kept across
                # a restart) or left it; ask again, the entry time still counts from the first.
                log.info("the card is not in DFU mode (%s): entering again", refusal.status)
                await self.enter()
        raise DfuModeEntryTimeoutError(
            f"the card did not serve the image within {timeouts.dfu_entry:g} s of entering DFU "
            "mode (a pending sync can hold it; see hub.set)",
            operation="dfu.get length:0",
            status=refusal.status if refusal else None,
        )

    async def enter(self) -> None:
        await self.device.transaction({"req": "hub.set", "mode": "dfu"})
        self.entered = self.ever_entered = self.device.in_dfu_mode = True
        self._last_sent = asyncio.get_running_loop().time()

    async def keep_alive(self) -> None:
        """Re-send ``hub.set mode:dfu`` before the card's 15-minute DFU-mode timer runs out."""
        if not self.entered:
            return
        if (
            asyncio.get_running_loop().time() - self._last_sent
            >= self.device.timeouts.dfu_keepalive
        ):
            log.debug("DFU-mode keep-alive")
            await self.enter()

    async def leave(self) -> None:
        """``hub.set mode:dfu-completed`` (restores the previous sync mode) if we entered."""
        if self.entered:
            await self.device.transaction({"req": "hub.set", "mode": "dfu-completed"})
            self.entered = self.device.in_dfu_mode = False


class ImageRetrieval:
    """Pulls one image into ``sink``, which holds only verified chunks, in order."""

    def __init__(
        self,
        device: NotecardDevice,
        status: DfuStatus,
        *,
        chunk_size: int,
        binary: bool,
        tracker: ProgressTracker | None = None,
        store_cleared: bool = False,
        sink: PullSink[PulledImage] | None = None,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be within 1..{MAX_CHUNK}, not {chunk_size}")
        self.device = device
        self.info: ImageInfo | None = status.body
        self.chunk_size = chunk_size
        self.binary = binary
        self.dfu_mode = DfuModeKeeper(device)
        self.sink: PullSink[PulledImage] = MemorySink() if sink is None else sink
        self.fetched_chunks = 0
        self._store_cleared = store_cleared and binary
        self._tracker = tracker

    @property
    def total(self) -> int:
        if self.info is None or self.info.length is None:
            raise MissingImageInfoError(
                "the card announced no image length (no body in dfu.status or dfu.get)",
                operation="dfu.get",
            )
        return self.info.length

    # --- Transfer ----------------------------------------------------------------------------

    async def prepare(self, attempt: int) -> int:
        if attempt > 1:
            await self._check_image_unchanged()
        await self.dfu_mode.ensure()
        if self.binary and not self._store_cleared:
            await self.device.transaction({"req": "card.binary", "delete": True})
            self._store_cleared = True
        self.device.binary_store_used = self._store_cleared
        if self.info is None or self.info.length is None:
            await self._learn_info_from_first_chunk()
        if self._tracker is not None:
            self._tracker.total = self.total
        return len(self.sink)

    def plan(self, start: int) -> Iterable[Chunk]:
        return chunk_plan(self.total, self.chunk_size, start)

    async def move(self, chunk: Chunk) -> None:
        await self.dfu_mode.keep_alive()
        try:
            data = await self._fetch(chunk)
        except DfuError as exc:
            raise exc.locate(offset=chunk.offset) from None
        self.sink.write(chunk.offset, data)

    async def complete(self) -> None:
        info = self.info
        assert info is not None
        md5, crc32 = hashlib.md5(usedforsecurity=False), 0
        for block in read_blocks(self.sink):
            md5.update(block)
            crc32 = zlib.crc32(block, crc32)
        problems = []
        if len(self.sink) != info.length:
            problems.append(f"length {len(self.sink)} != {info.length}")
        if info.md5 is not None and md5.hexdigest() != info.md5:
            problems.append(f"MD5 {md5.hexdigest()} != {info.md5}")
        if info.crc32 is not None and crc32 != info.crc32:
            problems.append(f"CRC-32 {crc32} != {info.crc32}")
        if info.md5 is None and info.crc32 is None:
            problems.append("the card announced neither an MD5 nor a CRC-32 of the image")
        if problems:
            raise ImageVerificationError(
                "the retrieved image is not the one the card announced: " + "; ".join(problems),
                operation="verify image",
            )

    async def recover(self, error: DfuError, attempt: int) -> None:
        await self.device.resync(error)

    # --- close-out ---------------------------------------------------------------------------

    async def finish(self) -> None:
        """Empty the binary store and leave DFU mode (steps 7 of the reference loop)."""
        if self._store_cleared:
            await self.device.transaction({"req": "card.binary", "delete": True})
            self._store_cleared = self.device.binary_store_used = False
        await self.dfu_mode.leave()

    async def close_out_failure(self, error: DfuError) -> None:
        """Best effort: leave DFU mode; tell the card about verification-type failures."""
        with contextlib.suppress(DfuError):
            await self.dfu_mode.leave()
        if isinstance(error, _REPORTED_FAILURES):
            stop = {
                "req": "dfu.status",
                "stop": True,
                "err": error.message,
                "status": error.message,
            }
            with contextlib.suppress(DfuError):
                await self.device.transaction(stop)

    # --- chunks ------------------------------------------------------------------------------

    async def _fetch(self, chunk: Chunk) -> bytes:
        request: Message = {"req": "dfu.get", "offset": chunk.offset, "length": chunk.length}
        if self.binary:
            request["binary"] = True
        try:
            response = await self.device.transaction(request)
        except NotecardRequestError as exc:
            if type(exc) is NotecardRequestError and _is_dfu_mode_error(exc):
                raise DfuModeError(
                    "the card left DFU mode (or is not ready to serve)",
                    operation="dfu.get",
                    status=exc.status,
                ) from exc
            raise
        self.fetched_chunks += 1
        self._check_body(response)
        if self.binary and "cobs" in response:
            data = await self._fetch_binary(response, chunk)
        else:
            data = self._decode_payload(response, chunk)
        self._verify_chunk(data, response.get("status"), chunk)
        return data

    async def _fetch_binary(self, response: Message, chunk: Chunk) -> bytes:
        length = response.get("length")
        if length != chunk.length:
            raise ChunkVerificationError(
                f"the card staged {length} bytes, not {chunk.length}",
                operation="dfu.get binary",
                offset=chunk.offset,
            )
        header, data = await self.device.binary_transaction(
            {"req": "card.binary.get", "offset": 0, "length": chunk.length}
        )
        store_md5 = header.get("status")
        if isinstance(store_md5, str) and integrity.md5(data).hex() != store_md5.lower():
            raise ChunkVerificationError(
                "binary frame MD5 mismatch", operation="card.binary.get", offset=chunk.offset
            )
        return data

    @staticmethod
    def _decode_payload(response: Message, chunk: Chunk) -> bytes:
        payload = response.get("payload")
        if not isinstance(payload, str):
            raise ProtocolError(
                "dfu.get answered without a payload", operation="dfu.get", offset=chunk.offset
            )
        try:
            return base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ChunkVerificationError(
                f"payload is not base64: {exc}", operation="dfu.get", offset=chunk.offset
            ) from None

    @staticmethod
    def _verify_chunk(data: bytes, md5: object, chunk: Chunk) -> None:
        if len(data) != chunk.length:
            raise ChunkVerificationError(
                f"got {len(data)} bytes, asked for {chunk.length}",
                operation="dfu.get",
                offset=chunk.offset,
            )
        if isinstance(md5, str) and integrity.md5(data).hex() != md5.lower():
            raise ChunkVerificationError(
                "chunk MD5 mismatch", operation="dfu.get", offset=chunk.offset, status=md5
            )

    def _check_body(self, response: Message) -> None:
        body = ImageInfo.from_body(response.get("body"))
        if body is None or self.info is None or self.info.length is None:
            return
        if body.md5 is not None and self.info.md5 is not None and body.md5 != self.info.md5:
            raise ImageChangedError(
                f"the card now serves another image (MD5 {body.md5}, expected {self.info.md5})",
                operation="dfu.get",
            )

    async def _learn_info_from_first_chunk(self) -> None:
        """No ``body`` in ``dfu.status`` (a known quirk): the first ``dfu.get`` carries it."""
        length = self.chunk_size
        response = await self.device.transaction({"req": "dfu.get", "offset": 0, "length": length})
        info = ImageInfo.from_body(response.get("body"))
        if info is None or info.length is None:
            raise MissingImageInfoError(
                "neither dfu.status nor the first dfu.get described the image (no body.length)",
                operation="dfu.get",
                offset=0,
            )
        self.info = info
        chunk = Chunk(0, min(length, info.length))
        data = self._decode_payload(response, chunk)
        self._verify_chunk(data, response.get("status"), chunk)
        self.fetched_chunks += 1
        self.sink.truncate(0)
        self.sink.write(0, data)

    async def _check_image_unchanged(self) -> None:
        """After a failure, make sure the card still offers the image being retrieved."""
        response = await self.device.transaction({"req": "dfu.status"})
        status = DfuStatus.from_response(response)
        if self.info is None:
            return
        if status.mode != "ready":
            raise ImageChangedError(
                f"the card's image is no longer ready (mode {status.mode})",
                operation="dfu.status",
                status=status.status,
            )
        if status.body is not None and status.body.identity != self.info.identity:
            raise ImageChangedError(
                "the card now offers another image than the one being retrieved",
                operation="dfu.status",
                status=status.body.md5,
            )
