"""``aiodfu nrf5-legacy ...``: update, scan for and package legacy nRF5 DFU targets.

``update`` has two forms: ``update TARGET... PACKAGE`` over Bluetooth (each
TARGET an address; several are updated at once) and ``update --port PORT
PACKAGE`` over a serial port or USB CDC (an Adafruit nRF52 bootloader: the
serial form is :mod:`aiodfu.cli.nrf5_legacy_serial`'s). Either way every
device goes through :func:`aiodfu.cli.fleet.run_updates`: one device gets the
single-device view, several a row each, a summary and ``--report``. ``pkg``
lives in :mod:`aiodfu.cli.nrf5_legacy_pkg`.

``update`` and ``scan`` take a hidden ``--emulated`` flag that runs them against
in-process emulated targets (Bumble) at the given addresses instead of the
radio: the CLI's own tests use it, and it lets anyone try the commands.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import click
from bleak import BleakScanner
from click.core import ParameterSource

from aiodfu.cli import nrf5_legacy_serial as serial
from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.nrf5_legacy_pkg import pkg
from aiodfu.cli.options import ENV_PORT, resolve_ports
from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import bluetooth_unavailable, run
from aiodfu.cli.verify import DemoVerificationError, report_demo
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import Nrf5LegacySession, Package, protocol

log = logging.getLogger("aiodfu.cli")

EMULATED_ADDRESS = "C0:FF:EE:00:00:01"

BLE_ONLY = ("prn", "window", "packet_size", "max_rate", "resume", "bootloader_names")
"""The parameters that apply only to the Bluetooth form of ``update``."""


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Buttonless entry and an application update over a modelled 7.5 ms, 6-packet link."""
    # The emulated target needs Bumble (a test dependency): import it only when used.
    from aiodfu.testing.ble import BleLinkModel, BleRadio, BumbleBleakClient, BumbleBleakScanner
    from aiodfu.testing.images import random_firmware
    from aiodfu.testing.nrf5_legacy import Nrf5LegacyEmulator

    size -= size % 4
    old, new = random_firmware(4096, seed=1), random_firmware(size, seed=2)
    model = BleLinkModel(connection_interval=0.0075, packets_per_event=6)
    reporter.say(
        f"nRF5 legacy DFU: buttonless entry, then an application of {size} bytes over "
        "bleak on an emulated BLE link (Bumble, 7.5 ms interval, 6 packets per event)"
    )
    async with BleRadio() as radio:
        target = Nrf5LegacyEmulator(radio, mode="application", application=old)
        await target.start()
        session = Nrf5LegacySession(
            target.address,
            client_options={"backend": BumbleBleakClient, "radio": radio, "link_model": model},
            scanner_options={"backend": BumbleBleakScanner, "radio": radio},
            retry=RetryPolicy(attempts=3, initial_delay=0.1),
        )
        try:
            async with session:
                result = await session.update(
                    Package.from_images(application=new),
                    progress=reporter.progress("nrf5-legacy application"),
                )
        finally:
            await target.aclose()
    report_demo(
        reporter,
        "nrf5-legacy",
        new,
        target.application,
        result=result,
        details={
            "bootloader_at": result.details.get("dfu_address", "?"),
            "pool_overflows": target.pool_overflows,
            "link_speed": model.capacity(20),
        },
    )


def _emulated_config(address: str) -> Any:
    """The bootloader of the emulated target at ``address``: a flash too fast to matter
    (tests replace this to give one target of several another configuration)."""
    from aiodfu.testing.nrf5_legacy import BootloaderConfig

    return BootloaderConfig(flash_rate=1e9)


@asynccontextmanager
async def _emulated(address: str | None) -> AsyncIterator[dict[str, Any]]:
    """An in-process target in DFU mode at ``address`` on a radio of its own (``--emulated``);
    nothing (the real radio) for ``None``."""
    if address is None:
        yield {}
        return
    from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner
    from aiodfu.testing.nrf5_legacy import Nrf5LegacyEmulator

    async with BleRadio() as radio:
        target = Nrf5LegacyEmulator(
            radio, address=address, config=_emulated_config(address), peer_data=True
        )
        await target.start()
        try:
            yield {
                "client": {"backend": BumbleBleakClient, "radio": radio},
                "scanner": {"backend": BumbleBleakScanner, "radio": radio},
                "target": target,
            }
        finally:
            await target.aclose()


