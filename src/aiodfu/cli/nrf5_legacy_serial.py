"""Adafruit nRF52 bootloaders over a serial port / USB CDC: ``aiodfu nrf5-legacy update --port``.

The serial form of ``aiodfu nrf5-legacy update`` lives here: :func:`serial_options`
(the options only a serial port has) and :func:`update_over_serial`, which
checks the package once -- before any port is opened -- and then updates every
port through :func:`aiodfu.cli.fleet.run_updates` (one port: the single-device
view; several ``--port`` or a glob: the fleet view, a summary, ``--report``).

``aiodfu nrf5-legacy-serial update`` is the same command under the registry's
name for this backend, which also drives ``aiodfu emulate nrf5-legacy-serial
--pty`` (:func:`emulator_factory`) and ``aiodfu demo`` (:func:`demo`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.options import ports_option
from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_demo
from aiodfu.core.progress import Phase, Progress, ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Package, SerialDfuSession, open_serial
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported where used: a CLI start never loads them
    from aiodfu.testing.emulator import Emulator

F = TypeVar("F", bound=Callable[..., Any])

BACKEND = "nrf5-legacy-serial"
"""The registry's name: ``aiodfu ports --backend`` and ``--port``'s default use it."""

SERIAL_ONLY = ("baud", "touch", "dtr_reset", "native_usb", "rtscts")
"""The parameters :func:`serial_options` adds (for commands that also have a BLE form)."""


def serial_options(function: F) -> F:
    """``--baud``, ``--touch 1200``, ``--dtr-reset``, ``--native-usb/--uart``, ``--rtscts``."""
    for option in reversed(
        [
            click.option(
                "--baud",
                default=115200,
                show_default=True,
                type=click.IntRange(min=1),
                help="Serial baud rate (--port only; native USB ignores it).",
            ),
            click.option(
                "--touch",
                type=click.Choice(["1200"]),
                help="Open the port at 1200 baud first: an Arduino/CircuitPython app reboots "
                "into DFU (--port only).",
            ),
            click.option(
                "--dtr-reset",
                is_flag=True,
                help="Pulse DTR on opening: boards with a USB-serial bridge (--port only).",
            ),
            click.option(
                "--native-usb/--uart",
                default=None,
                help="How the bootloader reads the port (--port only; default: from the port "
                "name, ttyACM/usbmodem is USB).",
            ),
            click.option(
                "--rtscts", is_flag=True, help="RTS/CTS flow control (--port only, UART boards)."
            ),
        ]
    ):
        function = option(function)
    return function


def part_names(package: Package) -> list[str]:
    return [(part.image_type.name or "image").lower() for part in package]


def update_over_serial(
    ctx: click.Context,
    ports: tuple[str, ...],
    package: Path,
    *,
    baud: int,
    touch: str | None,
    dtr_reset: bool,
    native_usb: bool | None,
    rtscts: bool,
    report: Path | None,
    jobs: int | None,
) -> None:
    """Update the bootloader on every port in ``ports`` with ``package``; exit as
    :func:`~aiodfu.cli.fleet.run_updates` says (1 if any port failed)."""

    def session_for(port: str) -> SerialDfuSession:
        return open_serial(
            port,
            baud,
            touch_1200=touch is not None,
            dtr_reset=dtr_reset,
            rtscts=rtscts,
            native_usb=native_usb,
        )

    async def check(reporter: Reporter) -> Package:
        # A package another bootloader would take fails here, before any port is touched.
        return session_for(ports[0]).check(package)

    loaded = run(ctx, check)

    first = loaded.parts[0]
    opening = Progress(
        Phase.CONNECTING, 0, len(first.firmware), message=f"{part_names(loaded)[0]}: connecting"
    )

    async def update_one(port: str, progress: ProgressCallback | None) -> UpdateResult:
        if progress is not None:  # the session finds the bootloader before its first event
            progress(opening)
        async with session_for(port) as session:
            return await session.update(loaded, progress=progress)

    run_updates(
        ctx,
        ports,
        update_one,
        report=report,
        jobs=jobs,
        extra_rows={"package": str(package), "parts": part_names(loaded)},
        label=package.name,
    )


@click.group("nrf5-legacy-serial")
def command() -> None:
    """Adafruit nRF52 bootloaders: legacy DFU over a serial port or USB CDC (also
    `aiodfu nrf5-legacy update --port`)."""


@command.command("update")
@ports_option(BACKEND)
@serial_options
@fleet_options
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    /,
    ports: tuple[str, ...],
    package: Path,
    report: Path | None,
    jobs: int | None,
    **options: Any,
) -> None:
    """Send PACKAGE (.zip, .hex or .bin) to the Adafruit nRF52 bootloader on each --port.

    The same as `aiodfu nrf5-legacy update --port PORT PACKAGE`.
    """
    update_over_serial(ctx, ports, package, report=report, jobs=jobs, **options)


update_serial = update
"""The command object under its former name."""


# --- what the shared commands use ----------------------------------------------------------------


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """A running application entered by a 1200-baud touch, then updated, over a modelled UART."""
    from aiodfu.testing.images import random_firmware
    from aiodfu.testing.nrf5_legacy_serial import FEATHER_NRF52840, AdafruitSerialEmulator

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
    report_demo(
        reporter,
        BACKEND,
        new,
        board.application,
        result=result,
        details={
            "retransmissions": int(result.details.get("retransmissions", "0")),
            "link_speed": baud / 10,  # 8N1: ten bits on the wire per byte
        },
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate nrf5-legacy-serial``: a Feather nRF52840; ``--image`` is the application
    it runs (enter its bootloader with a 1200-baud touch), else it waits in DFU mode."""
    from aiodfu.testing.nrf5_legacy_serial import FEATHER_NRF52840, AdafruitSerialEmulator

    return AdafruitSerialEmulator(FEATHER_NRF52840, application=image, link_model=model)
