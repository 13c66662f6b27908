"""Errors specific to the Notecard backend (all in the :class:`DfuError` tree).

``status`` holds the Notecard's own ``err`` text (or ``dfu.status`` status text), so the
machine tags in braces (``{io}``, ``{bad-bin}``, ``{connected}``) stay visible to callers.
"""

from __future__ import annotations

from aiodfu.core import errors as core_errors
from aiodfu.core.errors import DeviceError, DfuError, ProtocolError, UnsupportedError


class NotecardRequestError(DeviceError):
    """The Notecard answered a request with an ``err`` (an application-level failure)."""


class RequestNotSupportedError(NotecardRequestError, UnsupportedError):
    """The request is unknown to this Notecard's firmware (``{io}{not-supported}``)."""


class CorruptResponseError(ProtocolError):
    """A response failed its CRC or sequence check, was not JSON, or was too long.

    Transient: the client retries it after a resync, as note-c does.
    """


class BinaryTransferError(NotecardRequestError):
    """The binary store transfer was corrupted (``{bad-bin}``, a bad COBS frame, a short read).

    Transient: the chunk is fetched again after recovery; the transport never retries it.
    """

    transient = True


class ChunkVerificationError(DeviceError):
    """A retrieved chunk has the wrong length or fails its MD5; fetched again after recovery."""

    transient = True


class DfuModeError(NotecardRequestError):
    """The Notecard is not (or no longer) in DFU mode where the image needs it.

    Transient: recovery re-enters DFU mode and continues from the last verified offset.
    """

    transient = True


class DfuModeEntryTimeoutError(DfuModeError):
    """The Notecard never became ready to serve the image after ``hub.set mode:dfu``."""

    transient = False


class ImageNotReadyError(DfuError):
    """``dfu.status`` does not report ``ready``: there is no image to retrieve (yet)."""


class ImageSupersededError(NotecardRequestError):
    """The Notecard reports the download as failed or superseded (``dfu.status`` mode ``error``)."""


class MissingImageInfoError(ProtocolError):
    """Neither ``dfu.status`` nor the first ``dfu.get`` described the image (no ``body``)."""

    transient = False


class ImageChangedError(DeviceError):
    """The image the Notecard serves is not the one this retrieval started on."""


class ImageVerificationError(DeviceError):
    """The whole retrieved image does not match the length, MD5 or CRC-32 the card announced."""


InstallFailedError = core_errors.InstallFailedError
"""The install callback raised; the card was told so with ``dfu.status stop`` + ``err``."""


class ResyncFailedError(DfuError, ConnectionError):
    """Ten reset attempts never got the bare CR/LF answer that means the link is in sync."""

    transient = True


class NotecardIoError(NotecardRequestError):
    """The card kept answering ``{io}`` (it received a corrupted request) on every attempt."""

    transient = True
