"""``aiodfu demo``: a real update against the built-in emulated devices.

Each scenario builds an image, starts an emulator on a modelled in-memory
link, updates it through the public API exactly as an application would,
and verifies byte for byte that the device ended up with the image sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.core.errors import DfuError
from aiodfu.core.integrity import sha256
from aiodfu.core.transfer import RetryPolicy
from aiodfu.serial_modem import SerialModemSession, UpdateType
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkModel


class DemoVerificationError(DfuError):
    """The emulated device does not hold the image that was sent."""


async def serial_modem_demo(reporter: Reporter, size: int, baud: int) -> None:
    old = build_mcuboot_image(random_firmware(4096, seed=1), version=(1, 0, 0, 0))
    new = build_mcuboot_image(random_firmware(size, seed=2), version=(2, 0, 0, 7))
    emulator = SerialModemEmulator(
        app_image=old, link_model=LinkModel(baud=baud), command_latency=0.002
    )
    reporter.say(
        f"Serial Modem: application update of {len(new)} bytes over an emulated {baud}-baud UART"
    )
    async with (
        emulator,
        SerialModemSession(
            emulator.connect, baudrate=baud, retry=RetryPolicy(attempts=3)
        ) as session,
    ):
        result = await session.update(
            new,
            update_type=UpdateType.APPLICATION,
            reset=True,
            progress=reporter.progress("serial-modem application"),
        )
    held = emulator.active_app or b""
    verified = held == new
    reporter.table(
        "serial-modem",
        {
            "sent sha256": sha256(new).hex(),
            "device sha256": sha256(held).hex(),
            "byte-for-byte": "identical" if verified else "DIFFERENT",
            "device reports": result.details.get("application", "?"),
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{len(new) / result.elapsed / 1024:.1f} KiB/s",
        },
    )
    if not verified:
        raise DemoVerificationError("the emulated device holds a different image")


SCENARIOS: dict[str, Callable[[Reporter, int, int], Awaitable[None]]] = {
    "serial-modem": serial_modem_demo,
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
        for name in backends or sorted(SCENARIOS):
            await SCENARIOS[name](reporter, size, baud)
        reporter.say("[bold green]all updates verified[/bold green]")

    run(ctx, job)
