"""``aiodfu inspect FILE``: identify a firmware file, print its metadata, check its hashes."""

from __future__ import annotations

from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.core.errors import ImageIntegrityError
from aiodfu.formats import checks_of, describe, describe_json, load_image
from aiodfu.formats.checks import CheckStatus


@click.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Describe a file whose hash, CRC or checksum does not match instead of stopping at "
    "it: every check is shown, a failed one as MISMATCH, and the exit status is still 1. "
    "A malformed file is refused either way.",
)
@click.option(
    "--keep-trailer",
    is_flag=True,
    help="Describe a padded MCUboot image with its padding and trailer, as it would then be "
    "sent (by default they are stripped before sending).",
)
@click.pass_context
def command(ctx: click.Context, file: Path, force: bool, keep_trailer: bool) -> None:
    """Identify FILE and check it before anything is sent.

    Knows MCUboot images, ESP-IDF app images, modem delta and full-modem
    images, nRF5 legacy and Secure DFU packages, Intel HEX (converted) and raw
    binaries. With --json one "image" object is printed (see docs/formats.md).
    """

    async def job(reporter: Reporter) -> None:
        image = load_image(file, verify=not force, keep_trailer=keep_trailer)
        if reporter.json_lines:
            reporter.emit("image", **describe_json(image))
        else:
            reporter.table(str(file), describe(image))
        failed = [
            check for check in checks_of(image.details) if check.status is CheckStatus.MISMATCH
        ]
        if failed:
            raise ImageIntegrityError(
                f"{file} fails its integrity check: "
                + "; ".join(f"{check.name} ({check.detail})" for check in failed)
            )

    run(ctx, job)