@click.group("nrf5-legacy")
def command() -> None:
    """Legacy nRF5 DFU (nRF5 SDK <= 11 bootloaders): over BLE with bleak, or over a serial
    port / USB CDC for Adafruit nRF52 bootloaders."""


_emulated_option = click.option("--emulated", is_flag=True, hidden=True)


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (
        None,
        ParameterSource.DEFAULT,
        ParameterSource.ENVIRONMENT,
    )


def _option_names(ctx: click.Context, names: Iterable[str]) -> str:
    """The options among ``names`` given on the command line, as the user spells them."""
    wanted = {name for name in names if _given(ctx, name)}
    return ", ".join(param.opts[0] for param in ctx.command.params if param.name in wanted)


def _serial_ports(
    ctx: click.Context, targets: tuple[str, ...], ports: tuple[str, ...], emulated: bool
) -> tuple[str, ...]:
    """The serial ports to update, or () for the Bluetooth form: never both."""
    if targets:
        if _given(ctx, "ports"):
            raise click.UsageError("give Bluetooth TARGETs or --port, not both")
        serial_only = _option_names(ctx, serial.SERIAL_ONLY)
        if serial_only:
            raise click.UsageError(f"{serial_only}: only with --port, not with Bluetooth TARGETs")
        return ()
    if emulated:
        raise click.UsageError("--emulated goes with Bluetooth TARGETs")
    ble_only = _option_names(ctx, BLE_ONLY)
    if ble_only:
        raise click.UsageError(f"{ble_only}: only with Bluetooth TARGETs, not with --port")
    try:
        return resolve_ports(serial.BACKEND, ports)
    except click.UsageError as exc:
        raise click.UsageError(
            f"give the Bluetooth TARGETs, or the bootloader's --port: {exc.message}"
        ) from None


