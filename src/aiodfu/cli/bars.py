"""The interactive progress view: one row per device or image, fitted to 80 columns.

Each row shows what :class:`aiodfu.core.progress.Progress` events say -- the
tracker's own speed and ETA (measured on this session's bytes, in KiB/s), not
rich's estimate -- and, once the job is over, how the row ended (``done``,
``failed``, ``interrupted``). Rows render on the console the CLI's log lines
go to, so rich prints each log line above the bars instead of through them.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from aiodfu.cli import units
from aiodfu.core.progress import Phase, Progress

LABEL_WIDTH = 16
PHASE_WIDTH = 12
SIZE_WIDTH = 15
SPEED_WIDTH = 10
ETA_WIDTH = 7

_RETRY_NAMES = {
    Phase.CONNECTING: "connect",
    Phase.PREPARING: "prepare",
    Phase.TRANSFERRING: "transfer",
    Phase.RECOVERING: "recover",
}


def phase_text(phase: Phase, attempt: int) -> str:
    """``transferring``, or ``transfer #2`` on a later attempt (fits :data:`PHASE_WIDTH`)."""
    if attempt > 1:
        return f"{_RETRY_NAMES.get(phase, phase.value)} #{attempt}"[:PHASE_WIDTH]
    return phase.value


def label_width(console_width: int) -> int:
    """16 columns at 80; up to 32 on a wider terminal (the bar takes the rest)."""
    return max(LABEL_WIDTH, min(32, console_width - 64))


def shorten(label: str, width: int = LABEL_WIDTH) -> str:
    """Fit ``label`` in ``width``: a port path or a Bluetooth address keeps its end (``…-if00``,
    ``…:00:01`` tell devices apart), anything else its start."""
    if len(label) <= width:
        return label
    if "/" in label or "\\" in label or ":" in label:
        return "…" + label[-(width - 1) :]
    return label[: width - 1] + "…"


class _Field(ProgressColumn):
    def __init__(self, name: str, width: int, justify: str = "left") -> None:
        super().__init__(
            table_column=Column(width=width, no_wrap=True, overflow="ellipsis", justify=justify)  # type: ignore[arg-type]
        )
        self._name = name

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get(self._name, "")))


class _Size(ProgressColumn):
    def __init__(self) -> None:
        super().__init__(table_column=Column(width=SIZE_WIDTH, no_wrap=True, justify="right"))

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        return Text(units.fraction(done, int(task.total)) if task.total else units.size(done))


class Bars:
    """Rows of progress on ``console``; :meth:`finish` stops them once, whatever happened."""

    def __init__(self, console: Console) -> None:
        self._label_width = label_width(console.width)
        self._progress = RichProgress(
            _Field("label", self._label_width),
            _Field("phase", PHASE_WIDTH),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
            _Size(),
            _Field("speed", SPEED_WIDTH, justify="right"),
            _Field("eta", ETA_WIDTH, justify="right"),
            console=console,
            transient=False,
            expand=True,
            refresh_per_second=5,
        )
        self._rows: dict[str, TaskID] = {}
        self._last: dict[str, Progress] = {}
        self._ended: set[str] = set()
        self._began: dict[str, float] = {}
        self._started = False

    @property
    def progress(self) -> RichProgress:
        return self._progress

    def update(self, label: str, event: Progress) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        began = self._began.setdefault(label, time.monotonic())
        if event.phase is Phase.DONE:  # how long it took, where the ETA was
            eta = units.duration(time.monotonic() - began)
        elif event.phase is Phase.TRANSFERRING:
            eta = units.duration(event.eta)
        else:
            eta = ""
        fields: dict[str, Any] = {
            "label": shorten(label, self._label_width),
            "phase": phase_text(event.phase, event.attempt),
            "speed": units.speed(event.speed or event.average_speed),
            "eta": eta,
        }
        total = event.total or None
        self._ended.discard(label)
        row = self._rows.get(label)
        if row is None:
            self._rows[label] = self._progress.add_task(
                label, total=total, completed=event.done, **fields
            )
        else:
            self._progress.update(row, total=total, completed=event.done, **fields)
        self._last[label] = event

    def finish(self, outcome: str | None = None) -> None:
        """Stop the view; rows that did not reach ``done`` say ``outcome`` (``failed``...)."""
        if not self._started:
            return
        for label, row in self._rows.items():
            if label in self._ended:
                continue
            if self._last[label].phase is not Phase.DONE:
                self._progress.update(row, phase=outcome or "stopped", eta="")
        self._progress.stop()
        self._started = False
        self._rows.clear()
        self._last.clear()
        self._ended.clear()
        self._began.clear()

    def set_outcome(self, label: str, outcome: str) -> None:
        """Mark one row's end (a fleet device that failed while the others go on)."""
        row = self._rows.get(label)
        if row is not None:
            if self._last[label].phase is Phase.DONE:  # keep how long it took
                self._progress.update(row, phase=outcome)
            else:
                self._progress.update(row, phase=outcome, eta="")
            self._ended.add(label)
