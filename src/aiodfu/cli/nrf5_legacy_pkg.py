"""``aiodfu nrf5-legacy pkg``: write a legacy DFU package, as ``nrfutil dfu genpkg`` does.

Reported with typed rows: ``parts``, and per part ``<part>_bytes``,
``<part>_init_packet`` and ``<part>_conversions`` (what loading a .hex changed).
"""

from __future__ import annotations

from pathlib import Path

import click

from aiodfu.cli.nrf5_legacy_serial import part_names
from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.nrf5_legacy import DfuVersion, Package


def _int(text: str) -> int:
    return int(text, 0)


@click.command("pkg")
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
@click.option(
    "--dev-type",
    default="0xFFFF",
    show_default=True,
    help="Device type (0x0052 for Adafruit nRF52 bootloaders).",
)
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

    async def job(reporter: Reporter) -> None:
        package = Package.from_images(
            application=application.read_bytes() if application else None,
            bootloader=bootloader.read_bytes() if bootloader else None,
            softdevice=softdevice.read_bytes() if softdevice else None,
            version=DfuVersion(dfu_ver),
            **fields,  # type: ignore[arg-type]
        )
        package.check()
        output.write_bytes(package.to_zip())
        rows: dict[str, object] = {"file": str(output), "parts": part_names(package)}
        for part in package:
            name = (part.image_type.name or "image").lower()
            rows[f"{name}_bytes"] = len(part.firmware)
            rows[f"{name}_init_packet"] = part.init_packet.hex()
            if part.notes:
                rows[f"{name}_conversions"] = list(part.notes)
        reporter.table("package written", rows)

    run(ctx, job)
