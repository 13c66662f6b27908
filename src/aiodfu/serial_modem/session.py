"""Update a Nordic Serial Modem over its AT UART.

>>> async with aiodfu.serial_modem.open("/dev/ttyACM0") as session:
...     result = await session.update(aiodfu.load_image("app_update.bin"), reset=True)
"""

from __future__ import annotations

from aiodfu.core.image import FirmwareImage
from aiodfu.core.link import LinkedSession
from aiodfu.core.progress import Phase, ProgressCallback, ProgressTracker
from aiodfu.core.session import (
    Connector,
    ImageSource,
    UpdateResult,
    UpdateSession,
    Verification,
    VerificationMethod,
)
from aiodfu.core.transfer import RetryPolicy, run_transfer
from aiodfu.formats import load_image
from aiodfu.serial_modem.device import SerialModemDevice
from aiodfu.serial_modem.errors import ActivationFailedError
from aiodfu.serial_modem.info import DeviceInfo, read_info
from aiodfu.serial_modem.payload import Payload, build_payload, infer_type
from aiodfu.serial_modem.protocol import Mode, UpdateType
from aiodfu.serial_modem.sizing import GRANULE, ChunkSizer
from aiodfu.serial_modem.timeouts import DEFAULT_RETRY, Timeouts
from aiodfu.serial_modem.transfers import AppendingTransfer, FullModemTransfer
from aiodfu.transports.base import ByteStream
from aiodfu.transports.serial import port_connector

DEFAULT_CHUNK_SIZE = GRANULE
"""The device's default data-mode buffer and Nordic's chunk: the first chunk, and every chunk
without RTS/CTS. Otherwise chunks are sized from the link (:mod:`aiodfu.serial_modem.sizing`)."""


class SerialModemSession(LinkedSession[SerialModemDevice], UpdateSession):
    """An update session with one Serial Modem.

    ``connector`` opens the link and is called again to reconnect after a
    link loss. ``baudrate`` sizes timeouts (the wire time of a chunk) and
    chunks; ``None`` means the link is fast enough not to matter.

    Chunks are sized from the link unless ``chunk_size`` fixes them: each so
    that its fixed round trip costs about 2 % of its wire time, as measured
    (see :mod:`aiodfu.serial_modem.sizing`). ``flow_control`` says whether
    RTS/CTS throttles the host; without it every chunk fits the device's
    4096-byte data-mode buffer, since the device drops what arrives while it
    writes flash. Type-2 firmware-phase chunks never exceed 4096 bytes.
    """

    def __init__(
        self,
        connector: Connector[ByteStream],
        *,
        baudrate: int | None = 115200,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        chunk_size: int | None = None,
        flow_control: bool = True,
        terminator: bytes = b"\r",
    ) -> None:
        self.sizer = ChunkSizer(baudrate, fixed=chunk_size, flow_control=flow_control)
        self.retry = retry or DEFAULT_RETRY
        self.device = SerialModemDevice(
            connector,
            timeouts=timeouts or Timeouts(),
            baudrate=baudrate,
            retry=self.retry,
            terminator=terminator,
        )
        self.chunk_size = chunk_size
        self.device.flush_size = self.sizer.ceiling

    @property
    def mode(self) -> Mode:
        return self.device.mode

    # --- the update --------------------------------------------------------------------------

    async def update(
        self,
        image: ImageSource,
        *,
        progress: ProgressCallback | None = None,
        update_type: UpdateType | None = None,
        reset: bool = False,
        force: bool = False,
    ) -> UpdateResult:
        """Send ``image``, have the device apply it, and (with ``reset``) activate it.

        ``update_type`` defaults to the one the image's format implies. With
        ``reset``, types 0/3 are activated by ``AT#XRESET`` and type 1 by
        ``AT#XMODEMRESET``, and the device's report is checked; a full modem
        update always ends with the device rebooting into its new firmware.

        However it ends -- a typed error, retries exhausted, cancellation --
        the device is left where a fresh session can update it: a chunk left
        unconfirmed has its data mode ended with filler (within
        ``timeouts.release``) before the error or cancellation goes on.
        """
        if not isinstance(image, FirmwareImage):
            image = load_image(image)
        update_type = update_type if update_type is not None else infer_type(image)
        payload = build_payload(image, update_type, force=force)
        tracker = ProgressTracker(len(payload), progress)
        tracker.set_phase(Phase.CONNECTING)
        async with self.device.releasing():
            await self.connect()
            transfer_class = (
                FullModemTransfer if update_type is UpdateType.MODEM_FULL else AppendingTransfer
            )
            transfer = transfer_class(self.device, payload, self.sizer)
            await run_transfer(transfer, tracker, self.retry, what=f"{update_type.cli_name} update")
            details = await self._activate(payload, reset, tracker)
        tracker.set_phase(Phase.DONE)
        return UpdateResult.from_tracker(
            image, tracker, verification=_verification(update_type, reset), details=details
        )

    async def _activate(
        self, payload: Payload, reset: bool, tracker: ProgressTracker
    ) -> dict[str, str]:
        update_type = payload.update_type
        details = {"type": update_type.cli_name}
        if update_type is UpdateType.MODEM_FULL:
            details["modem_firmware"] = await self._modem_version()
            return details
        if not reset:
            details["state"] = "applied; activates on the next reset"
            return details
        tracker.set_phase(Phase.ACTIVATING)
        if update_type is UpdateType.MODEM_DELTA:
            await self._activate_delta()
            details["modem_firmware"] = await self._modem_version()
        elif update_type is UpdateType.APPLICATION:
            await self._activate_application()
            details["application"] = await self._application_version()
        else:
            details["bootloader_slot"] = await self._activate_bootloader()
        details["state"] = "activated"
        return details

    async def _activate_application(self) -> None:
        fota = await self.device.reset()
        if fota is None:
            raise ActivationFailedError(
                "the device restarted without reporting #XFOTA: MCUboot did not take the new "
                "image (bad hash or signature?) and the previous application still runs",
                operation="AT#XRESET",
            )
        if not fota.succeeded:
            raise ActivationFailedError(
                "MCUboot reported a failed swap", operation="AT#XRESET", status=str(fota)
            )

    async def _activate_bootloader(self) -> str:
        before = await self._query("AT#XBOOTINFO=1")
        await self.device.reset()
        after = await self._query("AT#XBOOTINFO=1")
        if after is None or after == before:
            raise ActivationFailedError(
                f"the active bootloader slot is still {before}: NSIB rejected the new "
                "bootloader (wrong slot image, signature, or monotonic counter?)",
                operation="AT#XBOOTINFO=1",
                status=after,
            )
        return after

    async def _activate_delta(self, *, require_result: bool = True) -> None:
        """``AT#XMODEMRESET``; success only on the modem's own ``#XFOTA: 5,0``."""
        fota = await self.device.modem_reset()
        if fota is None:
            if not require_result:
                return  # nothing was scheduled
            raise ActivationFailedError(
                "the modem restarted without reporting a delta result (#XFOTA): the patch "
                "was not applied, so it cannot be confirmed",
                operation="AT#XMODEMRESET",
            )
        if not fota.succeeded:
            hint = (
                "supply voltage too low; retry the modem reset later"
                if fota.stage == 4
                else "the modem kept its previous firmware (patch for another version?)"
            )
            raise ActivationFailedError(
                f"the modem did not apply the delta patch: {hint}",
                operation="AT#XMODEMRESET",
                status=str(fota.info if fota.info is not None else fota.status),
            )

    async def _query(self, command: str) -> str | None:
        """An idempotent query, asked again on a fresh link if the link fails under it.

        The queries after an activation run while the device has just rebooted,
        when a USB-serial adapter is most likely to drop: the update itself is
        done by then, so a lost link must not turn it into a failure.
        """
        return await self.device.robustly(lambda: self.device.query_line(command), command)

    async def _application_version(self) -> str:
        """The application version from ``#XSMVER: "<app>","<ncs>"``."""
        line = await self._query("AT#XSMVER")
        return line.split(",", 1)[0].strip().strip('"') if line else "unknown"

    async def _modem_version(self) -> str:
        return await self._query("AT%SHORTSWVER") or "unknown"

    # --- other device commands ---------------------------------------------------------------

    async def ping(self) -> Mode:
        """Check the device answers; returns the mode it is in."""
        await self.connect()
        await self.device.synchronise()
        return self.device.mode

    async def info(self) -> DeviceInfo:
        """What the device says about itself: mode, versions, DFU types, bootloader slot."""
        await self.ping()
        return await read_info(self.device)

    async def reset(self) -> None:
        """``AT#XRESET``: reboot the device (activates a pending application update)."""
        await self.connect()
        await self.device.reset()

    async def modem_reset(self) -> None:
        """``AT#XMODEMRESET``: restart the modem (activates a pending delta update)."""
        await self.connect()
        await self._activate_delta(require_result=False)


