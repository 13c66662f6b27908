"""``aiodfu serial-modem ...``: update, ping and reset a Nordic Serial Modem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import report_verification
from aiodfu.core.image import FirmwareImage
from aiodfu.core.transfer import RetryPolicy
from aiodfu.formats import load_image
from aiodfu.serial_modem import SerialModemSession, UpdateType, open
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.images import build_mcuboot_image, random_firmware
from aiodfu.testing.serial_modem import SerialModemEmulator
from aiodfu.transports.memory import LinkModel

_TYPES = [member.cli_name for member in UpdateType]


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    old = build_mcuboot_image(random_firmware(4096, seed=1), version=(1, 0, 0, 0))
    new = build_mcuboot_image(random_firmware(size, seed=2), version=(2, 0, 0, 7))
    emulator = SerialModemEmulator(
        app_image=old, link_model=LinkModel(baud=baud), command_latency=0.002
    )
    reporter.say(
        f"Serial Modem: application update of {len(new)} bytes over an emulated {baud}-baud UART"
    )
    async with (
        emulator,
        SerialModemSession(
            emulator.connect, baudrate=baud, retry=RetryPolicy(attempts=3)
        ) as session,
    ):
        result = await session.update(
            new,
            update_type=UpdateType.APPLICATION,
            reset=True,
            progress=reporter.progress("serial-modem application"),
        )
    report_verification(
        reporter,
        "serial-modem",
        new,
        emulator.active_app,
        **{
            "device reports": result.details.get("application", "?"),
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{len(new) / result.elapsed / 1024:.1f} KiB/s",
        },
    )


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate serial-modem``: ``--image`` is the application it runs before updates."""
    return SerialModemEmulator(app_image=image, link_model=model)


def _session(port: str, baud: int, rtscts: bool) -> SerialModemSession:
    return open(port, baud, rtscts=rtscts)


@click.group("serial-modem")
def command() -> None:
    """Nordic Serial Modem AT DFU over UART."""


_port = click.option("--port", required=True, help="Serial port path or pyserial URL.")
_baud = click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1))
_rtscts = click.option(
    "--rtscts/--no-rtscts", default=True, show_default=True, help="RTS/CTS flow control."
)


@command.command("update")
@_port
@_baud
@_rtscts
@click.option("--type", "type_name", type=click.Choice(_TYPES), help="Default: from the file.")
@click.option("--reset", is_flag=True, help="Activate after applying (AT#XRESET / AT#XMODEMRESET).")
@click.option("--force", is_flag=True, help="Send an image that fails its checks (types 0, 1, 3).")
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    help="Fixed chunk size in bytes. Default: sized from the link's baud rate and round trip.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def update(
    ctx: click.Context,
    port: str,
    baud: int,
    rtscts: bool,
    type_name: str | None,
    reset: bool,
    force: bool,
    chunk_size: int | None,
    file: Path,
) -> None:
    """Send FILE to the device and apply it."""

    async def job(reporter: Reporter) -> None:
        image: FirmwareImage = load_image(file)
        update_type = UpdateType.from_cli_name(type_name) if type_name else None
        session = open(port, baud, rtscts=rtscts, chunk_size=chunk_size)
        async with session:
            result = await session.update(
                image,
                update_type=update_type,
                reset=reset,
                force=force,
                progress=reporter.progress(file.name),
            )
        reporter.table(
            "updated",
            {
                "file": str(file),
                "bytes": len(image),
                "sha256": image.sha256.hex(),
                "attempts": result.attempts,
                "seconds": f"{result.elapsed:.2f}",
                "verified": str(result.verification),
                **result.details,
            },
        )

    run(ctx, job)


def _device_command(
    name: str, summary: str, action: Callable[[SerialModemSession], Awaitable[dict[str, str]]]
) -> None:
    """Add ``serial-modem NAME --port ...``: open a session, run ``action``, report its rows."""

    @command.command(name, help=summary)
    @_port
    @_baud
    @_rtscts
    @click.pass_context
    def device_command(ctx: click.Context, port: str, baud: int, rtscts: bool) -> None:
        async def job(reporter: Reporter) -> None:
            async with _session(port, baud, rtscts) as session:
                rows = await action(session)
            reporter.table(name, {"port": port, **rows})

        run(ctx, job)


async def _ping(session: SerialModemSession) -> dict[str, str]:
    return {"mode": (await session.ping()).value}


async def _reset(session: SerialModemSession) -> dict[str, str]:
    await session.reset()
    return {"state": "rebooted"}


async def _modem_reset(session: SerialModemSession) -> dict[str, str]:
    await session.modem_reset()
    return {"state": "modem restarted"}


_device_command("ping", "Check the device answers AT and say which mode it is in.", _ping)
_device_command(
    "reset", "AT#XRESET: reboot the device, activating an applied application update.", _reset
)
_device_command(
    "modem-reset",
    "AT#XMODEMRESET: restart the modem, activating an applied delta update.",
    _modem_reset,
)
