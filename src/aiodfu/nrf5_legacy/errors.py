"""Errors specific to the legacy nRF5 DFU backend (all in the :class:`DfuError` tree)."""

from __future__ import annotations

from aiodfu.core.errors import DeviceError, ImageError, ProtocolError


class PackageError(ImageError):
    """A legacy DFU package (zip, manifest, init packet) is malformed or inconsistent."""


class TargetStatusError(DeviceError):
    """The target answered a Control Point request with a status other than SUCCESS.

    ``status`` is the target's status byte (2 INVALID_STATE ... 6 OPERATION_FAILED).
    Not transient: retrying the same request cannot change the answer; the
    controller itself decides when a status calls for a fallback or a restart.
    """


class PacketLossError(ProtocolError):
    """A Packet Receipt Notification counted fewer bytes than were sent.

    A write-without-response packet was lost (a proxy, a full receive pool):
    the target's image has a hole, so the transfer restarts cleanly after a
    target reset (transient).
    """


class ActivationError(DeviceError):
    """After Activate & Reset the target did not leave the bootloader as it should.

    Either it still waits to activate after every attempt, or it came back in
    a state no activation explains (fresh DFU mode after an application was
    activated, a byte count that is not the image's), or -- where the
    application's address is known -- the application never came back while
    the bootloader stayed silent (a hung bootloader). The update is not
    reported as a success; the target is left where a fresh session can
    update it.
    """


class BootloaderEntryError(DeviceError):
    """The application refused to jump to its bootloader (buttonless entry).

    ``status`` is the result code the Secure DFU buttonless characteristic
    indicated (2 op code not supported, 4 operation failed, 6 busy, 7 not
    bonded...). The application keeps running; nothing was changed.
    """
