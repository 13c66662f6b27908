"""``aiodfu drogue ...``: update Drogue IoT devices over serial or BLE, read their status,
print drgdfu metadata.

Over serial, every command first probes the port (:mod:`aiodfu.cli.probe`):
the device speaks first, so the probe listens for its Status and, if the line
stays silent (a Status sent before the port opened is lost, and the device
then waits up to its 15-s ``timeout_ms``), nudges it with ``Wait``.
``update`` takes several ``--port`` options (or a glob) and updates the
devices concurrently.

``--ble ADDRESS`` takes a hidden ``--emulated`` flag that runs the command
against an in-process emulated device (Bumble) at that address instead of the
radio: the CLI's own tests use it, and it lets anyone try the command.

Also the pieces the shared commands use: :func:`demo` for ``aiodfu demo`` and
:func:`emulator_factory` for ``aiodfu emulate drogue --pty``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click
from click.core import ParameterSource

from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.options import ENV_PORT, resolve_ports
from aiodfu.cli.output import Reporter, result_rows
from aiodfu.cli.probe import Probe, chosen_probe, probe_option, probed_port, wire_time
from aiodfu.cli.runner import Context, run
from aiodfu.cli.verify import DemoVerificationError, report_demo
from aiodfu.core.errors import DfuError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.drogue import DrogueSession, Timeouts, connect, serial_connector
from aiodfu.drogue.metadata import FirmwareMetadata
from aiodfu.drogue.protocol.messages import Status
from aiodfu.drogue.serial import (
    FRAME_SIZE,
    SerialUpdateLink,
    looks_like_status_frames,
    probe_status,
)
from aiodfu.formats import load_image
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported where used: a CLI start never loads them
    from aiodfu.testing.drogue.gatt import DrogueGattHost
    from aiodfu.testing.emulator import Emulator

F = TypeVar("F", bound=Callable[..., Any])


# --- the probe ---------------------------------------------------------------------------------


def default_probe_bound(baudrate: int) -> float:
    """The probe's default bound: about 1.5 s listening, then 2.2 s after the nudge (the firmware's
    default backoff is 1 s) and two frames' wire time -- 3.7 s at 115200 baud."""
    return 3.5 + 2 * wire_time(FRAME_SIZE, baudrate)


def probe_for(baudrate: int, bound: float) -> Probe:
    """Listen for the device's Status, nudge it with ``Wait`` if silent, all within ``bound``."""
    frames = 2 * wire_time(FRAME_SIZE, baudrate)
    listen = max(bound - frames, 0.2) * 0.4 + frames / 2
    gap = Timeouts().resync_gap

    async def check(stream: ByteStream) -> Status:
        link = SerialUpdateLink(stream)
        return await probe_status(link, listen=listen, nudged=bound, boundary_gap=gap)

    return Probe("Drogue Status frames", bound, check, recognises=looks_like_status_frames)


@asynccontextmanager
async def _serial_session(
    port: str, baud: int, rtscts: bool, probe_timeout: float | None, **options: Any
) -> AsyncIterator[DrogueSession]:
    probe = chosen_probe(probe_timeout, baud, default_probe_bound, probe_for)
    async with (
        probed_port(port, baud, rtscts=rtscts, probe=probe) as connector,
        DrogueSession(serial_connector(connector), **options) as session,
    ):
        yield session


@asynccontextmanager
async def _emulated(address: str) -> AsyncIterator[dict[str, Any]]:
    """An in-process device running version 0.1.0 at ``address`` (``--emulated``)."""
    # Bumble is a test dependency: import it only when used.
    from aiodfu.testing.ble import BleRadio, BumbleBleakClient
    from aiodfu.testing.drogue import DrogueEmulator
    from aiodfu.testing.drogue.gatt import DrogueGattHost

    device = DrogueEmulator(version=b"0.1.0", image=random.Random(1).randbytes(4096))
    async with BleRadio() as radio, DrogueGattHost(device, radio, address=address) as host:
        await host.start()
        yield {"client": {"backend": BumbleBleakClient, "radio": radio}, "host": host}


@asynccontextmanager
async def _ble_session(
    address: str, emulated: bool, **options: Any
) -> AsyncIterator[tuple[DrogueSession, DrogueGattHost | None]]:
    if not emulated:
        async with connect(address, **options) as session:
            yield session, None
        return
    async with (
        _emulated(address) as env,
        connect(address, client_options=env["client"], **options) as session,
    ):
        yield session, env["host"]


# --- the commands ------------------------------------------------------------------------------


@click.group("drogue")
def command() -> None:
    """Drogue IoT DFU (embedded-update protocol, embassy-boot) over serial or BLE."""


_ble = click.option(
    "--ble", metavar="ADDRESS", help="Bluetooth address of a device with the GATT service."
)
_baud = click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
_rtscts = click.option("--rtscts/--no-rtscts", default=False, show_default=True, help="RTS/CTS.")
_emulated_flag = click.option("--emulated", is_flag=True, hidden=True)


def _ports_option(multiple: bool) -> Callable[[F], F]:
    return click.option(
        "--port",
        "ports",
        multiple=True,
        envvar=ENV_PORT,
        metavar="PORT",
        help=(
            "Serial port path or pyserial URL"
            + ("; repeat it, or give a glob, to update several devices at once" if multiple else "")
            + f" (default: ${ENV_PORT}, or the one port `aiodfu ports` recognises; "
            "not with --ble)."
        ),
    )


