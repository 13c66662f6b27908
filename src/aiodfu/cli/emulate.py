"""``aiodfu emulate PROTOCOL --pty``: serve an emulated device on a pseudo-terminal.

The first stdout line is ``pty: <path>`` (flushed) -- with ``--json``, the
``serving`` event carrying ``pty`` instead -- so scripts can read it and open
the port; the device serves until SIGINT or SIGTERM (exit 0: stopping is
what they ask for), then ``--save-image`` writes the firmware the device holds.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.registry import BACKENDS
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported when one is served: a CLI start never loads them
    from aiodfu.testing.emulator import Emulator

EMULATORS: dict[str, Callable[[bytes | None, LinkModel], Emulator]] = {
    backend.name: backend.load_cli().emulator_factory
    for backend in BACKENDS
    if backend.serves_byte_stream
}


@click.command("emulate")
@click.argument("protocol", type=click.Choice(sorted(EMULATORS)))
@click.option("--pty", "use_pty", is_flag=True, required=True, help="Serve on a pseudo-terminal.")
@click.option("--baud", type=click.IntRange(min=1), help="Pace the link at this baud (8N1).")
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Firmware the device offers (pull protocols) or runs before the update (push).",
)
@click.option(
    "--save-image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="On exit, write the image the device holds (push protocols: what it applied; "
    "pull protocols: what it offers, or delivered in full to a host).",
)
@click.pass_context
def command(
    ctx: click.Context,
    protocol: str,
    use_pty: bool,
    baud: int | None,
    image: Path | None,
    save_image: Path | None,
) -> None:
    """Serve an emulated PROTOCOL device on a pty until interrupted."""

    async def job(reporter: Reporter) -> None:
        from aiodfu.testing.pty import serve_pty

        emulator = EMULATORS[protocol](image.read_bytes() if image else None, LinkModel(baud=baud))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with serve_pty(emulator) as path:
            if reporter.json_lines:
                reporter.emit("serving", protocol=protocol, pty=path)
            else:
                sys.stdout.write(f"pty: {path}\n")
                sys.stdout.flush()
            await stop.wait()
        held = emulator.saved_image
        if save_image is not None:
            if held is None:
                reporter.say("the device holds no image; nothing saved")
                reporter.emit("saved", path=None, size=0)
            else:
                save_image.write_bytes(held)
                reporter.emit("saved", path=str(save_image), size=len(held))
                reporter.say(f"saved {len(held)} bytes to {save_image}")

    run(ctx, job)
