"""Update a Drogue IoT device (embedded-update protocol, embassy-boot) as its update service.

>>> async with aiodfu.drogue.open("/dev/ttyACM0") as session:
...     result = await session.update("app.bin", version="0.2.0")

The session plays the role drgdfu and Drogue Ajour play: it answers the
device's Status reports with Write blocks from the device's own offset,
then Swap, waits for the device to reboot into the new firmware and sends
Sync so it marks itself booted. A lost link resumes where the device is.
"""

from __future__ import annotations

from aiodfu.core.errors import ImageError, UsageError
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.link import LinkedSession
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker
from aiodfu.core.session import (
    Connector,
    ImageSource,
    UpdateResult,
    UpdateSession,
    open_link,
)
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.drogue.device import DrogueDevice
from aiodfu.drogue.link import UpdateLink
from aiodfu.drogue.protocol.messages import Status, Wait
from aiodfu.drogue.protocol.target import Target
from aiodfu.drogue.serial import SerialUpdateLink
from aiodfu.drogue.timeouts import DEFAULT_RETRY, Timeouts
from aiodfu.drogue.transfers import DrogueTransfer
from aiodfu.formats import load_image
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector


class DrogueSession(LinkedSession[DrogueDevice], UpdateSession):
    """An update session with one Drogue device.

    ``connector`` opens an :class:`~aiodfu.drogue.link.UpdateLink` and is called
    again to reconnect. ``confirm=False`` leaves the new firmware unconfirmed
    (for firmware that calls ``mark_booted`` itself); the bootloader reverts it
    on the next reset if nothing confirms it.

    ``firmware_checks_sha256=True`` declares firmware that checks the SHA-256
    sent with Swap and refuses to swap on a mismatch (no known Drogue firmware
    does; the emulator can): a refused Swap then rewrites the image, and the
    result's verification is the device's digest check. Otherwise every result
    says the image could not be verified end to end.
    """

    def __init__(
        self,
        connector: Connector[UpdateLink],
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        confirm: bool = True,
        firmware_checks_sha256: bool = False,
    ) -> None:
        self.retry = retry or DEFAULT_RETRY
        self.device = DrogueDevice(connector, timeouts or Timeouts(), self.retry)
        self.confirm = confirm
        self.firmware_checks_sha256 = firmware_checks_sha256

    async def status(self) -> Status:
        """Read the device's Status and answer it with ``Wait``, keeping the lock-step."""
        status = await self.device.status()
        await self.device.send(Wait(status.correlation_id))
        return status

    async def update(
        self,
        image: ImageSource,
        *,
        version: str | bytes | None = None,
        progress: ProgressCallback | None = None,
    ) -> UpdateResult:
        """Install ``image`` as ``version`` (required: the protocol identifies images by it).

        Raises :class:`~aiodfu.drogue.errors.DeviceRevertedError` when the device
        comes back with its old version after the swap.
        """
        if not isinstance(image, FirmwareImage):
            image = load_image(image)
        _require_application_binary(image)
        if version is None:
            raise UsageError("a Drogue update needs the image's version string (version=...)")
        target = Target.build(image.data, version)
        tracker = ProgressTracker(len(target), progress)
        tracker.set_phase(Phase.CONNECTING)
        transfer = DrogueTransfer(
            self.device,
            target,
            tracker,
            confirm=self.confirm,
            firmware_checks_sha256=self.firmware_checks_sha256,
        )
        async with self.device.releasing():
            await run_transfer(transfer, tracker, self.retry, what="drogue update")
        tracker.set_phase(Phase.DONE)
        previous = transfer.previous_version or b""
        return UpdateResult.from_tracker(
            image,
            tracker,
            verification=transfer.verification(),
            details={
                "version": target.version.decode(errors="replace"),
                "previous_version": previous.decode(errors="replace"),
                "state": transfer.outcome,
                "resumed_at": str(transfer.resumed_at or 0),
                "sha256": target.checksum.hex(),
            },
        )


def serial_connector(stream: Connector[ByteStream]) -> Connector[UpdateLink]:
    """Turn a byte-stream connector (serial port, pty, in-memory link) into an update link's."""

    async def connect() -> UpdateLink:
        return SerialUpdateLink(await open_link(stream))

    return connect


def open(
    port: str,
    baudrate: int = 115200,
    *,
    rtscts: bool = False,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    confirm: bool = True,
    firmware_checks_sha256: bool = False,
) -> DrogueSession:
    """A session on serial ``port`` (drgdfu uses 115200 baud, no flow control)."""

    stream = port_connector(port, baudrate, rtscts=rtscts)

    return DrogueSession(
        serial_connector(stream),
        timeouts=timeouts,
        retry=retry,
        confirm=confirm,
        firmware_checks_sha256=firmware_checks_sha256,
    )


def _require_application_binary(image: FirmwareImage) -> None:
    """Refuse a file made for another bootloader: embassy-boot boots the bytes as they are.

    It swaps the DFU partition in and jumps to its vector table, so an MCUboot
    header, an ESP-IDF header or a zipped package would be "installed" and then
    fail to boot (or, unconfirmed, be reverted) -- a failure found only on the
    device. Load such a file with ``kind=ImageKind.RAW`` if it really is a raw
    application that merely looks like one of those.
    """
    if image.kind is not ImageKind.RAW:
        raise ImageError(
            f"{image.source or 'the image'} is a {image.kind.value} file; embassy-boot "
            "installs a raw application binary (.bin, or Intel HEX): build or extract one"
        )
