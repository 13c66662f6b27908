"""aiodfu: asyncio device firmware update over several vendor protocols behind one API."""

from aiodfu._version import __version__
from aiodfu.core import (
    DfuError,
    FileSink,
    FirmwareImage,
    ImageKind,
    MemorySink,
    Phase,
    Progress,
    PulledFile,
    PullSession,
    RetryPolicy,
    UpdateResult,
    UpdateSession,
    Verification,
    VerificationMethod,
)
from aiodfu.formats import load_image

__all__ = [
    "DfuError",
    "FileSink",
    "FirmwareImage",
    "ImageKind",
    "MemorySink",
    "Phase",
    "Progress",
    "PullSession",
    "PulledFile",
    "RetryPolicy",
    "UpdateResult",
    "UpdateSession",
    "Verification",
    "VerificationMethod",
    "__version__",
    "load_image",
]
