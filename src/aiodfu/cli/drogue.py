"""``aiodfu drogue ...``: update a Drogue IoT device over serial or BLE, print drgdfu metadata.

``update --ble ADDRESS`` takes a hidden ``--emulated`` flag that runs it against
an in-process emulated device (Bumble) at that address instead of the radio:
the CLI's own tests use it, and it lets anyone try the command.

Also the pieces the shared commands use: :func:`demo` for ``aiodfu demo`` and
:func:`emulator_factory` for ``aiodfu emulate drogue --pty``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import DemoVerificationError, report_verification
from aiodfu.core.errors import DfuError
from aiodfu.drogue import DrogueSession, connect, open, serial_connector
from aiodfu.drogue.metadata import FirmwareMetadata
from aiodfu.formats import load_image
from aiodfu.testing.drogue import BootMagic, DrogueEmulator
from aiodfu.testing.emulator import Emulator
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:
    from aiodfu.testing.drogue.gatt import DrogueGattHost


@click.group("drogue")
def command() -> None:
    """Drogue IoT DFU (embedded-update protocol, embassy-boot) over serial or BLE."""


@command.command("metadata")
@click.option("--version", required=True, help="The image's version string (at most 16 bytes).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def metadata(version: str, file: Path) -> None:
    """Print drgdfu's JSON metadata for FILE, with its SHA-256 checksum."""
    try:
        click.echo(FirmwareMetadata.of(file.read_bytes(), version).to_json())
    except DfuError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None


@asynccontextmanager
async def _emulated(address: str) -> AsyncIterator[dict[str, Any]]:
    """An in-process device running version 0.1.0 at ``address`` (``--emulated``)."""
    # Bumble is a test dependency: import it only when used.
    from aiodfu.testing.ble import BleRadio, BumbleBleakClient
    from aiodfu.testing.drogue.gatt import DrogueGattHost

    device = DrogueEmulator(version=b"0.1.0", image=random.Random(1).randbytes(4096))
    async with BleRadio() as radio, DrogueGattHost(device, radio, address=address) as host:
        await host.start()
        yield {"client": {"backend": BumbleBleakClient, "radio": radio}, "host": host}


@asynccontextmanager
async def _session(
    port: str | None, ble: str | None, emulated: bool, **options: Any
) -> AsyncIterator[tuple[DrogueSession, DrogueGattHost | None]]:
    if port is not None:
        async with open(port, options.pop("baud"), rtscts=options.pop("rtscts"), **options) as s:
            yield s, None
        return
    assert ble is not None
    options.pop("baud"), options.pop("rtscts")
    if not emulated:
        async with connect(ble, **options) as session:
            yield session, None
        return
    async with _emulated(ble) as env, connect(ble, client_options=env["client"], **options) as s:
        yield s, env["host"]


@command.command("update")
@click.option("--port", help="Serial port path or pyserial URL.")
@click.option(
    "--ble", metavar="ADDRESS", help="Bluetooth address of a device with the GATT service."
)
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
@click.option("--rtscts/--no-rtscts", default=False, show_default=True, help="RTS/CTS.")
@click.option("--version", required=True, help="The new image's version string.")
@click.option(
    "--confirm/--no-confirm",
    default=True,
    show_default=True,
    help="Send Sync so the device marks the new firmware booted (else it must itself).",
)
@click.option(
    "--firmware-checks-sha256",
    is_flag=True,
    help="The firmware refuses a Swap whose SHA-256 does not match (none known does): "
    "report the image as verified by the device.",
)
@click.option("--emulated", is_flag=True, hidden=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    port: str | None,
    ble: str | None,
    baud: int,
    rtscts: bool,
    version: str,
    confirm: bool,
    firmware_checks_sha256: bool,
    emulated: bool,
    file: Path,
) -> None:
    """Send FILE as VERSION over --port or --ble, swap, and confirm it once the device boots it."""
    if (port is None) == (ble is None):
        raise click.UsageError("give exactly one of --port and --ble")
    if emulated and ble is None:
        raise click.UsageError("--emulated goes with --ble")

    async def job(reporter: Reporter) -> None:
        image = load_image(file)
        options = {
            "baud": baud,
            "rtscts": rtscts,
            "confirm": confirm,
            "firmware_checks_sha256": firmware_checks_sha256,
        }
        async with _session(port, ble, emulated, **options) as (session, host):
            result = await session.update(
                image, version=version, progress=reporter.progress(file.name)
            )
            if host is not None:
                await host.idle()
        rows: dict[str, object] = {
            "file": str(file),
            "bytes": len(image),
            "attempts": result.attempts,
            "seconds": f"{result.elapsed:.2f}",
            "verification": str(result.verification),
            **result.details,
        }
        if host is not None:
            held = host.device.image[: len(image.data)] == image.data
            rows["emulated device holds the image"] = held
        reporter.table("updated", rows)

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
    host on the pty is not held to one block a second, and ``timeout_ms=1000``
    rather than 15 s: the device speaks first, and a host opening the port
    (pyserial flushes its input) misses that Status and must wait for the next.
    """
    return DrogueEmulator(image=image, backoff_ms=100, timeout_ms=1000, mtu=968, link_model=model)
