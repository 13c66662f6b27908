"""``aiodfu inspect FILE``: identify a firmware file, print its metadata, check its hashes."""

from __future__ import annotations

from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.formats import describe, load_image


@click.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def command(ctx: click.Context, file: Path) -> None:
    """Identify FILE (MCUboot, modem delta, full-modem CBOR, Intel HEX, raw) and check it."""

    async def job(reporter: Reporter) -> None:
        image = load_image(file)
        rows: dict[str, object] = {"file": str(file)}
        for key, value in describe(image):
            # The size as a number of bytes (JSON is typed); the other rows as described.
            rows.update({"bytes": len(image)} if key == "size" else {key: value})
        reporter.table(str(file), rows, event="inspect")

    run(ctx, job)
