"""Running a command's async job: exit codes, errors with hints, interrupts.

Every command's job runs through :func:`run`, which gives each way a job can
end one documented exit code (:class:`ExitCode`, docs/json.md) and one report
-- a JSON ``error``/``interrupted``/``nothing_to_do`` line with ``--json``, a
message and a hint on stderr otherwise:

* a :class:`~aiodfu.core.errors.DfuError` (the device or link said no): 1;
* :class:`NothingToDo` (no update pending, nothing to retrieve): 3, not a failure;
* SIGINT (Ctrl-C) or SIGTERM: the job is cancelled, so the session's release
  runs and leaves the device where a fresh session can update it; 130 / 143;
* Bluetooth that cannot be used (no BlueZ, no adapter, powered off): a
  :class:`BluetoothUnavailableError` with a hint, not a traceback; 1;
* anything else is a bug in aiodfu: 70, with the traceback in the log.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import signal
import traceback
from collections.abc import Callable, Coroutine, Iterator
from typing import TypeVar

import attrs
import click
from rich.markup import escape as _escape

from aiodfu.cli.output import Reporter
from aiodfu.cli.units import fraction
from aiodfu.core.errors import DfuError, UsageError
from aiodfu.core.progress import Phase

T = TypeVar("T")

log = logging.getLogger("aiodfu.cli")


class ExitCode(enum.IntEnum):
    """The ``aiodfu`` command's exit status (docs/json.md lists them for scripts)."""

    OK = 0
    """Done: every device confirmed what was asked."""
    FAILED = 1
    """The device, the link or the file said no (a typed error; in a fleet, any device)."""
    USAGE = 2
    """The command line is wrong: unknown option, missing argument, no or several ports."""
    NOTHING_TO_DO = 3
    """Nothing to do: no update pending, the device already reports this image."""
    INTERNAL = 70
    """A bug in aiodfu (an unexpected exception): please report it with the log."""
    INTERRUPTED = 130
    """Interrupted by SIGINT (Ctrl-C); the session released the device."""
    TERMINATED = 143
    """Terminated by SIGTERM; the session released the device."""


