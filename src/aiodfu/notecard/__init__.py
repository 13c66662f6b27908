"""Blues Notecard host-MCU firmware update (IAP: ``dfu.status``/``hub.set``/``dfu.get``).

The host pulls the image the Notecard downloaded from Notehub, verifies it,
installs it through a callback and reports the outcome back through the card.
:class:`NotecardClient` is the general JSON request client (CRC + sequence,
segmented writes, retries, heartbeats, resync). Serial ports with :func:`open`,
serial-over-I2C with :func:`open_i2c`. See ``docs/protocols/notecard.md``.
"""

from aiodfu.notecard.card import (
    DEFAULT_CHUNK_SIZE,
    SUCCESS_STATUS,
    Installer,
    Notecard,
    open,
    open_i2c,
)
from aiodfu.notecard.client import NotecardClient
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
from aiodfu.notecard.messages import BinaryStoreStatus, DfuMode, DfuStatus, ImageInfo
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
    "NotecardI2cStream",
    "NotecardIoError",
    "NotecardRequestError",
    "RequestNotSupportedError",
    "ResyncFailedError",
    "Timeouts",
    "open",
    "open_i2c",
]
