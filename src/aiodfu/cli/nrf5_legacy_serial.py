"""``aiodfu nrf5-legacy-serial update``: an Adafruit nRF52 bootloader over a serial port / USB CDC.

The ``update-serial`` command object is exported on its own as well, so the
``nrf5-legacy`` group can adopt it (``aiodfu nrf5-legacy update --port``);
``emulator_factory`` serves the emulated board for ``aiodfu emulate
nrf5-legacy-serial --pty``, which adafruit-nrfutil itself can drive.
"""

from __future__ import annotations

from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_verification
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Package, SerialDfuSession, open_serial
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.images import random_firmware
from aiodfu.testing.nrf5_legacy_serial import FEATHER_NRF52840, AdafruitSerialEmulator
from aiodfu.transports.memory import LinkModel


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """A running application entered by a 1200-baud touch, then updated, over a modelled UART."""
    size -= size % 4
    old, new = random_firmware(4096, seed=1), random_firmware(size, seed=2)
    board = AdafruitSerialEmulator(FEATHER_NRF52840, application=old, link_model=LinkModel(baud))
    reporter.say(
        f"Adafruit nRF52 serial DFU: 1200-baud touch, then an application of {size} bytes "
        f"over an emulated {baud}-baud link (Feather nRF52840 flash timing)"
    )
    session = SerialDfuSession(
        board.connect,
        baudrate=baud,
        enter=board.touch_1200,
        native_usb=True,
        retry=RetryPolicy(attempts=3, initial_delay=0.1),
    )
    try:
        async with session:
            result = await session.update(
                Package.from_images(application=new, device_type=0x0052),
                progress=reporter.progress("nrf5-legacy-serial application"),
            )
    finally:
        await board.aclose()
    report_verification(
        reporter,
        "nrf5-legacy-serial",
        new,
        board.application,
        **{
            "verification": str(result.verification.method.value),
            "retransmissions": result.details.get("retransmissions", "0"),
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{size / result.elapsed / 1024:.1f} KiB/s",
            "link capacity": f"{baud / 10 / 1024:.1f} KiB/s",
        },
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate nrf5-legacy-serial``: a Feather nRF52840; ``--image`` is the application
    it runs (enter its bootloader with a 1200-baud touch), else it waits in DFU mode."""
    return AdafruitSerialEmulator(FEATHER_NRF52840, application=image, link_model=model)


@click.command("update-serial")
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", required=True, help="Serial port path or pyserial URL.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--touch",
    type=click.Choice(["1200"]),
    help="Open the port at 1200 baud first: an Arduino/CircuitPython app reboots into DFU.",
)
@click.option(
    "--dtr-reset", is_flag=True, help="Pulse DTR on opening (boards with a USB-serial bridge)."
)
@click.option(
    "--native-usb/--uart",
    default=None,
    help="How the bootloader reads the port (default: from the port name; ttyACM is USB).",
)
@click.option("--rtscts", is_flag=True, help="RTS/CTS flow control (UART boards wired for it).")
@click.pass_context
def update_serial(
    ctx: click.Context,
    package: Path,
    port: str,
    baud: int,
    touch: str | None,
    dtr_reset: bool,
    native_usb: bool | None,
    rtscts: bool,
) -> None:
    """Send PACKAGE (.zip, .hex or .bin) to the Adafruit nRF52 bootloader on PORT."""

    async def job(reporter: Reporter) -> None:
        session = open_serial(
            port,
            baud,
            touch_1200=touch is not None,
            dtr_reset=dtr_reset,
            rtscts=rtscts,
            native_usb=native_usb,
        )
        loaded = session.check(package)  # a wrong package fails before the port is touched
        async with session:
            result = await session.update(loaded, progress=reporter.progress(package.name))
        reporter.table(
            "updated",
            {
                "package": str(package),
                "parts": ", ".join((p.image_type.name or "?").lower() for p in loaded),
                "bytes": loaded.total_size,
                "attempts": result.attempts,
                "seconds": f"{result.elapsed:.2f}",
                "verification": str(result.verification),
                **result.details,
            },
        )

    run(ctx, job)


@click.group("nrf5-legacy-serial")
def command() -> None:
    """Adafruit nRF52 bootloaders: legacy DFU over a serial port or USB CDC."""


command.add_command(update_serial, name="update")