def _verification(update_type: UpdateType, reset: bool) -> Verification:
    """What the device itself checked before this session reported success."""
    if update_type is UpdateType.MODEM_FULL:
        return Verification(
            VerificationMethod.DEVICE_DIGEST,
            "the modem ran the signed modem bootloader and booted the new firmware (Ready), "
            "which it does only for firmware that verifies",
        )
    if not reset:
        activation = "AT#XMODEMRESET" if update_type is UpdateType.MODEM_DELTA else "AT#XRESET"
        checker = "the modem" if update_type is UpdateType.MODEM_DELTA else "the bootloader"
        return Verification.none(
            f"applied, not activated: {checker} checks the image only when it takes it, at the "
            f"next reset ({activation}); the transfer itself has no end-to-end check"
        )
    if update_type is UpdateType.MODEM_DELTA:
        return Verification(
            VerificationMethod.DEVICE_DIGEST,
            "the modem authenticated the delta patch and applied it (#XFOTA: 5,0)",
        )
    if update_type is UpdateType.APPLICATION:
        return Verification(
            VerificationMethod.DEVICE_DIGEST,
            "MCUboot checked the image's hash (header, code, protected TLVs) and, if built to, "
            "its signature before swapping it in (#XFOTA: 5,0)",
        )
    return Verification(
        VerificationMethod.DEVICE_DIGEST,
        "NSIB checked the new bootloader's signature and now boots it (AT#XBOOTINFO=1 changed)",
    )


def open(
    port: str,
    baudrate: int = 115200,
    *,
    rtscts: bool = True,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    chunk_size: int | None = None,
    terminator: bytes = b"\r",
) -> SerialModemSession:
    """A session on serial ``port`` (a path or pyserial URL); use with ``async with``.

    ``chunk_size`` fixes the chunk size; by default it follows the link (see
    :class:`SerialModemSession`).
    """

    connector = port_connector(port, baudrate, rtscts=rtscts)

    return SerialModemSession(
        connector,
        baudrate=baudrate,
        timeouts=timeouts,
        retry=retry,
        chunk_size=chunk_size,
        flow_control=rtscts,
        terminator=terminator,
    )
