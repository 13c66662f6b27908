"""Errors specific to the Drogue backend (all in the :class:`DfuError` tree)."""

from __future__ import annotations

from aiodfu.core.errors import ChunkFailedError, DeviceError, ProtocolError


class MalformedMessageError(ProtocolError):
    """A frame or CBOR body that is not a valid Status or Command.

    Transient when it comes from the device: the host resynchronises on the next frame.
    """


class WriteRejectedError(ChunkFailedError):
    """The device did not advance its offset after a Write (embassy ``WrongOffset``,
    ``Unaligned`` or a flash error: the device reports no error code, only no progress)."""


class OffsetBeyondImageError(DeviceError):
    """The device reports more bytes of this version than the image has.

    It holds a different image under the same version string; give the new image a new version.
    """


class DeviceRevertedError(DeviceError):
    """After the swap and reset the device runs its old version again.

    The new firmware did not boot (or was reset before it confirmed itself), so the
    bootloader reverted to the previous image, which is active again.
    """


class UnexpectedStatusError(ProtocolError):
    """The device's Status does not follow from the command just sent (another update's
    version, an offset it cannot have reached, an update that vanished).

    Transient: the host continues from whatever the device reports next, as the
    reference's server logic does.
    """


class UnacknowledgedError(ProtocolError):
    """The device reported again without showing it took the command sent (the frame was
    lost or garbled on the way, and the device re-sent its Status on its own timer).

    Transient: the host reconnects and sends the command again.
    """


class ChecksumRejectedError(ChunkFailedError):
    """The device refused to swap: the image it holds does not match the Swap's SHA-256.

    Only firmware that checks the checksum does this (none known; the emulator can).
    Transient: the image is written again from offset 0.
    """
