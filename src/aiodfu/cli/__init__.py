"""The ``aiodfu`` command: thin wrappers over the library, no protocol logic here."""

from __future__ import annotations

import logging
import sys

import click

from aiodfu._version import __version__
from aiodfu.cli import demo, emulate, inspect
from aiodfu.cli.runner import Context
from aiodfu.registry import BACKENDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiodfu")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per line on stdout.")
@click.option("-v", "--verbose", count=True, help="Log more (-vv: every line on the wire).")
@click.pass_context
def main(ctx: click.Context, json_lines: bool, verbose: int) -> None:
    """Update device firmware over Nordic, Blues, Drogue and Espressif DFU protocols."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    ctx.obj = Context(json_lines)


for _module in (demo, emulate, inspect):
    main.add_command(_module.command)
for _backend in BACKENDS:
    main.add_command(_backend.load_cli().command)

__all__ = ["main"]
