"""After a part was validated: Activate & Reset, and proof that the target left DFU mode.

A lost ``05`` looks like the reset it asks for (the link drops either way), so
the disconnect proves nothing; :func:`activate` watches the target instead.
"""

from __future__ import annotations

import logging

from aiodfu.core.errors import DfuTimeoutError, LinkLostError, UnsupportedError
from aiodfu.nrf5_legacy import protocol
from aiodfu.nrf5_legacy.device import LegacyDfuTarget, Nrf5LegacyDevice
from aiodfu.nrf5_legacy.errors import ActivationError, TargetStatusError
from aiodfu.nrf5_legacy.protocol import ImageType, OpCode, Status
from aiodfu.transports.ble_scan import Wanted

log = logging.getLogger("aiodfu.nrf5_legacy")

ACTIVATIONS = 3
"""Activate & Reset requests per part before a target that keeps waiting is an error."""


async def activate(device: Nrf5LegacyDevice, image_type: ImageType, total: int) -> str:
    """Activate & Reset, then confirm the target left the bootloader; say how it did.

    A lost ``05`` looks like the reset it asks for (the link drops either
    way), so the disconnect proves nothing. The target is watched instead:
    the application advertising, or the bootloader's address silent, means
    it left; a bootloader that answers is asked its byte count (opcode 7):
    zero is a fresh boot (DFU mode is where SoftDevice updates end), the
    whole image means it still waits to activate, so it gets Validate and
    Activate again (reference sections 3.3 and 8). Anything else is an
    :class:`ActivationError`, never a success.
    """
    waiting: LegacyDfuTarget | None = None
    for _ in range(ACTIVATIONS):
        await device.reset(OpCode.ACTIVATE_AND_RESET, waiting)
        outcome, waiting = await _after_activation(device, image_type, total)
        if outcome is not None:
            return outcome
        log.warning("the target still waits to activate (Activate was lost): again")
    if waiting is not None:  # leave it clean: boot what it has rather than wait forever
        await device.reset(OpCode.RESET, waiting)
    raise ActivationError(
        f"the target still waits to activate after {ACTIVATIONS} Activate & Reset requests",
        operation="Activate and reset",
        status=total,
    )


async def _after_activation(
    device: Nrf5LegacyDevice, image_type: ImageType, total: int
) -> tuple[str | None, LegacyDfuTarget | None]:
    """How the target left the bootloader, or (None, a connection) if it still waits.

    Where the application's address is known, only the application coming back
    proves the activation: a bootloader that stops advertising may be busy (a
    dual-bank copy takes seconds) or hung, so it is watched for up to
    ``bootloader_search``. Where it is not known (the caller named the
    bootloader), the bootloader's silence for ``activation`` seconds is all
    there is to see.
    """
    bootloader = device.dfu_address or device.address
    application = device.application_address
    timeouts = device.timeouts
    window = timeouts.activation if application is None else timeouts.bootloader_search
    for _ in range(ACTIVATIONS):
        try:
            address = await device.locate(
                Wanted(addresses=device.homes),
                probe=bootloader,
                timeout=window,
                what="confirm activation",
            )
        except DfuTimeoutError:
            if application is None:
                return f"the bootloader at {bootloader} stopped advertising", None
            raise ActivationError(
                f"after Activate & Reset the bootloader at {bootloader} went silent but the "
                f"application did not come back at {application} within {window:g} s: the "
                "activation is not confirmed (the bootloader may have hung)",
                operation="Activate and reset",
            ) from None
        if address != bootloader:
            return f"the application advertises at {address}", None
        try:
            target = await device.open_at(address)
        except UnsupportedError:
            return f"an application without the DFU service answers at {address}", None
        except (LinkLostError, DfuTimeoutError) as exc:
            log.debug("%s vanished while checking the activation (%s)", address, exc)
            continue
        try:
            return await _inspect(target, address, image_type, total)
        except (LinkLostError, DfuTimeoutError) as exc:  # a hung bootloader: connectable, mute
            log.debug("%s stopped answering while checking the activation (%s)", address, exc)
    raise ActivationError(
        f"could not confirm the activation: {bootloader} advertises but refuses connections "
        "or does not answer",
        operation="Activate and reset",
    )


async def _inspect(
    target: LegacyDfuTarget, address: str, image_type: ImageType, total: int
) -> tuple[str | None, LegacyDfuTarget | None]:
    """Who answers at the bootloader's address after Activate & Reset, and in what state."""
    if target.in_application:
        await target.link.aclose()
        return f"the application answers at {address}", None
    try:
        received = await target.received_size()
        if received == total:
            await _validate_again(target)
            return None, target
    except BaseException:
        await target.link.aclose()
        raise
    await target.link.aclose()
    if received == 0 and not image_type & ImageType.APPLICATION:
        return f"the bootloader at {address} restarted (DFU mode, as the image requires)", None
    raise ActivationError(
        f"after Activate & Reset the bootloader at {address} reports {received} of "
        f"{total} bytes: the new image is not running",
        operation="Activate and reset",
        status=received,
    )


async def _validate_again(target: LegacyDfuTarget) -> None:
    """Validate once more; INVALID_STATE here means "validated, waiting to activate"."""
    try:
        await target.request(protocol.simple(OpCode.VALIDATE), target.timeouts.validate)
    except TargetStatusError as exc:
        if exc.status != Status.INVALID_STATE:
            raise
