"""How the CLI reports: rich progress bars on a terminal, or one JSON object per line.

Commands only call :class:`Reporter` methods, so every command supports both
``--json`` and the interactive view without knowing which is active.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from aiodfu.core.progress import Progress as DfuProgress


class Reporter:
    """Progress and results for one CLI command."""

    def __init__(self, *, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.console = Console(stderr=False, highlight=False)
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_bar()

    def emit(self, event: str, **fields: object) -> None:
        """A JSON line in ``--json`` mode; ignored otherwise (use :meth:`say` for people)."""
        if self.json_lines:
            sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
            sys.stdout.flush()

    def say(self, text: str) -> None:
        if not self.json_lines:
            self._stop_bar()
            self.console.print(text)

    def table(self, title: str, rows: Mapping[str, object] | list[tuple[str, str]]) -> None:
        items = list(rows.items()) if isinstance(rows, Mapping) else rows
        if self.json_lines:
            self.emit(title, **dict(items))
            return
        self._stop_bar()
        width = max((len(key) for key, _ in items), default=0)
        self.console.print(f"[bold]{title}[/bold]")
        for key, value in items:
            self.console.print(f"  {key:<{width}}  {value}")

    def progress(self, label: str) -> _ProgressCallback:
        return _ProgressCallback(self, label)

    def _show(self, label: str, event: DfuProgress) -> None:
        if self.json_lines:
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
            return
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=event.total)
        assert self._task is not None
        description = f"{label} ({event.phase.value})"
        if event.attempt > 1:
            description += f" attempt {event.attempt}"
        self._bar.update(
            self._task, completed=event.done, total=event.total, description=description
        )

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None


class _ProgressCallback:
    def __init__(self, reporter: Reporter, label: str) -> None:
        self._reporter = reporter
        self._label = label

    def __call__(self, event: DfuProgress) -> None:
        self._reporter._show(self._label, event)