def _serial_ports(
    ctx: click.Context, ports: tuple[str, ...], ble: str | None, emulated: bool
) -> tuple[str, ...]:
    """The ports to use over serial, or () over BLE; exactly one of the two transports."""
    given = ports if ctx.get_parameter_source("ports") is not ParameterSource.ENVIRONMENT else ()
    if emulated and ble is None:
        raise click.UsageError("--emulated goes with --ble")
    if ble is not None:
        if given:
            raise click.UsageError("give exactly one of --port and --ble")
        return ()
    try:
        return resolve_ports("drogue", ports)
    except click.UsageError as exc:
        raise click.UsageError(f"give the device's --port or --ble: {exc.message}") from None


@command.command("metadata")
@click.option("--version", required=True, help="The image's version string (at most 16 bytes).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def metadata(ctx: click.Context, version: str, file: Path) -> None:
    """Print drgdfu's JSON metadata for FILE, with its SHA-256 checksum (with --json, as a
    ``metadata`` event)."""
    try:
        found = FirmwareMetadata.of(file.read_bytes(), version)
    except DfuError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    context = ctx.find_object(Context)
    if context is not None and context.reporter.json_lines:
        context.reporter.emit("metadata", **attrs.asdict(found))
    else:
        click.echo(found.to_json())  # the file drgdfu reads, as it is


@command.command("update")
@_ports_option(multiple=True)
@_ble
@_baud
@_rtscts
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
@probe_option
@fleet_options
@_emulated_flag
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    ports: tuple[str, ...],
    ble: str | None,
    baud: int,
    rtscts: bool,
    version: str,
    confirm: bool,
    firmware_checks_sha256: bool,
    probe_timeout: float | None,
    report: Path | None,
    jobs: int | None,
    emulated: bool,
    file: Path,
) -> None:
    """Send FILE as VERSION over --port (one device or several at once) or --ble, swap, and
    confirm it once the device boots it."""
    ports = _serial_ports(ctx, ports, ble, emulated)
    image = load_image(file)
    options = {"confirm": confirm, "firmware_checks_sha256": firmware_checks_sha256}
    if ble is not None:
        _update_over_ble(ctx, ble, emulated, image, file, version, options)
        return

    async def update_one(port: str, progress: ProgressCallback | None) -> UpdateResult:
        async with _serial_session(port, baud, rtscts, probe_timeout, **options) as session:
            return await session.update(image, version=version, progress=progress)

    run_updates(
        ctx,
        ports,
        update_one,
        report=report,
        jobs=jobs,
        extra_rows={"file": str(file)},
        label=file.name,
    )


def _update_over_ble(
    ctx: click.Context,
    address: str,
    emulated: bool,
    image: FirmwareImage,
    file: Path,
    version: str,
    options: dict[str, Any],
) -> None:
    async def job(reporter: Reporter) -> None:
        async with _ble_session(address, emulated, **options) as (session, host):
            result = await session.update(
                image, version=version, progress=reporter.progress(file.name)
            )
            if host is not None:
                await host.idle()
        rows: dict[str, object] = {"device": address, "file": str(file), **result_rows(result)}
        if host is not None:
            held = host.device.image[: len(image.data)] == image.data
            rows["emulated_device_holds_the_image"] = held
        reporter.table("updated", rows)

    run(ctx, job)


@command.command("info")
@_ports_option(multiple=False)
@_ble
@_baud
@_rtscts
@probe_option
@_emulated_flag
@click.pass_context
def info(
    ctx: click.Context,
    ports: tuple[str, ...],
    ble: str | None,
    baud: int,
    rtscts: bool,
    probe_timeout: float | None,
    emulated: bool,
) -> None:
    """The device's Status: the version it runs, the update it holds (next version, offset)
    and the block size it takes (MTU). Answered with Wait: nothing changes on the device."""
    serial = _serial_ports(ctx, ports, ble, emulated)
    if len(serial) > 1:
        raise click.UsageError(f"{len(serial)} ports given ({', '.join(serial)}); info takes one")

    async def job(reporter: Reporter) -> None:
        if ble is not None:
            async with _ble_session(ble, emulated) as (session, _):
                status = await session.status()
            where: dict[str, object] = {"ble": ble}
        else:
            (port,) = serial
            async with _serial_session(port, baud, rtscts, probe_timeout) as session:
                status = await session.status()
            where = {"port": port}
        update = status.update
        reporter.table(
            "info",
            {
                **where,
                "version": status.version.decode(errors="replace"),
                "next_version": update.version.decode(errors="replace") if update else None,
                "offset": update.offset if update else None,
                "mtu": status.mtu,
            },
        )

    run(ctx, job)


# --- what the shared commands use ----------------------------------------------------------------


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Update an emulated Drogue device over a modelled UART and verify it byte for byte."""
    from aiodfu.testing.drogue import BootMagic, DrogueEmulator

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
    report_demo(
        reporter,
        "drogue",
        new,
        held,
        result=result,
        details={
            "device_state": device.boot_state.name,
            "device_reports": device.version.decode(errors="replace"),
        },
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate drogue --pty``: a device running ``image`` as version 0.1.0.

    Built with ``backoff_ms=100`` rather than the firmware's one-second pause, so a
    host on the pty is not held to one block a second, and ``timeout_ms=1000``
    rather than 15 s: the device speaks first, and a host opening the port
    (pyserial flushes its input) misses that Status and must wait for the next.
    """
    from aiodfu.testing.drogue import DrogueEmulator

    return DrogueEmulator(image=image, backoff_ms=100, timeout_ms=1000, mtu=968, link_model=model)