class NothingToDo(Exception):
    """Raise from a command's job when there is nothing to do: exit 3 and a ``nothing_to_do``
    event instead of an error (RainMaker with no OTA job pending, a Notecard with no image)."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class BluetoothUnavailableError(DfuError):
    """Bluetooth cannot be used on this machine: no BlueZ (or D-Bus), no adapter, powered off,
    or access denied. ``hint`` says what to check; ``reason`` is bleak's reason, if it gave one."""

    def __init__(self, message: str, *, hint: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.reason = reason


class Interrupted(Exception):
    """The job was cancelled by ``signum`` (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_BLUEZ_HINT = (
    "Bluetooth needs BlueZ on Linux: check `systemctl status bluetooth` (and that D-Bus runs), "
    "that `bluetoothctl list` shows an adapter, and `bluetoothctl power on`. In a container, "
    "pass the host's /run/dbus. See docs/troubleshooting.md."
)
_REASON_HINTS = {
    "NO_BLUETOOTH": "no Bluetooth adapter found: plug one in, or check `bluetoothctl list`.",
    "NO_BLE_CENTRAL_ROLE": "the adapter cannot act as a BLE central; use another adapter.",
    "POWERED_OFF": "Bluetooth is off: `bluetoothctl power on` (or turn it on in the settings).",
    "DENIED_BY_USER": "access to Bluetooth was denied: allow this terminal in privacy settings.",
    "DENIED_BY_SYSTEM": "the system denied access to Bluetooth (D-Bus policy or privacy settings).",
}
_DBUS_UNAVAILABLE = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.bluez.Error.NotReady")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _raised_in(exc: BaseException, *packages: str) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(
        f"/{package}/" in frame.filename.replace("\\", "/")
        for frame in frames
        for package in packages
    )


def bluetooth_unavailable(exc: BaseException) -> BluetoothUnavailableError | None:
    """The typed error for ``exc`` if it (or what caused it) says Bluetooth cannot be used.

    bleak reports a missing BlueZ as a bare :class:`FileNotFoundError` from the
    D-Bus socket, a missing adapter as ``BleakBluetoothNotAvailableError`` and
    a stopped BlueZ as a D-Bus ``ServiceUnknown`` error; all three mean the same
    to a person: this machine's Bluetooth is not usable.
    """
    for item in _chain(exc):
        kind = type(item)
        if kind.__module__.startswith("bleak"):
            reason = getattr(item, "reason", None)
            if reason is not None:
                name = getattr(reason, "name", str(reason))
                hint = _REASON_HINTS.get(name, _BLUEZ_HINT)
                return BluetoothUnavailableError(
                    f"Bluetooth is not available: {item}", hint=hint, reason=name
                )
            if getattr(item, "dbus_error", None) in _DBUS_UNAVAILABLE:
                return BluetoothUnavailableError(
                    f"Bluetooth is not available (BlueZ is not running): {item}", hint=_BLUEZ_HINT
                )
        elif isinstance(item, OSError) and _raised_in(item, "bleak", "dbus_fast"):
            why = item.strerror or str(item)
            return BluetoothUnavailableError(
                f"Bluetooth is not available: cannot reach BlueZ over D-Bus ({why})",
                hint=_BLUEZ_HINT,
            )
    return None


@attrs.frozen
class ErrorReport:
    """How one failure is shown and which exit code it gives."""

    type: str
    message: str
    exit_code: ExitCode
    hint: str | None = None
    operation: str | None = None
    offset: int | None = None
    status: int | str | None = None

    def fields(self) -> dict[str, object]:
        return {
            "type": self.type,
            "message": self.message,
            "exit_code": int(self.exit_code),
            "hint": self.hint,
            "operation": self.operation,
            "offset": self.offset,
            "status": self.status,
        }


def _hint_for(exc: BaseException) -> str | None:
    causes = list(_chain(exc))
    for item in causes:  # the error's own hint, or its cause's (retries wrap the cause)
        hint = getattr(item, "hint", None)
        if isinstance(hint, str):
            return hint
    if any(isinstance(item, PermissionError) for item in causes):
        return (
            "permission denied on the port: on Linux add yourself to the `dialout` group "
            "(`sudo usermod -aG dialout $USER`, then log in again); see docs/platforms.md."
        )
    if any(isinstance(item, OSError) and item.errno == errno.EBUSY for item in causes):
        return "the port is busy: close other programs using it (a serial monitor, ModemManager)."
    if any(isinstance(item, FileNotFoundError) for item in causes):
        return "no such port: `aiodfu ports` lists the serial ports on this machine."
    if isinstance(exc, TimeoutError):
        return (
            "the device did not answer: check that it is powered and running the DFU-capable "
            "firmware, the port (`aiodfu ports`) and the baud rate (--baud); `-vv` shows "
            "every line on the wire."
        )
    return None


def describe_error(exc: BaseException) -> ErrorReport:
    """The report and exit code of any exception a job can end with."""
    unavailable = bluetooth_unavailable(exc)
    if unavailable is not None:
        exc = unavailable
    if isinstance(exc, DfuError):
        code = ExitCode.USAGE if isinstance(exc, UsageError) else ExitCode.FAILED
        return ErrorReport(
            type=type(exc).__name__,
            message=str(exc),
            exit_code=code,
            hint=_hint_for(exc),
            operation=exc.operation,
            offset=exc.offset,
            status=exc.status,
        )
    if type(exc).__module__.startswith("bleak"):  # a device-level BLE failure bleak reported
        return ErrorReport(type(exc).__name__, str(exc), ExitCode.FAILED, _hint_for(exc))
    return ErrorReport(
        type=type(exc).__name__,
        message=str(exc) or type(exc).__name__,
        exit_code=ExitCode.INTERNAL,
        hint="this is a bug in aiodfu: please report it with the output of `-vv --log-file FILE`.",
    )


def report_error(reporter: Reporter, report: ErrorReport) -> None:
    """An ``error`` event with ``--json``; ``error: ...`` and ``hint: ...`` on stderr otherwise."""
    reporter.finish("failed")
    if reporter.json_lines:
        reporter.emit("error", **report.fields())
        return
    kind = "internal error" if report.exit_code is ExitCode.INTERNAL else "error"
    reporter.err_console.print(f"[bold red]{kind}:[/bold red] {_escape(report.message)}")
    if report.hint:
        reporter.err_console.print(f"[yellow]hint:[/yellow] {_escape(report.hint)}")


def report_interrupt(reporter: Reporter, signum: int) -> ExitCode:
    """Say the job was interrupted, what it was doing, that the device was released, what next."""
    name = signal.Signals(signum).name
    code = ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED
    unfinished = {
        label: event
        for label, event in reporter.last_progress.items()
        if event.phase is not Phase.DONE
    }
    reporter.finish("interrupted")
    if unfinished:
        doing = "; ".join(
            f"{label} {event.phase.value} ({fraction(event.done, event.total)})"
            for label, event in unfinished.items()
        )
        message = (
            f"interrupted by {name} while {doing}. The session released the device, so a "
            "fresh session can update it: run the same command again to continue."
        )
    else:
        message = f"interrupted by {name}; no update was in progress."
    if reporter.json_lines:
        reporter.emit(
            "interrupted",
            signal=name,
            exit_code=int(code),
            message=message,
            unfinished=[
                {
                    "label": label,
                    "phase": event.phase.value,
                    "done": event.done,
                    "total": event.total,
                }
                for label, event in unfinished.items()
            ],
        )
    else:
        reporter.err_console.print(f"[bold yellow]interrupted:[/bold yellow] {_escape(message)}")
    return code


class Context:
    """What the ``aiodfu`` group passes to its commands."""

    def __init__(self, json_lines: bool, *, reporter: Reporter | None = None) -> None:
        self.reporter = reporter or Reporter(json_lines=json_lines)


async def _supervised(
    job: Callable[[Reporter], Coroutine[object, object, T]],
    reporter: Reporter,
    received: list[int],
) -> T:
    """Run ``job``; SIGINT and SIGTERM cancel it (so its sessions release their devices)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    installed: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            log.info("%s: cancelling; the session releases the device", signal.Signals(signum).name)
        received.append(signum)
        task.cancel()

    for wanted in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(wanted, on_signal, int(wanted))
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(int(wanted))
    try:
        return await job(reporter)
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


def execute(reporter: Reporter, job: Callable[[Reporter], Coroutine[object, object, T]]) -> T:
    """Run ``job`` to its end; raise :class:`click.exceptions.Exit` with the exit code if it
    did not succeed, after reporting how it ended."""
    received: list[int] = []
    code: ExitCode
    with reporter:
        try:
            result = asyncio.run(_supervised(job, reporter, received))
        except NothingToDo as nothing:
            reporter.finish()
            code = ExitCode.NOTHING_TO_DO
            if reporter.json_lines:
                reporter.emit(
                    "nothing_to_do", message=nothing.message, exit_code=int(code), **nothing.fields
                )
            else:
                reporter.console.print(f"[bold]nothing to do:[/bold] {_escape(nothing.message)}")
        except (asyncio.CancelledError, KeyboardInterrupt):
            code = report_interrupt(reporter, received[0] if received else int(signal.SIGINT))
        except Exception as exc:
            report = describe_error(exc)
            if report.exit_code is ExitCode.INTERNAL:
                log.error("unexpected error", exc_info=exc)
            else:
                log.debug("failed", exc_info=exc)
            report_error(reporter, report)
            code = report.exit_code
        else:
            return result
    raise click.exceptions.Exit(int(code))


def run(ctx: click.Context, job: Callable[[Reporter], Coroutine[object, object, T]]) -> T:
    """Run ``job`` with the reporter the global options chose; see the module docstring."""
    context = ctx.find_object(Context)
    reporter = context.reporter if context is not None else Reporter(json_lines=False)
    return execute(reporter, job)


__all__ = [
    "BluetoothUnavailableError",
    "Context",
    "ErrorReport",
    "ExitCode",
    "NothingToDo",
    "describe_error",
    "execute",
    "run",
]
