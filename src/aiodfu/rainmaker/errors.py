"""Errors specific to the RainMaker backend (all in the :class:`DfuError` tree).

No message here ever contains a presigned URL: they carry credentials.
"""

from __future__ import annotations

import warnings
from typing import Any

from aiodfu.core import errors as core_errors
from aiodfu.core.errors import DeviceError, DfuError, DfuTimeoutError, ProtocolError


class EspAtError(DeviceError):
    """An ESP-AT command failed; ``err_code`` is the decoded ``ERR CODE`` when ``AT+SYSLOG=1``."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        offset: int | None = None,
        status: int | str | None = None,
        err_code: object | None = None,
    ) -> None:
        self.err_code = err_code
        super().__init__(message, operation=operation, offset=offset, status=status)


class DownloadFailedError(EspAtError):
    """``AT+HTTPCGET`` ended with ``ERROR`` (connection failed, reset mid-body, HTTP error).

    Transient: the download resumes with a ``Range`` request or restarts.
    ``http_status`` is the server's status where the module reported it.
    """

    transient = True
    http_status: int | None = None


class DownloadSizeError(DfuError):
    """The image's length differs from the ``<size>`` of ``+RMFWNOTIFY``.

    Transient when the body ended early with ``OK`` (a short ``Content-Length``:
    the rest is asked for with ``Range``); not when the server sent more than
    announced (retrying cannot change the file).
    """


class NotificationError(ProtocolError, ValueError):
    """A ``+RMFWNOTIFY`` that cannot be used: a line that does not parse, or a URL the
    module cannot store (``AT+HTTPURLCFG`` takes 8..8192 bytes). The message never
    contains the URL. Also a :class:`ValueError`.
    """

    transient = False


class NoUpdateError(DfuTimeoutError):
    """No ``+RMFWNOTIFY`` arrived: the cloud has no unfinished host-MCU job for this node."""

    transient = False


class JobRejectedError(DfuError):
    """The application declined the job's version; the job was reported rejected (5)."""


InstallFailedError = core_errors.InstallFailedError
"""The install callback raised; the job was reported failed (3). ``__cause__`` says why."""


DEPRECATED_NAMES = {"NotificationFormatError": NotificationError}
"""Old names that still work, with a :class:`DeprecationWarning`."""


def deprecated(name: str) -> Any:
    """The object an old name stands for, warning the caller's caller."""
    warnings.warn(
        f"aiodfu.rainmaker.{name} is deprecated; use NotificationError "
        "(the one error for notifications)",
        DeprecationWarning,
        stacklevel=3,
    )
    return DEPRECATED_NAMES[name]


def __getattr__(name: str) -> Any:
    if name in DEPRECATED_NAMES:
        return deprecated(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
