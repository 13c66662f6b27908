"""``aiodfu demo``: a real update against each built-in emulated device.

Each backend in the registry (:mod:`aiodfu.registry`) has a CLI module with
``demo(reporter, size, baud)`` (``baud`` applies to the serial links): it
builds an image, starts the backend's emulator on a modelled in-memory link,
updates it through the public API exactly as an application would, and
verifies byte for byte that the device ended up with the image sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import click
from rich.markup import escape

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.core.errors import UsageError
from aiodfu.registry import BACKENDS

SCENARIOS: dict[str, Callable[[Reporter, int, int], Awaitable[None]]] = {
    backend.name: backend.load_cli().demo for backend in BACKENDS
}


@click.command("demo")
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(sorted(SCENARIOS)),
    help="Run only these backends (default: all).",
)
@click.option("--size", default=128 * 1024, show_default=True, type=click.IntRange(min=1))
@click.option("--baud", default=1_000_000, show_default=True, type=click.IntRange(min=1200))
@click.pass_context
def command(ctx: click.Context, backends: tuple[str, ...], size: int, baud: int) -> None:
    """Update the built-in emulated devices and verify the result byte for byte."""

    async def job(reporter: Reporter) -> None:
        skipped = []
        for name in backends or sorted(SCENARIOS):
            try:
                await SCENARIOS[name](reporter, size, baud)
            except ImportError as exc:  # an emulator whose optional extra is not installed
                if backends:
                    raise UsageError(f"{name}: {exc}") from exc
                skipped.append(name)
                reporter.emit("skipped", backend=name, reason=str(exc))
                # escape(): the reason names an extra in brackets (aiodfu[emulators]).
                reporter.say(f"[yellow]{name}: skipped[/yellow] -- {escape(str(exc))}")
        note = f" (skipped: {', '.join(skipped)})" if skipped else ""
        reporter.say(f"[bold green]all updates verified[/bold green]{note}")

    run(ctx, job)
