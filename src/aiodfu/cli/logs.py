"""Logging for the ``aiodfu`` command: ``-v`` phases, ``-vv`` wire lines, ``--log-file``.

Records go to stderr through the reporter's console -- the one the progress
rows are drawn on -- so rich prints each line above the rows instead of
breaking them. Every line carries a timestamp. ``--log-file`` receives every
record at DEBUG (wire lines included, whatever ``-v`` says), with the date,
ready to attach to a bug report. Inside a fleet job, each line names its device.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from pathlib import Path

from aiodfu.cli.output import Reporter

CONSOLE_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(device)s%(message)s"
CONSOLE_DATE = "%H:%M:%S"
FILE_FORMAT = CONSOLE_FORMAT
FILE_DATE = "%Y-%m-%dT%H:%M:%S"

current_device: ContextVar[str | None] = ContextVar("aiodfu_cli_device", default=None)
"""The device a task works on (the fleet runner sets it per device): log lines name it."""


class DeviceFilter(logging.Filter):
    """Adds ``device`` to each record: ``"/dev/ttyACM3: "`` inside a fleet job, else empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        device = current_device.get()
        record.device = f"{device}: " if device else ""
        return True


class ConsoleHandler(logging.Handler):
    """Writes records through :meth:`Reporter.log_line` (stderr, above any progress rows)."""

    def __init__(self, reporter: Reporter, level: int) -> None:
        super().__init__(level)
        self.reporter = reporter
        self.setFormatter(logging.Formatter(CONSOLE_FORMAT, CONSOLE_DATE))
        self.addFilter(DeviceFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.reporter.log_line(self.format(record))
        except Exception:  # a log line must never end the command
            self.handleError(record)


def console_level(verbose: int) -> int:
    """0: warnings and errors; 1 (``-v``): phases and steps; 2+ (``-vv``): every wire line."""
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


class LogSetup:
    """The handlers one invocation installed; :meth:`close` removes them (tests invoke the
    command many times in one process)."""

    def __init__(self, reporter: Reporter, verbose: int, log_file: Path | None) -> None:
        self.handlers: list[logging.Handler] = [ConsoleHandler(reporter, console_level(verbose))]
        if log_file is not None:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
            file_handler.setFormatter(logging.Formatter(FILE_FORMAT, FILE_DATE))
            file_handler.setLevel(logging.DEBUG)
            file_handler.addFilter(DeviceFilter())
            self.handlers.append(file_handler)
        self._logger = logging.getLogger("aiodfu")
        self._previous_level = self._logger.level
        self._previous_propagate = self._logger.propagate
        lowest = min(handler.level for handler in self.handlers)
        self._logger.setLevel(lowest)
        self._logger.propagate = False  # our handlers, not the root's (no doubled lines)
        for handler in self.handlers:
            self._logger.addHandler(handler)

    def close(self) -> None:
        for handler in self.handlers:
            self._logger.removeHandler(handler)
            handler.close()
        self._logger.setLevel(self._previous_level)
        self._logger.propagate = self._previous_propagate
