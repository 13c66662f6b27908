"""The ``aiodfu`` command: thin wrappers over the library, no protocol logic here.

:class:`AiodfuGroup` keeps ``--json`` a stable interface even where click
itself reports: a usage error, ``--help``'s exit, an exception raised while
options are parsed -- with ``--json``, each becomes one JSON line on stdout
with the documented exit code (:class:`aiodfu.cli.runner.ExitCode`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from aiodfu._version import __version__
from aiodfu.cli import demo, emulate, inspect, json_schema, ports
from aiodfu.cli.logs import LogSetup
from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import Context, ErrorReport, ExitCode, describe_error, report_error
from aiodfu.registry import BACKENDS

log = logging.getLogger("aiodfu.cli")


def _json_requested(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the group's options (before the command's name)."""
    for arg in args:
        if arg == "--json":
            return True
        if not arg.startswith("-"):
            return False
    return False


class AiodfuGroup(click.Group):
    """The top-level group: every way the command line can end is reported per ``--json``."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        arguments = list(sys.argv[1:] if args is None else args)
        json_lines = _json_requested(arguments)
        try:
            code = super().main(arguments, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exit_:  # raised where click does not catch it
            code = exit_.exit_code
        except click.ClickException as exc:
            code = _report_click_error(exc, json_lines)
        except click.exceptions.Abort:
            code = _report_click_error(click.ClickException("aborted"), json_lines)
        except Exception as exc:  # raised outside any job: a bad file read by a callback, or a bug
            report = describe_error(exc)
            if report.exit_code is ExitCode.INTERNAL:
                log.error("unexpected error", exc_info=exc)
            report_error(Reporter(json_lines=json_lines), report)
            code = report.exit_code
        sys.exit(code if isinstance(code, int) else 0)


def _report_click_error(exc: click.ClickException, json_lines: bool) -> int:
    usage = isinstance(exc, click.UsageError)
    code = ExitCode.USAGE if usage else ExitCode.FAILED
    hint = None
    context = getattr(exc, "ctx", None)
    if usage and context is not None:
        hint = f"see `{context.command_path} --help`"
    report = ErrorReport(
        type="UsageError" if usage else type(exc).__name__,
        message=exc.format_message(),
        exit_code=code,
        hint=hint,
    )
    if json_lines:
        report_error(Reporter(json_lines=True), report)
    else:
        exc.show()
    return int(code)


@click.group(cls=AiodfuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiodfu")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per line on stdout.")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log phases with timestamps on stderr (-vv: every line on the wire).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every log line (wire lines included) to this file.",
)
@click.pass_context
def main(ctx: click.Context, json_lines: bool, verbose: int, log_file: Path | None) -> None:
    """Update device firmware over Nordic, Blues, Drogue and Espressif DFU protocols.

    Results go to stdout, progress, logs and errors to stderr. Exit codes: 0 done,
    1 failed, 2 usage error, 3 nothing to do, 70 internal error, 130 interrupted
    (Ctrl-C), 143 terminated (SIGTERM).
    """
    context = Context(json_lines)
    ctx.obj = context
    setup = LogSetup(context.reporter, verbose, log_file)
    ctx.call_on_close(setup.close)


for _module in (demo, emulate, inspect, json_schema, ports):
    main.add_command(_module.command)
for _backend in BACKENDS:
    main.add_command(_backend.load_cli().command)

__all__ = ["main"]