@command.command("update")
@click.argument("targets", nargs=-1)
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--port",
    "ports",
    multiple=True,
    envvar=ENV_PORT,
    metavar="PORT",
    help="Update over this serial port or USB CDC (an Adafruit nRF52 bootloader) instead of "
    "Bluetooth; repeat it, or give a glob such as '/dev/ttyACM*', for several boards "
    f"(default without TARGETs: ${ENV_PORT}, or the one port `aiodfu ports` recognises).",
)
@serial.serial_options
@click.option(
    "--prn",
    default=4,
    show_default=True,
    type=click.IntRange(0, 0xFFFF),
    help="Packets per receipt notification (0: none, no flow control; BLE only).",
)
@click.option(
    "--window",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Packets in flight beyond the last receipt (BLE only).",
)
@click.option(
    "--packet-size",
    default=20,
    show_default=True,
    type=click.IntRange(min=4),
    help="Bytes per Packet write; above 20 only for bootloaders that accept it (BLE only).",
)
@click.option(
    "--max-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Cap the data rate (bytes/s) for targets whose flash is slower than the link (BLE only).",
)
@click.option(
    "--resume/--no-resume",
    default=None,
    help="Resume after a link loss with opcode 7, or reset and restart "
    "[default: resume Adafruit bootloaders, restart others] (BLE only).",
)
@click.option(
    "--bootloader-name",
    "bootloader_names",
    multiple=True,
    help="A name the bootloader may advertise besides DfuTarg and AdaDFU (e.g. 4631_DFU; "
    "BLE only).",
)
@fleet_options
@_emulated_option
@click.pass_context
def update(
    ctx: click.Context,
    /,
    targets: tuple[str, ...],
    package: Path,
    ports: tuple[str, ...],
    prn: int,
    window: int,
    packet_size: int,
    resume: bool | None,
    bootloader_names: tuple[str, ...],
    max_rate: float | None,
    report: Path | None,
    jobs: int | None,
    emulated: bool,
    **serial_settings: Any,
) -> None:
    """Send PACKAGE (.zip, .hex or .bin) to each Bluetooth TARGET, or over each --port.

    \b
    aiodfu nrf5-legacy update TARGET... PACKAGE          over BLE (addresses)
    aiodfu nrf5-legacy update --port PORT... PACKAGE     Adafruit bootloader, serial / USB CDC

    Several TARGETs or ports are updated at once; the exit code is 1 if any failed.
    """
    serial_ports = _serial_ports(ctx, targets, ports, emulated)
    if serial_ports:
        serial.update_over_serial(
            ctx, serial_ports, package, report=report, jobs=jobs, **serial_settings
        )
        return
    options: dict[str, Any] = {
        "prn": prn,
        "window": window,
        "packet_size": packet_size,
        "resume": resume,
        "max_rate": max_rate,
        "bootloader_names": bootloader_names,
    }

    async def check(reporter: Reporter) -> Package:
        loaded = Package.load(package)
        loaded.check()  # before touching the radio
        if not emulated:
            await _check_bluetooth()
        return loaded

    loaded = run(ctx, check)
    firmware = loaded.parts[-1].firmware

    async def update_one(address: str, progress: ProgressCallback | None) -> UpdateResult:
        async with _emulated(address if emulated else None) as env:
            session = Nrf5LegacySession(
                address,
                client_options=env.get("client"),
                scanner_options=env.get("scanner"),
                **options,
            )
            async with session:
                result = await session.update(loaded, progress=progress)
        if "target" in env:
            if env["target"].application != firmware:
                raise DemoVerificationError(f"{address}: the emulated target holds another image")
            held = {"emulated target holds the application": "True"}
            result = attrs.evolve(result, details={**result.details, **held})
        return result

    run_updates(
        ctx,
        list(dict.fromkeys(targets)),  # each device once, in the order given
        update_one,
        report=report,
        jobs=jobs,
        extra_rows={"package": str(package), "parts": serial.part_names(loaded)},
        label=package.name,
    )


async def _check_bluetooth() -> None:
    """Fail once, with the runner's hint, if this machine cannot use Bluetooth at all (no
    BlueZ, no adapter, powered off) -- rather than once per target; any other trouble is
    left to each target's session."""
    try:
        async with BleakScanner():
            pass
    except Exception as exc:
        unavailable = bluetooth_unavailable(exc)
        if unavailable is not None:
            raise unavailable from exc
        log.debug("Bluetooth check: %r (left to the sessions)", exc)


@command.command("scan")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--all", "show_all", is_flag=True, help="List every device, not only DFU ones.")
@_emulated_option
@click.pass_context
def scan(ctx: click.Context, timeout: float, show_all: bool, emulated: bool) -> None:
    """List devices advertising the legacy DFU service or the name DfuTarg (with --json, a
    `device` event each, then `scan`)."""

    async def job(reporter: Reporter) -> None:
        async with _emulated(EMULATED_ADDRESS if emulated else None) as env:
            if emulated:
                await env["target"]._advertise()  # undirected, so a scan can see it
            found = await BleakScanner.discover(
                timeout=timeout, return_adv=True, **(env.get("scanner") or {})
            )
        rows: dict[str, object] = {}
        for address, (device, adv) in sorted(found.items()):
            dfu = protocol.SERVICE_UUID in (adv.service_uuids or [])
            if show_all or dfu or adv.local_name == protocol.DFU_TARGET_NAME:
                name = adv.local_name or device.name
                rows[address] = f"{name or '?'}, {adv.rssi} dBm" + (" (DFU service)" if dfu else "")
                reporter.emit("device", address=address, name=name, rssi=adv.rssi, dfu_service=dfu)
        if reporter.json_lines:
            reporter.emit("scan", count=len(rows), seconds=timeout, all=show_all)
        else:
            reporter.table("legacy DFU devices", rows or {"none found": f"in {timeout:g} s"})

    run(ctx, job)


command.add_command(pkg)
