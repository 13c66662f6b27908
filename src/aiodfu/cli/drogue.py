"""``aiodfu drogue ...``: update a Drogue IoT device over serial, print drgdfu metadata.

Also the pieces the shared commands use: :func:`demo` for ``aiodfu demo`` and
:func:`emulator_factory` for ``aiodfu emulate drogue --pty``.
"""

from __future__ import annotations

import random
from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import DemoVerificationError, report_verification
from aiodfu.core.errors import DfuError
from aiodfu.drogue import DrogueSession, open, serial_connector
from aiodfu.drogue.metadata import FirmwareMetadata
from aiodfu.formats import load_image
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.testing.emulator import Emulator
from aiodfu.transports.memory import LinkModel


@click.group("drogue")
def command() -> None:
    """Drogue IoT DFU (embedded-update protocol, embassy-boot) over serial."""


@command.command("metadata")
@click.option("--version", required=True, help="The image's version string (at most 16 bytes).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def metadata(version: str, file: Path) -> None:
    """Print drgdfu's JSON metadata for FILE, with its SHA-256 checksum."""
    try:
        click.echo(FirmwareMetadata.of(file.read_bytes(), version).to_json())
    except DfuError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None


@command.command("update")
@click.option("--port", required=True, help="Serial port path or pyserial URL.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
@click.option("--rtscts/--no-rtscts", default=False, show_default=True, help="RTS/CTS.")
@click.option("--version", required=True, help="The new image's version string.")
@click.option(
    "--confirm/--no-confirm",
    default=True,
    show_default=True,
    help="Send Sync so the device marks the new firmware booted (else it must itself).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    port: str,
    baud: int,
    rtscts: bool,
    version: str,
    confirm: bool,
    file: Path,
) -> None:
    """Send FILE as VERSION, swap, and confirm it once the device boots it."""

    async def job(reporter: Reporter) -> None:
        image = load_image(file)
        async with open(port, baud, rtscts=rtscts, confirm=confirm) as session:
            result = await session.update(
                image, version=version, progress=reporter.progress(file.name)
            )
        reporter.table(
            "updated",
            {
                "file": str(file),
                "bytes": len(image),
                "attempts": result.attempts,
                "seconds": f"{result.elapsed:.2f}",
                **result.details,
            },
        )

    run(ctx, job)


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Update an emulated Drogue device over a modelled UART and verify it byte for byte."""
    old = random.Random(1).randbytes(4096)
    new = random.Random(2).randbytes(size)
    device = DrogueEmulator(
        version=b"0.1.0", image=old, mtu=968, backoff_ms=0, link_model=LinkModel(baud=baud)
    )
    reporter.say(f"Drogue: update of {size} bytes over an emulated {baud}-baud UART")
    async with device, DrogueSession(serial_connector(device.connect)) as session:
        result = await session.update(
            new, version="0.2.0", progress=reporter.progress("drogue serial")
        )
    held, padding = device.image[: len(new)], device.image[len(new) :]
    if device.boot_state is not BootMagic.BOOT or padding.strip(b"\xff"):
        raise DemoVerificationError(
            f"drogue: the device is in state {device.boot_state.name} with "
            f"{len(padding)} bytes after the image; expected BOOT and 0xFF padding"
        )
    report_verification(
        reporter,
        "drogue",
        new,
        held,
        **{
            "device state": device.boot_state.name,
            "device reports": device.version.decode(errors="replace"),
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{len(new) / result.elapsed / 1024:.1f} KiB/s",
        },
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate drogue --pty``: a device running ``image`` as version 0.1.0.

    Built with ``backoff_ms=100`` rather than the firmware's one-second pause, so a
    host on the pty is not held to one block a second.
    """
    return DrogueEmulator(image=image, backoff_ms=100, mtu=968, link_model=model)
