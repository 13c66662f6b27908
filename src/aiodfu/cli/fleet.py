"""Many devices at once: one async job per device, concurrently, from one process.

:func:`update_all` runs ``job(device, progress)`` for every device at the same
time (or ``limit`` at a time); one device's failure never stops the others,
and every outcome is kept. :func:`run_updates` is what a backend's ``update``
command calls: with one port it shows the single-device view, with several
one progress row per device, a line per device as it ends, a summary table
and a JSON report; its exit code says whether any device failed
(:class:`~aiodfu.cli.runner.ExitCode`).

A backend's command adopts it as::

    @ports_option("serial-modem")
    @fleet_options
    def update(ctx, ports, report, jobs, ...):
        async def update_one(port, progress):
            async with open(port, ...) as session:
                return await session.update(image, progress=progress)
        run_updates(ctx, ports, update_one, report=report, jobs=jobs)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.markup import escape
from rich.table import Table

from aiodfu.cli import units
from aiodfu.cli.logs import current_device
from aiodfu.cli.output import Reporter, result_rows
from aiodfu.cli.runner import (
    Context,
    ErrorReport,
    ExitCode,
    NothingToDo,
    describe_error,
    execute,
)
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult

log = logging.getLogger("aiodfu.cli")

F = TypeVar("F", bound=Callable[..., Any])

DeviceJob = Callable[[str, ProgressCallback | None], Awaitable[UpdateResult]]
"""Updates one device (named by its port or address), reporting through ``progress``."""


class Status(enum.Enum):
    UPDATED = "updated"
    FAILED = "failed"
    NOTHING_TO_DO = "nothing_to_do"
    INTERRUPTED = "interrupted"


@attrs.frozen
class DeviceOutcome:
    """How one device's job ended."""

    device: str
    status: Status
    seconds: float
    result: UpdateResult | None = None
    error: ErrorReport | None = None
    message: str | None = None

    def fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"device": self.device, "status": self.status.value}
        if self.result is not None:
            fields.update(result_rows(self.result))
        else:
            fields["seconds"] = round(self.seconds, 3)
        fields["error"] = None if self.error is None else self.error.fields()
        if self.message is not None:
            fields["message"] = self.message
        return fields


@attrs.frozen
class FleetReport:
    """Every device's outcome, in the order the devices were given."""

    outcomes: tuple[DeviceOutcome, ...]
    seconds: float

    def count(self, status: Status) -> int:
        return sum(outcome.status is status for outcome in self.outcomes)

    @property
    def exit_code(self) -> ExitCode:
        """1 if any device failed; 3 if there was nothing to do on every device; else 0."""
        if any(o.status in (Status.FAILED, Status.INTERRUPTED) for o in self.outcomes):
            return ExitCode.FAILED
        if self.outcomes and self.count(Status.NOTHING_TO_DO) == len(self.outcomes):
            return ExitCode.NOTHING_TO_DO
        return ExitCode.OK

    def summary(self) -> dict[str, object]:
        return {
            "devices": len(self.outcomes),
            "updated": self.count(Status.UPDATED),
            "failed": self.count(Status.FAILED),
            "nothing_to_do": self.count(Status.NOTHING_TO_DO),
            "interrupted": self.count(Status.INTERRUPTED),
            "seconds": round(self.seconds, 3),
            "exit_code": int(self.exit_code),
        }

    def as_json(self) -> dict[str, object]:
        """The whole report (``--report FILE``): the summary and every device's outcome."""
        return {**self.summary(), "results": [outcome.fields() for outcome in self.outcomes]}


async def update_all(
    devices: Sequence[str],
    job: DeviceJob,
    *,
    reporter: Reporter | None = None,
    limit: int | None = None,
) -> FleetReport:
    """Run ``job`` for every device concurrently (at most ``limit`` at once); never stop early.

    If the caller is cancelled (Ctrl-C), every running job is cancelled -- so
    each session releases its device -- and the cancellation propagates.
    """
    gate: asyncio.Semaphore | contextlib.nullcontext[None] = (
        asyncio.Semaphore(limit) if limit else contextlib.nullcontext()
    )
    started = time.monotonic()

    async def one(device: str) -> DeviceOutcome:
        current_device.set(device)  # this task's own context: its log lines name the device
        async with gate:
            begun = time.monotonic()
            progress = reporter.progress(device) if reporter is not None else None
            try:
                result = await job(device, progress)
            except NothingToDo as nothing:
                outcome = DeviceOutcome(
                    device, Status.NOTHING_TO_DO, time.monotonic() - begun, message=nothing.message
                )
            except Exception as exc:
                error = describe_error(exc)
                if error.exit_code is ExitCode.INTERNAL:
                    log.error("%s: unexpected error", device, exc_info=exc)
                outcome = DeviceOutcome(
                    device, Status.FAILED, time.monotonic() - begun, error=error
                )
            else:
                outcome = DeviceOutcome(
                    device, Status.UPDATED, time.monotonic() - begun, result=result
                )
        if reporter is not None:
            _report_device(reporter, outcome)
        return outcome

    outcomes = await asyncio.gather(*(one(device) for device in devices))
    return FleetReport(tuple(outcomes), time.monotonic() - started)


