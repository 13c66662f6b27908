"""Running a command's async job with the reporter the global options chose."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import TypeVar

import click

from aiodfu.cli.output import Reporter
from aiodfu.core.errors import DfuError

T = TypeVar("T")


class Context:
    """What the ``aiodfu`` group passes to its commands."""

    def __init__(self, json_lines: bool) -> None:
        self.reporter = Reporter(json_lines=json_lines)


def run(ctx: click.Context, job: Callable[[Reporter], Coroutine[object, object, T]]) -> T:
    """Run ``job`` in an event loop; a :class:`DfuError` is reported (exit 1), not a traceback."""
    context = ctx.find_object(Context)
    reporter = context.reporter if context is not None else Reporter(json_lines=False)
    with reporter:
        try:
            return asyncio.run(job(reporter))
        except DfuError as exc:
            reporter.emit("error", type=type(exc).__name__, message=str(exc))
            if not reporter.json_lines:
                reporter.console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt:
            reporter.emit("error", type="KeyboardInterrupt", message="interrupted")
            sys.exit(130)
