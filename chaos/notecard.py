"""Blues Notecard: retrieve, verify (MD5), install and close out a host image from an emulated card.

Device fault kinds are the card's shared device faults, drawn by
:func:`~aiodfu.testing.random_device_fault` from its ``FAULT_VOCABULARY``
(``device:error`` -- one of its ``err`` replies at a request or at a
``dfu.get`` offset --, ``device:reboot``, ``device:silence``,
``device:unsolicited``, ``device:latency``; at a request, an offset or a
moment), and the card's own per-request knobs of
:class:`~aiodfu.testing.NotecardFaults` that the vocabulary cannot say: no
answer, a truncated or corrupted response, a wrong sequence number, ``{io}``
without a ``crc`` (a garbled request), ``{bad-bin}``, a corrupted binary
frame, heartbeats before the answer. The card serves its image from
on-board flash or (the legacy profile) only in DFU mode, in base64 or binary
chunks, as the case draws. The oracle is the host's own install: exactly the
card's image, installed once, the DFU closed out as ``completed``.

After a failure the session told the card about (``dfu.status stop`` with
``err``), the card has deleted its image, as a real one does; Notehub offers
it again on the next try, so the fresh session finds it offered again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.notecard import Notecard, Timeouts
from aiodfu.testing import (
    NotecardEmulator,
    NotecardFaults,
    NotecardStorage,
    random_device_fault,
    random_firmware,
)
from chaos.timing import fast
from chaos.trial import CANCEL, STREAM_LINK_KINDS, Fault, Held, StreamTrial

TIMEOUTS = fast(
    Timeouts(),
    0.02,
    first_byte=0.3,
    inter_byte=0.1,
    transaction=3.0,
    reset_settle=0.001,
    reset_drain=0.03,
    dfu_entry=2.0,
    dfu_probe_interval=0.02,
)
RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)
IMAGE = random_firmware(6000, seed=401)
CHUNK = 2048
REQUESTS = 14  # a retrieval makes about this many requests
REQUEST_FAULTS = {
    "device:no-answer": "silent_requests",
    "device:truncated-response": "truncated_responses",
    "device:corrupted-response": "corrupted_responses",
    "device:wrong-sequence": "wrong_sequence",
    "device:io-error": "io_errors",
    "device:bad-bin": "bad_bin",
    "device:corrupted-frame": "corrupted_frames",
}
VOCABULARY = NotecardEmulator.FAULT_VOCABULARY
SHARED_KINDS = {f"device:{kind}": kind for kind in VOCABULARY.kinds}
"""The shared device faults, as ``random_device_fault`` draws them from the card's vocabulary."""


class NotecardTrial(StreamTrial):
    backend = "notecard"
    kinds = (
        *STREAM_LINK_KINDS,
        *SHARED_KINDS,
        *REQUEST_FAULTS,
        "device:heartbeats",
        CANCEL,
    )
    span = 800  # requests are short; the image comes the other way
    upstream_span = 9000

    def draw(self) -> Fault:
        rng = self.rng
        self.binary = rng.random() < 0.5
        self.storage = rng.choice([NotecardStorage.ONBOARD_FLASH, NotecardStorage.MODEM_FS])
        self.faults = NotecardFaults()
        fault = self._draw_fault()
        mode = "binary" if self.binary else "base64"
        return Fault(fault.kind, f"{mode}, {self.storage.name}; {fault.detail}")

    def _draw_fault(self) -> Fault:
        rng, kind = self.rng, self.kind
        if kind.startswith("link:"):
            return self.draw_link()
        if kind == CANCEL:
            return self.draw_cancel(len(IMAGE))
        if kind in REQUEST_FAULTS:
            requests = set(rng.sample(range(REQUESTS), rng.randint(1, 3)))
            setattr(self.faults, REQUEST_FAULTS[kind], requests)
            return Fault(kind, f"requests {sorted(requests)}")
        if kind in SHARED_KINDS:
            fault = random_device_fault(
                rng,
                VOCABULARY,
                len(IMAGE),
                kinds=[SHARED_KINDS[kind]],
                triggers=("command", "offset", "time"),
                max_seconds=0.2,
            )
            self.faults.add(fault)
            return Fault(kind, str(fault))
        if kind == "device:heartbeats":
            self.faults.heartbeats = rng.randint(1, 5)
            self.faults.heartbeat_interval = round(rng.uniform(0.0, 0.05), 3)
            return Fault(kind, f"{self.faults.heartbeats} heartbeats before every answer")
        raise ValueError(kind)

    async def __aenter__(self) -> Self:
        self.card = NotecardEmulator(
            image=IMAGE, storage=self.storage, reboot_time=0.02, faults=self.faults
        )
        self.installed: list[bytes] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.card.aclose()

    def _install(self, image: FirmwareImage) -> None:
        self.installed.append(image.data)

    async def _update(self, connector: Any, progress: Callable[[Progress], None] | None) -> Any:
        card = Notecard(
            connector, timeouts=TIMEOUTS, retry=RETRY, chunk_size=CHUNK, binary=self.binary
        )
        async with card:
            return await card.update(install=self._install, progress=progress)

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        result: UpdateResult = await self._update(self.faulty_connector(self.card), progress)
        return result

    def heal(self) -> None:
        self.card.faults = NotecardFaults()
        if self.card.image is None:  # the failure was reported: Notehub offers the image again
            self.card.offer(IMAGE)

    async def update_fresh(self) -> UpdateResult:
        result: UpdateResult = await self._update(self.card.connect, None)
        return result

    def held(self) -> tuple[Held, str]:
        if not self.installed:
            return Held.NOT_APPLIED, "the host installed nothing"
        if self.installed[-1] != IMAGE:
            return Held.DIFFERENT_BYTES, "the host installed different bytes than the card held"
        if self.card.mode != "completed":
            return Held.NOT_APPLIED, f"the card was not told (its DFU mode is {self.card.mode!r})"
        return Held.INTACT, "the host installed the card's image and closed the DFU out"

    def fired(self) -> list[str]:
        return super().fired() + [f"device: {fault}" for fault in self.faults.fired]

    def emulator_failures(self) -> list[BaseException]:
        return list(self.card.failures)