def _report_device(reporter: Reporter, outcome: DeviceOutcome) -> None:
    shown = {Status.UPDATED: "done", Status.NOTHING_TO_DO: "nothing to do"}
    reporter.end_row(outcome.device, shown.get(outcome.status, outcome.status.value))
    if reporter.json_lines:
        reporter.emit("device_result", **outcome.fields())
    elif outcome.error is not None:
        reporter.note(
            f"[red]failed:[/red] {escape(outcome.device)}: {escape(outcome.error.message)}"
        )


def summary_table(report: FleetReport) -> Table:
    """One row per device: status, time, speed, and how it was verified or why it failed."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("device", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("speed", justify="right", no_wrap=True)
    table.add_column("verified / error", overflow="fold")
    for outcome in report.outcomes:
        result = outcome.result
        speed = ""
        if result is not None and result.elapsed > 0:
            speed = units.speed(len(result.image) / result.elapsed)
        if result is not None:
            detail = result.verification.method.value if result.verification.verified else "no"
        elif outcome.error is not None:
            detail = outcome.error.message
        else:
            detail = outcome.message or ""
        style = {Status.UPDATED: "green", Status.NOTHING_TO_DO: "yellow"}.get(outcome.status, "red")
        table.add_row(
            escape(outcome.device),
            f"[{style}]{outcome.status.value}[/{style}]",
            units.duration(outcome.seconds),
            speed,
            escape(detail),
        )
    return table


def show_report(reporter: Reporter, report: FleetReport, path: Path | None = None) -> None:
    """The summary: a ``fleet`` event, or a table and a totals line; ``path`` gets the JSON."""
    if path is not None:
        path.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    if reporter.json_lines:
        reporter.emit("fleet", **report.summary(), report=str(path) if path else None)
        return
    reporter.finish()
    reporter.console.print(summary_table(report))
    totals = report.summary()
    reporter.console.print(
        f"[bold]{totals['updated']} of {totals['devices']} devices updated[/bold], "
        f"{totals['failed']} failed, {totals['nothing_to_do']} with nothing to do, "
        f"in {units.duration(report.seconds)}"
    )
    for hint, devices in _hints(report).items():
        who = devices[0] if len(devices) == 1 else f"{len(devices)} devices"
        reporter.err_console.print(f"[yellow]hint[/yellow] ({escape(who)}): {escape(hint)}")


def _hints(report: FleetReport) -> dict[str, list[str]]:
    """Each distinct hint of the failed devices, once, with the devices it is for: a hundred
    devices failing the same way get one hint, not a hundred."""
    hints: dict[str, list[str]] = {}
    for outcome in report.outcomes:
        if outcome.error is not None and outcome.error.hint:
            hints.setdefault(outcome.error.hint, []).append(outcome.device)
    return hints


def fleet_options(function: F) -> F:
    """``--report FILE`` and ``--jobs N`` for a command that updates many devices."""
    function = click.option(
        "--jobs",
        type=click.IntRange(min=1),
        help="Update at most this many devices at a time (default: all at once).",
    )(function)
    return click.option(
        "--report",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write a JSON report of every device's outcome to this file.",
    )(function)


def run_updates(
    ctx: click.Context,
    devices: Sequence[str],
    job: DeviceJob,
    *,
    title: str = "updated",
    report: Path | None = None,
    jobs: int | None = None,
    extra_rows: dict[str, object] | None = None,
    label: str | None = None,
) -> None:
    """Run ``job`` on one device (the single-device view: a ``title`` table of
    :func:`result_rows`, the progress row called ``label`` -- the file's name, say -- or the
    device) or on several (the fleet view: a row per device); exit with the code that says
    how it went."""
    context = ctx.find_object(Context)
    reporter = context.reporter if context is not None else Reporter(json_lines=False)
    if len(devices) == 1:
        (device,) = devices

        async def single(reporter: Reporter) -> None:
            result = await job(device, reporter.progress(label or device))
            reporter.table(title, {"device": device, **(extra_rows or {}), **result_rows(result)})

        execute(reporter, single)
        return

    async def many(reporter: Reporter) -> FleetReport:
        outcome = await update_all(devices, job, reporter=reporter, limit=jobs)
        reporter.finish()
        show_report(reporter, outcome, report)
        return outcome

    fleet_report = execute(reporter, many)
    if fleet_report.exit_code is not ExitCode.OK:
        raise click.exceptions.Exit(int(fleet_report.exit_code))
