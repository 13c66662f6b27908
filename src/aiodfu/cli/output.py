"""How the CLI reports: rich progress rows on a terminal, or one JSON object per line.

Commands only call :class:`Reporter` methods, so every command supports both
``--json`` and the interactive view without knowing which is active.

The two streams have one job each. **stdout** carries results: the summary
tables, or -- with ``--json`` -- every event, each a JSON object on its own
line (schema: ``aiodfu/cli/schema/events-v1.json``, docs/json.md). **stderr**
carries what a person watches while it runs: the progress rows, log lines
(``-v``), errors and hints. Log lines go through the same console as the
progress rows, so rich prints them above the rows and never through them.

Values are typed: commands pass numbers in bytes, bytes per second and
seconds, and booleans; JSON carries them as they are, and only the
interactive view turns them into ``12.3 KiB/s`` or ``3.61 s`` (by the key's
name: see :func:`display`). Keys and event names are snake_case in JSON,
whatever a command passed.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import re
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self, TextIO

from rich.console import Console
from rich.markup import escape

from aiodfu.cli import units
from aiodfu.cli.bars import Bars
from aiodfu.core.progress import Phase
from aiodfu.core.progress import Progress as DfuProgress
from aiodfu.core.session import UpdateResult

log = logging.getLogger("aiodfu.cli")

Scalar = str | int | float | bool | None


def snake(name: str) -> str:
    """A JSON key: ``"sent sha256"`` -> ``sent_sha256``, ``"dfuAddress"`` -> ``dfu_address``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_") or "value"


def event_name(title: str) -> str:
    """An event name: snake_case, keeping the dots of protocol names (``dfu.status``)."""
    return ".".join(snake(part) for part in title.split("."))


def json_value(value: object) -> object:
    """``value`` as JSON can carry it, typed: numbers stay numbers, paths become strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {snake(str(key)): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


_BYTE_KEYS = re.compile(r"^(bytes|size)$|_(bytes|size)$|^bytes_")
_SPEED_KEYS = re.compile(r"(^|_)(speed|throughput)$")
_SECOND_KEYS = re.compile(r"(^|_)(seconds|elapsed|eta)$")


def display(key: str, value: object) -> str:
    """How the interactive view shows ``value``, chosen by its (snake_case) ``key``.

    ``bytes``/``size``/``*_bytes`` are byte counts, ``*speed``/``throughput``
    bytes per second (shown in KiB/s), ``seconds``/``elapsed``/``eta`` seconds.
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)  # True / False, as scripts that read the table already expect
    if isinstance(value, int | float):
        if _BYTE_KEYS.search(key) and isinstance(value, int):
            return f"{value} ({units.size(value)})" if value >= units.KIB else f"{value} B"
        if _SPEED_KEYS.search(key):
            return units.speed(float(value))
        if _SECOND_KEYS.search(key):
            return f"{value:.2f} s"
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(display(key, item) for item in value)
    converted = json_value(value)
    return converted if isinstance(converted, str) else json.dumps(converted)


def result_rows(result: UpdateResult) -> dict[str, Scalar]:
    """The rows every update and retrieval reports: size, hash, effort, time, verification.

    Numbers are bytes, bytes per second and seconds; ``verified`` is a boolean
    and ``verification`` names who checked the image end to end (a
    :class:`~aiodfu.core.session.VerificationMethod` value) with
    ``verification_detail`` saying how. The result's protocol ``details``
    follow, their keys in snake_case.
    """
    elapsed = result.elapsed
    rows: dict[str, Scalar] = {
        "bytes": len(result.image),
        "sha256": result.image.sha256.hex(),
        "attempts": result.attempts,
        "bytes_moved": result.bytes_moved,
        "seconds": round(elapsed, 3),
        "throughput": round(len(result.image) / elapsed, 1) if elapsed > 0 else None,
        "verified": result.verification.verified,
        "verification": result.verification.method.value,
        "verification_detail": result.verification.detail,
    }
    for key, value in result.details.items():
        rows.setdefault(snake(key), value)
    return rows


def table_lines(items: list[tuple[str, object]], width: int = 80) -> list[str]:
    """``  key  value`` lines that fit ``width`` columns, without trailing spaces.

    A long value wraps under itself; one that cannot be broken (a SHA-256) goes
    whole on the next line, indented, rather than being cut.
    """
    shown = [
        (key.replace("_", " ") if key == snake(key) else key, display(snake(key), value))
        for key, value in items
    ]
    keys = max((len(key) for key, _ in shown), default=0)
    room = max(width - keys - 4, 20)
    lines = []
    for key, value in shown:
        head = f"  {key:<{keys}}  "
        if len(value) <= room:
            lines.append((head + value).rstrip())
        elif " " not in value and len(value) <= width - 4:
            lines.extend([head.rstrip(), "    " + value])
        else:
            wrapped = textwrap.wrap(value, room, break_long_words=True) or [""]
            lines.append(head + wrapped[0])
            lines.extend(" " * len(head) + part for part in wrapped[1:])
    return lines


