"""The engine's view of a Drogue update: the device's own offset is where every attempt resumes.

``prepare`` reads the device's Status and applies the reference's decision
logic (:class:`~aiodfu.drogue.protocol.target.Target`): the device's offset when it is
writing this version, 0 when it is writing another. Each ``move`` answers the
pending Status with one Write and checks the next Status advanced by exactly
that block. ``complete`` sends Swap, waits for the device to come back from
its reset (or raises :class:`~aiodfu.drogue.errors.DeviceRevertedError` when
the old version comes back), then sends Sync (the device marks the new
firmware booted) until a Status shows the device took it
(:attr:`~aiodfu.drogue.link.UpdateLink.acknowledged`): any other Status is
one the device re-sent on its own timer after the Sync was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from aiodfu.core.errors import DeviceResetError, DfuError
from aiodfu.core.progress import Phase, ProgressTracker
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.core.transfer import Chunk, chunk_plan
from aiodfu.drogue.device import DrogueDevice
from aiodfu.drogue.errors import (
    ChecksumRejectedError,
    DeviceRevertedError,
    UnacknowledgedError,
    UnexpectedStatusError,
    WriteRejectedError,
)
from aiodfu.drogue.protocol.messages import Status, Swap, Sync, Wait, Write
from aiodfu.drogue.protocol.target import Target

log = logging.getLogger("aiodfu.drogue")

C = TypeVar("C", Write, Swap, Sync)

SYNC_SENDS = 3
"""Syncs that may go untaken on one link before the link is blamed (then it is reopened)."""
SYNC_CONFIRMATIONS = 2
"""Syncs the device must take before its firmware counts as confirmed, on a link whose
acknowledgement may follow a command the device could not decode (see ``_sync``)."""


class DrogueTransfer:
    """One update of one device to ``target``; ``confirm=False`` leaves the new firmware
    unconfirmed (answering Wait instead of Sync), for firmware that confirms itself;
    ``firmware_checks_sha256`` says the device refuses a Swap whose SHA-256 does not
    match what it holds (no known firmware does), so a refused Swap means "write the
    image again" and a swap done means the device checked it."""

    def __init__(
        self,
        device: DrogueDevice,
        target: Target,
        tracker: ProgressTracker,
        *,
        confirm: bool,
        firmware_checks_sha256: bool = False,
    ) -> None:
        self.device = device
        self.target = target
        self.tracker = tracker
        self.confirm = confirm
        self.firmware_checks_sha256 = firmware_checks_sha256
        self.checked_by_device = False
        """The device swapped to an image it checked against the Swap's SHA-256."""
        self._rewrite = False
        self.previous_version: bytes | None = None
        self.resumed_at: int | None = None
        self.outcome = ""
        self._block = 0
        self._running_target = False
        self._swap_attempted = False
        self._swap_delivered = False

    async def prepare(self, attempt: int) -> int:
        status = await self.device.status()
        if self.previous_version is None:
            self.previous_version = status.version
        self._running_target = status.version == self.target.version
        if self._running_target:
            if self._swap_attempted:  # our Swap got through before the link failed
                self.checked_by_device = self._checksum_checked()
            return len(self.target)
        if self._swap_delivered and status.update is None:
            raise self._reverted(status)
        self._block = self.target.block_size(status, self.device.max_block)
        start = 0 if self._rewrite else self.target.resume_offset(status)
        if self.resumed_at is None:
            self.resumed_at = start
        return start

    def plan(self, start: int) -> Iterable[Chunk]:
        if self._running_target:
            return ()
        return chunk_plan(len(self.target), self._block, start)

    async def move(self, chunk: Chunk) -> None:
        write = await self._decide(Write, chunk.offset, restart=self._rewrite)
        if write.offset != chunk.offset or len(write.data) != chunk.length:
            raise UnexpectedStatusError(
                f"the device's status calls for {len(write.data)} bytes at {write.offset}",
                operation="Write",
                offset=chunk.offset,
            )
        await self.device.send(write, offset=chunk.offset)
        self._rewrite = False  # the device started over at offset 0
        status = await self.device.status(offset=chunk.offset)
        update = status.update
        if update is None:
            raise DeviceResetError(
                "the device no longer reports an update in progress: it was reset",
                operation="Write",
                offset=chunk.offset,
            )
        if update.version != self.target.version:
            raise UnexpectedStatusError(
                f"after a Write of version {self.target.version!r} the device reports an "
                f"update of {update.version!r}",
                operation="Write",
                offset=chunk.offset,
                status=_describe(status),
            )
        if update.offset == chunk.offset:
            # Over GATT a block that has not landed yet may still land (later, at the device's
            # offset then): sent again, it would be stored twice. Start over instead, behind it.
            self._rewrite = self.device.blind_writes
            raise WriteRejectedError(
                "the device did not take the block (wrong offset, unaligned or a flash error)",
                operation="Write",
                offset=chunk.offset,
                status=_describe(status),
            )
        if update.offset != chunk.end:
            # The device stored something this Write did not say (a block applied twice, at
            # its own offset): what it holds past chunk.offset cannot be trusted. Start over.
            self._rewrite = True
            raise UnexpectedStatusError(
                f"after a Write ending at {chunk.end} the device expects offset {update.offset}",
                operation="Write",
                offset=chunk.offset,
                status=_describe(status),
            )

    async def complete(self) -> None:
        if not self._running_target:
            await self._swap()
        if self.confirm:
            await self._sync()
            self.outcome = "booted" if self._swap_attempted else "already up to date"
        else:
            status = await self.device.status()
            await self.device.send(Wait(status.correlation_id))
            # The device reports again only after it has read the command.
            await self.device.status()
            self.outcome = "running, unconfirmed"

    async def _sync(self) -> None:
        """Send Sync until the device has taken it (twice over serial).

        A Sync counts as taken when the next Status answers it (the link's acknowledgement)
        and the device still runs the target. Over serial that acknowledgement is the Status
        echoing the command frame's tail, and a device echoes a frame it could not decode --
        or decoded as another command -- just the same: a Sync hit by one corrupted byte
        leaves no other trace. Sync is idempotent, so a second one costs one round trip and
        makes a false confirmation need two corrupted frames instead of one. (GATT writes are
        answered intact or not at all: one is enough there.)
        """
        needed = SYNC_CONFIRMATIONS if self.device.acknowledges_undecodable else 1
        taken = missed = 0
        while taken < needed:
            if missed == SYNC_SENDS:
                raise UnacknowledgedError(
                    f"the device did not take Sync in {taken + missed} tries: its firmware "
                    "is not confirmed",
                    operation="Sync",
                )
            await self.device.send(await self._decide(Sync, len(self.target)))
            status = await self.device.status()
            if self.device.acknowledged and status.version == self.target.version:
                taken += 1
            else:
                missed += 1
                log.info("the device reported again without taking Sync: sending it again")

    async def _swap(self) -> None:
        swap = await self._decide(Swap, len(self.target))
        self.tracker.set_phase(Phase.APPLYING, "swap")
        self._swap_attempted = True  # even if the link drops mid-send: it may have arrived
        await self.device.send(swap, offset=len(self.target))
        self._swap_delivered = True  # only now may the old version mean a revert
        self.tracker.set_phase(Phase.ACTIVATING, "waiting for the device to reboot")
        status = await self.device.await_reboot()
        if status.version == self.target.version:
            self._running_target = True
            self.checked_by_device = self._checksum_checked()
            return
        update = status.update
        if update is not None and update.version == self.target.version:
            if self.firmware_checks_sha256 and self.device.carries_checksum:
                self._rewrite = True
                self._swap_delivered = False
                raise ChecksumRejectedError(
                    "the device refused to swap: the image it holds does not match the "
                    "SHA-256 sent with Swap; writing it again from offset 0",
                    operation="Swap",
                    offset=update.offset,
                    status=_describe(status),
                )
            raise UnexpectedStatusError(
                "the device did not reset after Swap; sending it again",
                operation="Swap",
                offset=update.offset,
                status=_describe(status),
            )
        raise self._reverted(status)

    def _checksum_checked(self) -> bool:
        """Firmware that checks the Swap SHA-256 booted our image, so it checked it."""
        return self.firmware_checks_sha256 and self.device.carries_checksum

    def verification(self) -> Verification:
        """How the image the device now runs was checked end to end."""
        if self.checked_by_device:
            return Verification(
                VerificationMethod.DEVICE_DIGEST,
                "the device checked the image's SHA-256, sent with Swap, before swapping to it",
            )
        if not self._swap_attempted:
            return Verification.none("the device already ran this version: nothing was sent")
        if not self.device.carries_checksum:
            return Verification.none(
                "the GATT firmware service carries no checksum, and the protocol has no "
                "other end-to-end check"
            )
        return Verification.none(
            "the embedded-update protocol has no end-to-end check, and the firmware ignores "
            "the SHA-256 sent with Swap (pass firmware_checks_sha256=True for firmware that "
            "checks it)"
        )

    async def _decide(self, expected: type[C], offset: int, *, restart: bool = False) -> C:
        """The reference's answer to the pending Status, which must be of the ``expected`` kind."""
        status = await self.device.status(offset=offset)
        command = self.target.decide(status, self.device.max_block, restart=restart)
        if not isinstance(command, expected):
            raise UnexpectedStatusError(
                f"the device's status calls for {type(command).__name__}, not {expected.__name__}",
                operation=expected.__name__,
                offset=offset,
                status=_describe(status),
            )
        return command

    def _reverted(self, status: Status) -> DeviceRevertedError:
        return DeviceRevertedError(
            f"the device runs {status.version!r} again after the swap to "
            f"{self.target.version!r}: the new firmware did not boot (or the device was reset "
            "before it was confirmed) and the bootloader reverted to the previous image",
            operation="Swap",
            status=_describe(status),
        )

    async def recover(self, error: DfuError, attempt: int) -> None:
        await self.device.resync(error)


def _describe(status: Status) -> str:
    text = f"version {status.version.decode(errors='replace')}"
    if status.update is not None:
        version = status.update.version.decode(errors="replace")
        text += f", writing {version} at {status.update.offset}"
    return text
