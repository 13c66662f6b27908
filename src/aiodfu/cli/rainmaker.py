"""``aiodfu rainmaker ...``: host-MCU OTA through an ESP-AT RainMaker module.

``wait`` shows the pending job (URL redacted); ``update`` downloads it,
writes it to ``--output`` (the "install" step of a host that stores the image
for another tool to flash) and reports success. Also the pieces the lead
wires into ``aiodfu demo`` and ``aiodfu emulate``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_verification
from aiodfu.core.image import FirmwareImage
from aiodfu.core.sinks import FileSink
from aiodfu.core.transfer import RetryPolicy
from aiodfu.rainmaker import RainMakerSession, open, redact
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.images import random_firmware
from aiodfu.testing.rainmaker import RainMakerEmulator
from aiodfu.transports.memory import LinkModel


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate rainmaker --image FILE``: FILE is served as a pending host-MCU job."""
    return RainMakerEmulator(serve_image=image, link_model=model)


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Download a job through the emulated module over a paced UART and verify it."""
    image = random_firmware(size, seed=6)
    emulator = RainMakerEmulator(serve_image=image, link_model=LinkModel(baud=baud), seed=6)
    installed: list[bytes] = []
    reporter.say(f"RainMaker: host-MCU OTA of {size} bytes over an emulated {baud}-baud UART")

    def install(received: FirmwareImage) -> None:
        installed.append(received.data)

    async with emulator, RainMakerSession(emulator.connect, baudrate=baud) as session:
        result = await session.update(install=install, progress=reporter.progress("rainmaker"))
    report_verification(
        reporter,
        "rainmaker",
        image,
        installed[0] if installed else None,
        **{
            "job status": emulator.job_status.get(emulator.job_id, "?"),
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{size / result.elapsed / 1024:.1f} KiB/s",
        },
    )


@click.group("rainmaker")
def command() -> None:
    """ESP RainMaker AT host-MCU OTA through an ESP32 running ESP-AT."""


_port = click.option("--port", required=True, help="Serial port path or pyserial URL.")
_baud = click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
_rtscts = click.option(
    "--rtscts/--no-rtscts", default=False, show_default=True, help="RTS/CTS flow control."
)


def _session(port: str, baud: int, rtscts: bool, retries: int) -> RainMakerSession:
    return open(port, baud, rtscts=rtscts, retry=RetryPolicy(attempts=retries))


@command.command("wait")
@_port
@_baud
@_rtscts
@click.option("--push", is_flag=True, help="Wait for a pushed job instead of AT+RMOTAFETCH.")
@click.pass_context
def wait(ctx: click.Context, port: str, baud: int, rtscts: bool, push: bool) -> None:
    """Show the pending host-MCU OTA job (its URL's query string redacted)."""

    async def job(reporter: Reporter) -> None:
        async with _session(port, baud, rtscts, 4) as session:
            if push:
                found = await anext(session.notifications())
            else:
                found = await session.fetch()
        reporter.table(
            "job",
            {
                "job": found.job_id,
                "version": found.version or "unknown",
                "bytes": found.size,
                "url": redact(found.url),
            },
        )

    run(ctx, job)


@command.command("update")
@_port
@_baud
@_rtscts
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where the downloaded image is installed (written).",
)
@click.option("--resume/--no-resume", default=True, show_default=True, help="Range resume.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--reject-version", multiple=True, help="Report these versions rejected.")
@click.option(
    "--expected-sha256",
    metavar="HEX",
    help="Install only an image with this SHA-256 (else reported failed).",
)
@click.option(
    "--require-verified",
    is_flag=True,
    help="Refuse an image nothing can verify (no --expected-sha256, no hash of its own).",
)
@click.pass_context
def update(
    ctx: click.Context,
    port: str,
    baud: int,
    rtscts: bool,
    output: Path,
    resume: bool,
    retries: int,
    reject_version: tuple[str, ...],
    expected_sha256: str | None,
    require_verified: bool,
) -> None:
    """Download the pending job, verify it, write it to OUTPUT, report success (or the failure).

    The image streams to OUTPUT.part and is moved to OUTPUT once verified; a failed update
    leaves OUTPUT as it was.
    """

    async def job(reporter: Reporter) -> None:
        session = open(
            port, baud, rtscts=rtscts, retry=RetryPolicy(attempts=retries), resume=resume
        )
        async with session:
            result = await session.update(
                install=lambda pulled: os.replace(pulled.path, output),
                sink=FileSink(output.with_name(output.name + ".part")),
                accept=lambda found: (
                    found.version not in reject_version or f"version {found.version} refused"
                ),
                progress=reporter.progress(str(output.name)),
                expected_sha256=expected_sha256,
                require_verified=require_verified,
            )
        reporter.table(
            "updated",
            {
                "output": str(output),
                "bytes": len(result.image),
                "sha256": result.image.sha256.hex(),
                "attempts": result.attempts,
                "seconds": f"{result.elapsed:.2f}",
                "verification": str(result.verification),
                **{name: value for name, value in result.details.items() if name != "path"},
            },
        )

    run(ctx, job)
