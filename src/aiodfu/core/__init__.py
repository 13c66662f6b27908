"""Protocol-free, transport-free building blocks shared by every backend."""

from aiodfu.core.errors import (
    ChunkFailedError,
    CommandRejectedError,
    DeviceError,
    DeviceResetError,
    DfuError,
    DfuTimeoutError,
    ImageError,
    ImageIntegrityError,
    LinkLostError,
    ProtocolError,
    RetriesExhaustedError,
    UnsupportedError,
    UsageError,
)
from aiodfu.core.image import FirmwareImage, ImageKind
from aiodfu.core.progress import Phase, Progress, ProgressCallback, ProgressTracker
from aiodfu.core.session import (
    Connector,
    InstallCallback,
    PullSession,
    UpdateResult,
    UpdateSession,
)
from aiodfu.core.transfer import Chunk, RetryPolicy, Transfer, chunk_plan, run_transfer

__all__ = [
    "Chunk",
    "ChunkFailedError",
    "CommandRejectedError",
    "Connector",
    "DeviceError",
    "DeviceResetError",
    "DfuError",
    "DfuTimeoutError",
    "FirmwareImage",
    "ImageError",
    "ImageIntegrityError",
    "ImageKind",
    "InstallCallback",
    "LinkLostError",
    "Phase",
    "Progress",
    "ProgressCallback",
    "ProgressTracker",
    "ProtocolError",
    "PullSession",
    "RetriesExhaustedError",
    "RetryPolicy",
    "Transfer",
    "UnsupportedError",
    "UpdateResult",
    "UpdateSession",
    "UsageError",
    "chunk_plan",
    "run_transfer",
]
