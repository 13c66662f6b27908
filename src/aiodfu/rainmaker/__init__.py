"""ESP RainMaker AT host-MCU OTA: an ESP32 running ESP-AT downloads the host's firmware.

``+RMFWNOTIFY`` announces a job, ``AT+HTTPURLCFG`` + ``AT+HTTPCGET`` stream the
image over the UART, ``AT+RMOTARESULT`` reports the outcome. See
``docs/protocols/rainmaker.md``.
"""

from typing import Any

from aiodfu.rainmaker import errors as _errors
from aiodfu.rainmaker.device import RainMakerDevice
from aiodfu.rainmaker.errors import (
    DownloadFailedError,
    DownloadSizeError,
    EspAtError,
    InstallFailedError,
    JobRejectedError,
    NotificationError,
    NoUpdateError,
)
from aiodfu.rainmaker.protocol import (
    ErrCode,
    FirmwareNotification,
    OtaStatus,
    parse_err_code,
    parse_fw_notify,
    redact,
)
from aiodfu.rainmaker.session import Accept, RainMakerSession, open
from aiodfu.rainmaker.timeouts import Timeouts

__all__ = [
    "Accept",
    "DownloadFailedError",
    "DownloadSizeError",
    "ErrCode",
    "EspAtError",
    "FirmwareNotification",
    "InstallFailedError",
    "JobRejectedError",
    "NoUpdateError",
    "NotificationError",
    "OtaStatus",
    "RainMakerDevice",
    "RainMakerSession",
    "Timeouts",
    "open",
    "parse_err_code",
    "parse_fw_notify",
    "redact",
]


def __getattr__(name: str) -> Any:
    """Deprecated names (``NotificationFormatError``), with a warning."""
    if name in _errors.DEPRECATED_NAMES:
        return _errors.deprecated(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
