"""One exception tree for every backend, rooted at :class:`DfuError`.

Each error also inherits the standard library type that fits (a timeout is a
:class:`TimeoutError`, a lost link a :class:`ConnectionError`, a bad file a
:class:`ValueError`), so callers can catch either. Errors keep what the
device said (``status``), which operation failed (``operation``) and where in
the image (``offset``), and put all three in the message.

``transient`` tells the transfer engine whether another attempt may succeed
after recovery (reconnect, resync, restart from the device's offset or from
zero). Errors caused by the input or by a device that rejects the image are
not transient: retrying cannot fix them.
"""

from __future__ import annotations


class DfuError(Exception):
    """Base class of every error raised by aiodfu."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        offset: int | None = None,
        status: int | str | None = None,
    ) -> None:
        self.message = message
        self.operation = operation
        self.offset = offset
        self.status = status
        super().__init__(self._render())

    def locate(self, operation: str | None = None, offset: int | None = None) -> DfuError:
        """Fill in the operation and offset where the raiser did not know them.

        Low layers (a stream write) do not know which command or image offset
        they served; the layer that does calls this before letting the error go.
        """
        if self.operation is None:
            self.operation = operation
        if self.offset is None:
            self.offset = offset
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        where = []
        if self.operation is not None:
            where.append(self.operation)
        if self.offset is not None:
            where.append(f"at offset {self.offset}")
        if self.status is not None:
            where.append(f"device status {self.status}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class ImageError(DfuError, ValueError):
    """A firmware file is malformed, inconsistent or of the wrong kind.

    Raised before any byte is sent to a device.
    """


class ImageFileNotFoundError(ImageError, FileNotFoundError):
    """The firmware file does not exist (also a :class:`FileNotFoundError`)."""


class ImageIntegrityError(ImageError):
    """A hash or CRC stored in the image does not match its contents."""


class UnsupportedError(DfuError):
    """The device (or this build of it) does not support what was asked."""


class DeviceError(DfuError):
    """The device answered, and the answer was a failure.

    ``status`` holds the device's own code (``ERROR``, ``-1``, a status byte).
    """


class CommandRejectedError(DeviceError):
    """The device refused a command before acting on it (an ``ERROR`` reply)."""


class ChunkFailedError(DeviceError):
    """The device reported that writing a chunk failed.

    Transient: the image is restarted (or resumed, where the protocol can) after recovery.
    """

    transient = True


class ProtocolError(DfuError):
    """The device sent something the protocol does not allow here."""

    transient = True


class DfuTimeoutError(DfuError, TimeoutError):
    """The device did not answer in time."""

    transient = True


class LinkLostError(DfuError, ConnectionError):
    """The link to the device closed or failed while it was in use."""

    transient = True


class DeviceResetError(DfuError):
    """The device rebooted unexpectedly, losing its in-progress update state."""

    transient = True


class RetriesExhaustedError(DfuError):
    """Every attempt allowed by the retry policy failed; ``__cause__`` is the last failure.

    Use :meth:`after` to raise one: when every failure of the final streak was
    a timeout (or every one a lost link), the error raised is also a
    :class:`TimeoutError` (or :class:`ConnectionError`), so ``except
    TimeoutError`` catches a device that stayed silent however many times it
    was retried.
    """

    @classmethod
    def after(cls, failures: list[DfuError], message: str) -> RetriesExhaustedError:
        """The error for a streak of ``failures`` (oldest first), located where the last one was."""
        last = failures[-1]
        kind: type[RetriesExhaustedError] = cls
        if all(isinstance(failure, TimeoutError) for failure in failures):
            kind = RetriesExhaustedTimeoutError
        elif all(isinstance(failure, ConnectionError) for failure in failures):
            kind = RetriesExhaustedConnectionError
        error = kind(message, operation=last.operation, offset=last.offset, status=last.status)
        error.__cause__, error.__suppress_context__ = last, True
        return error


class RetriesExhaustedTimeoutError(RetriesExhaustedError, TimeoutError):
    """Retries exhausted, and every failure of the final streak was a timeout."""


class RetriesExhaustedConnectionError(RetriesExhaustedError, ConnectionError):
    """Retries exhausted, and every failure of the final streak was a lost link."""


class InstallFailedError(DfuError):
    """The caller's ``install`` callback failed on a retrieved, verified image (pull backends).

    The device is told the update failed; ``__cause__`` is what ``install`` raised.
    """


class UsageError(DfuError, ValueError):
    """The caller asked for something inconsistent (a local error, not the device's)."""