class Reporter:
    """Progress, results and errors for one CLI command.

    ``console`` (stdout) takes results, ``err_console`` (stderr) progress rows,
    log lines and errors. ``json_interval`` spaces ``progress`` lines of one
    label in ``--json`` mode; a change of phase or attempt, and the last
    event, are always written. JSON lines go to ``json_stream`` (stdout by default).
    """

    def __init__(
        self,
        *,
        json_lines: bool,
        console: Console | None = None,
        err_console: Console | None = None,
        json_interval: float = 0.25,
        json_stream: TextIO | None = None,
    ) -> None:
        self.json_lines = json_lines
        self._json_stream = json_stream
        self.console = console or Console(highlight=False)
        self.err_console = err_console or Console(stderr=True, highlight=False)
        self.json_interval = json_interval
        self.last_progress: dict[str, DfuProgress] = {}
        """The last event of each label: what an interrupted or failed job was doing."""
        self._bars: Bars | None = None
        self._json_sent: dict[str, tuple[Phase, int, float]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish("failed" if exc_type is not None else None)

    # --- results (stdout) ---------------------------------------------------------------------

    def emit(self, event: str, **fields: object) -> None:
        """A JSON line in ``--json`` mode; ignored otherwise (use :meth:`say` for people)."""
        if self.json_lines:
            record = {"event": event_name(event), **json_value(fields)}  # type: ignore[dict-item]
            stream = self._json_stream or sys.stdout  # looked up late: tests swap sys.stdout
            stream.write(json.dumps(record, allow_nan=False) + "\n")
            stream.flush()

    def say(self, text: str) -> None:
        """A line for people on stdout (rich markup); nothing in ``--json`` mode."""
        if not self.json_lines:
            self.finish()
            self.console.print(text)

    def table(
        self,
        title: str,
        rows: Mapping[str, object] | Sequence[tuple[str, object]],
        *,
        event: str | None = None,
    ) -> None:
        """A titled set of rows: the event ``event`` (default: ``title``) in ``--json`` mode."""
        items = list(rows.items()) if isinstance(rows, Mapping) else list(rows)
        if self.json_lines:
            self.emit(event or title, **{snake(key): value for key, value in items})
            return
        self.finish()
        self.console.print(f"[bold]{escape(title)}[/bold]")
        for line in table_lines(items, self.console.width):
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    # --- what a person watches (stderr) -------------------------------------------------------

    def note(self, text: str) -> None:
        """A line for people on stderr (rich markup), above any progress rows."""
        if not self.json_lines:
            self.err_console.print(text)

    def log_line(self, text: str) -> None:
        """Write one formatted log record on stderr, above the progress rows if any."""
        self.err_console.print(text, markup=False, highlight=False, soft_wrap=True)

    def progress(self, label: str) -> _ProgressCallback:
        """The ``progress=`` callback for one update, shown as the row ``label``."""
        return _ProgressCallback(self, label)

    def end_row(self, label: str, outcome: str) -> None:
        """Say how one row ended while others go on (a fleet device that failed)."""
        if self._bars is not None:
            self._bars.set_outcome(label, outcome)

    def finish(self, outcome: str | None = None) -> None:
        """Stop the progress rows once; rows not ``done`` then read ``outcome``."""
        if self._bars is not None:
            bars, self._bars = self._bars, None
            bars.finish(outcome)

    def _show(self, label: str, event: DfuProgress) -> None:
        previous = self.last_progress.get(label)
        self.last_progress[label] = event
        if previous is None or (previous.phase, previous.attempt) != (event.phase, event.attempt):
            attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            why = f": {event.message}" if event.message else ""
            log.info("%s: %s%s%s", label, event.phase.value, attempt, why)
        if self.json_lines:
            self._emit_progress(label, event)
            return
        if self._bars is None:
            self._bars = Bars(self.err_console)
        self._bars.update(label, event)

    def _emit_progress(self, label: str, event: DfuProgress) -> None:
        now = time.monotonic()
        sent = self._json_sent.get(label)
        if (
            sent is not None
            and (sent[0], sent[1]) == (event.phase, event.attempt)
            and now - sent[2] < self.json_interval
            and event.done < event.total
        ):
            return
        self._json_sent[label] = (event.phase, event.attempt, now)
        self.emit(
            "progress",
            label=label,
            phase=event.phase.value,
            done=event.done,
            total=event.total,
            speed=event.speed,
            average_speed=event.average_speed,
            eta=event.eta,
            attempt=event.attempt,
            message=event.message,
        )


class _ProgressCallback:
    def __init__(self, reporter: Reporter, label: str) -> None:
        self._reporter = reporter
        self._label = label

    def __call__(self, event: DfuProgress) -> None:
        self._reporter._show(self._label, event)
