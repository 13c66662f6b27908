"""aiodfu: asyncio device firmware update over several vendor protocols behind one API."""

from aiodfu._version import __version__
from aiodfu.core import (
    DfuError,
    FirmwareImage,
    ImageKind,
    Phase,
    Progress,
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
    "FirmwareImage",
    "ImageKind",
    "Phase",
    "Progress",
    "PullSession",
    "RetryPolicy",
    "UpdateResult",
    "UpdateSession",
    "Verification",
    "VerificationMethod",
    "__version__",
    "load_image",
]
