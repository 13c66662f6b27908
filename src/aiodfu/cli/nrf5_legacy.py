"""``aiodfu nrf5-legacy ...``: update, scan for and package legacy nRF5 BLE DFU targets.

``update`` and ``scan`` take a hidden ``--emulated`` flag that runs them against
an in-process emulated target (Bumble) at the given address instead of the
radio: the CLI's own tests use it, and it lets anyone try the commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click
from bleak import BleakScanner

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_verification
from aiodfu.core.transfer import RetryPolicy
from aiodfu.nrf5_legacy import DfuVersion, Nrf5LegacySession, Package, protocol

EMULATED_ADDRESS = "C0:FF:EE:00:00:01"


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
    report_verification(
        reporter,
        "nrf5-legacy",
        new,
        target.application,
        **{
            "bootloader at": result.details.get("dfu_address", "?"),
            "pool overflows": target.pool_overflows,
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{size / result.elapsed / 1024:.1f} KiB/s",
            "link capacity": f"{model.capacity(20) / 1024:.1f} KiB/s",
        },
    )


@asynccontextmanager
async def _emulated(address: str) -> AsyncIterator[dict[str, Any]]:
    """An in-process target in DFU mode at ``address`` (``--emulated``)."""
    from aiodfu.testing.ble import BleRadio, BumbleBleakClient, BumbleBleakScanner
    from aiodfu.testing.nrf5_legacy import BootloaderConfig, Nrf5LegacyEmulator

    async with BleRadio() as radio:
        target = Nrf5LegacyEmulator(
            radio, address=address, config=BootloaderConfig(flash_rate=1e9), peer_data=True
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
    """Legacy nRF5 BLE DFU (nRF5 SDK <= 11 bootloaders) over bleak."""


_emulated_option = click.option("--emulated", is_flag=True, hidden=True)


@command.command("update")
@click.argument("target")
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--prn",
    default=4,
    show_default=True,
    type=click.IntRange(0, 0xFFFF),
    help="Packets per receipt notification (0: none, no flow control).",
)
@click.option(
    "--window",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Packets in flight beyond the last receipt.",
)
@click.option(
    "--packet-size",
    default=20,
    show_default=True,
    type=click.IntRange(min=4),
    help="Bytes per Packet write; above 20 only for bootloaders that accept it.",
)
@click.option(
    "--max-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Cap the data rate (bytes/s) for targets whose flash is slower than the link.",
)
@click.option(
    "--resume/--no-resume",
    default=None,
    help="Resume after a link loss with opcode 7, or reset and restart "
    "[default: resume Adafruit bootloaders, restart others].",
)
@click.option(
    "--bootloader-name",
    "bootloader_names",
    multiple=True,
    help="A name the bootloader may advertise besides DfuTarg and AdaDFU (e.g. 4631_DFU).",
)
@_emulated_option
@click.pass_context
def update(
    ctx: click.Context,
    target: str,
    package: Path,
    prn: int,
    window: int,
    packet_size: int,
    resume: bool | None,
    bootloader_names: tuple[str, ...],
    max_rate: float | None,
    emulated: bool,
) -> None:
    """Send PACKAGE (.zip, .hex or .bin) to TARGET (a Bluetooth address)."""

    async def job(reporter: Reporter) -> None:
        loaded = Package.load(package)
        options: dict[str, Any] = {
            "prn": prn,
            "window": window,
            "packet_size": packet_size,
            "resume": resume,
            "max_rate": max_rate,
            "bootloader_names": bootloader_names,
        }
        async with _maybe_emulated(target if emulated else None) as env:
            session = Nrf5LegacySession(
                target,
                client_options=env.get("client"),
                scanner_options=env.get("scanner"),
                **options,
            )
            async with session:
                result = await session.update(loaded, progress=reporter.progress(package.name))
            held = env["target"].application if "target" in env else None
        rows: dict[str, object] = {
            "package": str(package),
            "parts": ", ".join((p.image_type.name or "?").lower() for p in loaded),
            "bytes": loaded.total_size,
            "attempts": result.attempts,
            "seconds": f"{result.elapsed:.2f}",
            "verified": str(result.verification),
            **result.details,
        }
        if held is not None:
            rows["emulated target holds the application"] = held == loaded.parts[-1].firmware
        reporter.table("updated", rows)

    run(ctx, job)


@asynccontextmanager
async def _maybe_emulated(address: str | None) -> AsyncIterator[dict[str, Any]]:
    if address is None:
        yield {}
        return
    async with _emulated(address) as env:
        yield env


@command.command("scan")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--all", "show_all", is_flag=True, help="List every device, not only DFU ones.")
@_emulated_option
@click.pass_context
def scan(ctx: click.Context, timeout: float, show_all: bool, emulated: bool) -> None:
    """List devices advertising the legacy DFU service or the name DfuTarg."""

    async def job(reporter: Reporter) -> None:
        async with _maybe_emulated(EMULATED_ADDRESS if emulated else None) as env:
            if emulated:
                await env["target"]._advertise()  # undirected, so a scan can see it
            found = await BleakScanner.discover(
                timeout=timeout, return_adv=True, **(env.get("scanner") or {})
            )
        rows: dict[str, object] = {}
        for address, (device, adv) in sorted(found.items()):
            dfu = protocol.SERVICE_UUID in (adv.service_uuids or [])
            if show_all or dfu or adv.local_name == protocol.DFU_TARGET_NAME:
                rows[address] = f"{adv.local_name or device.name or '?'}" + (
                    " (DFU service)" if dfu else ""
                )
                reporter.emit("device", address=address, name=adv.local_name, dfu_service=dfu)
        reporter.table("legacy DFU devices", rows or {"none found": f"in {timeout:g} s"})

    run(ctx, job)


def _int(text: str) -> int:
    return int(text, 0)


@command.command("pkg")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--application", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootloader", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--softdevice", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dfu-ver",
    type=click.Choice([v.value for v in DfuVersion]),
    default="0.5",
    show_default=True,
    help="Init packet layout (0.5 for stock SDK 11 bootloaders).",
)
@click.option("--dev-type", default="0xFFFF", show_default=True, help="Device type.")
@click.option("--dev-revision", default="0xFFFF", show_default=True, help="Device revision.")
@click.option("--application-version", default="0xFFFFFFFF", show_default=True)
@click.option(
    "--sd-req",
    default="0xFFFE",
    show_default=True,
    help="Comma-separated SoftDevice FWIDs the image needs (0xFFFE: any).",
)
@click.pass_context
def pkg(
    ctx: click.Context,
    output: Path,
    application: Path | None,
    bootloader: Path | None,
    softdevice: Path | None,
    dfu_ver: str,
    dev_type: str,
    dev_revision: str,
    application_version: str,
    sd_req: str,
) -> None:
    """Write a legacy DFU package to OUTPUT, byte for byte what ``nrfutil dfu genpkg`` writes.

    A .hex loses its UICR records (0x10000000 and up) and anything below the
    MBR's end; every image is padded with 0xFF to a multiple of 4 bytes. Each
    change is listed in the output.
    """

    async def job(reporter: Reporter) -> None:
        if not (application or bootloader or softdevice):
            raise click.UsageError("give at least one of --application, --bootloader, --softdevice")
        try:
            fields = {
                "device_type": _int(dev_type),
                "device_revision": _int(dev_revision),
                "application_version": _int(application_version),
                "softdevice_req": tuple(_int(x) for x in sd_req.split(",") if x.strip()),
            }
        except ValueError as exc:
            raise click.UsageError(f"not a number: {exc}") from None
        package = Package.from_images(
            application=application.read_bytes() if application else None,
            bootloader=bootloader.read_bytes() if bootloader else None,
            softdevice=softdevice.read_bytes() if softdevice else None,
            version=DfuVersion(dfu_ver),
            **fields,  # type: ignore[arg-type]
        )
        package.check()
        output.write_bytes(package.to_zip())
        rows: list[tuple[str, str]] = [("file", str(output))]
        for part in package:
            name = (part.image_type.name or "?").lower()
            rows.append((name, f"{len(part.firmware)} bytes, init packet {part.init_packet.hex()}"))
            rows += [(f"{name} conversion", note) for note in part.notes]
        reporter.table("package written", rows)

    run(ctx, job)
