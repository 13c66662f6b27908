"""Blues Notecard host-MCU firmware update (IAP: ``dfu.status``/``hub.set``/``dfu.get``).

The host pulls the image the Notecard downloaded from Notehub, verifies it,
installs it through a callback and reports the outcome back through the card:
:class:`NotecardSession` (serial ports with :func:`open`, serial-over-I2C with
:func:`open_i2c`). :class:`NotecardDevice` is the card itself: its link's
lifecycle and the general JSON request client (CRC + sequence, segmented
writes, retries, heartbeats, resync). See ``docs/protocols/notecard.md``.

Modules: ``session`` (the session, ``open``/``open_i2c``), ``device`` (the
card), ``transfers`` (the retrieval the transfer engine drives),
``protocol`` (sans-IO framing and typed responses), ``i2c`` (serial-over-I2C),
``cobs`` (the binary store's encoding), ``timeouts``, ``errors``.
"""

from aiodfu.notecard.device import NotecardClient, NotecardDevice
from aiodfu.notecard.errors import (
    BinaryTransferError,
    ChunkVerificationError,
    CorruptResponseError,
    DfuModeEntryTimeoutError,
    DfuModeError,
    ImageChangedError,
    ImageNotReadyError,
    ImageSupersededError,
    ImageVerificationError,
    InstallFailedError,
    MissingImageInfoError,
    NotecardIoError,
    NotecardRequestError,
    RequestNotSupportedError,
    ResyncFailedError,
)
from aiodfu.notecard.i2c import NOTECARD_ADDRESS, I2cPacing, NotecardI2cStream
from aiodfu.notecard.protocol import BinaryStoreStatus, DfuMode, DfuStatus, ImageInfo
from aiodfu.notecard.session import (
    DEFAULT_CHUNK_SIZE,
    SUCCESS_STATUS,
    Installer,
    Notecard,
    NotecardSession,
    open,
    open_i2c,
)
from aiodfu.notecard.timeouts import Timeouts

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "NOTECARD_ADDRESS",
    "SUCCESS_STATUS",
    "BinaryStoreStatus",
    "BinaryTransferError",
    "ChunkVerificationError",
    "CorruptResponseError",
    "DfuMode",
    "DfuModeEntryTimeoutError",
    "DfuModeError",
    "DfuStatus",
    "I2cPacing",
    "ImageChangedError",
    "ImageInfo",
    "ImageNotReadyError",
    "ImageSupersededError",
    "ImageVerificationError",
    "InstallFailedError",
    "Installer",
    "MissingImageInfoError",
    "Notecard",
    "NotecardClient",
    "NotecardDevice",
    "NotecardI2cStream",
    "NotecardIoError",
    "NotecardRequestError",
    "NotecardSession",
    "RequestNotSupportedError",
    "ResyncFailedError",
    "Timeouts",
    "open",
    "open_i2c",
]
