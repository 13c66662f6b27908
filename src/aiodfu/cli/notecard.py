"""``aiodfu notecard ...``: host firmware update through a Blues Notecard, and NOFU set-up.

Also what the lead wires into the shared CLI: :func:`demo` (``aiodfu demo``)
and :func:`emulator_factory` (``aiodfu emulate notecard --pty``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.cli.verify import DemoVerificationError, report_verification
from aiodfu.core.image import FirmwareImage
from aiodfu.core.sinks import FileSink
from aiodfu.notecard import DEFAULT_CHUNK_SIZE, NOTECARD_ADDRESS, NotecardSession, open, open_i2c
from aiodfu.testing.emulator import Emulator
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator
from aiodfu.transports.memory import LinkModel

_MODES = {"auto": None, "base64": False, "binary": True}


@click.group("notecard")
def command() -> None:
    """Blues Notecard: retrieve host firmware (IAP) and configure outboard DFU."""


def _address(value: str | int) -> int:
    try:
        address = value if isinstance(value, int) else int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (e.g. 0x17)") from None
    if not 0x08 <= address <= 0x77:
        raise click.BadParameter(f"{address:#x} is not a 7-bit device address (0x08..0x77)")
    return address


@attrs.frozen
class _Link:
    """How the card is reached: a serial port, or an I2C bus and address."""

    port: str | None
    baud: int
    i2c_bus: str | None
    address: int

    def open(self, **options: Any) -> NotecardSession:
        if self.i2c_bus is not None:
            return open_i2c(self.i2c_bus, self.address, **options)
        assert self.port is not None
        return open(self.port, self.baud, **options)

    def where(self) -> dict[str, object]:
        if self.i2c_bus is not None:
            return {"i2c": f"{self.i2c_bus} @ {self.address:#04x}"}
        return {"port": self.port}


_LINK_OPTIONS = (
    click.option("--port", help="Serial port path or pyserial URL."),
    click.option(
        "--baud",
        default=115200,
        show_default=True,
        type=click.IntRange(min=1),
        help="9600 on the main UART, 115200 (default) on AUX; ignored by USB.",
    ),
    click.option("--i2c", "i2c_bus", metavar="DEVICE", help="I2C bus instead, e.g. /dev/i2c-1."),
    click.option(
        "--address",
        default=f"{NOTECARD_ADDRESS:#04x}",
        show_default=True,
        callback=lambda ctx, param, value: _address(value),
        help="The card's 7-bit I2C address (with --i2c).",
    ),
)


def _link(function: Callable[..., None]) -> Callable[..., None]:
    """--port/--baud (serial) or --i2c/--address (serial-over-I2C), passed on as ``link``."""

    @functools.wraps(function)
    def wrapper(
        *args: Any, port: str | None, baud: int, i2c_bus: str | None, address: int, **kwargs: Any
    ) -> None:
        if (port is None) == (i2c_bus is None):
            raise click.UsageError("give the card's link: --port PATH or --i2c DEVICE (not both)")
        function(*args, link=_Link(port, baud, i2c_bus, address), **kwargs)

    for option in reversed(_LINK_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@command.command("status")
@_link
@click.option("--report-version", help="Tell Notehub which host firmware version runs.")
@click.option(
    "--downloads",
    type=click.Choice(["on", "off"]),
    help="Allow or forbid background downloads (persists on the card).",
)
@click.pass_context
def status(
    ctx: click.Context, link: _Link, report_version: str | None, downloads: str | None
) -> None:
    """Show dfu.status: the download mode and the image the card holds."""

    async def job(reporter: Reporter) -> None:
        async with link.open() as card:
            if report_version is not None:
                await card.report_version(report_version)
            if downloads is not None:
                await card.set_downloads(downloads == "on")
            state = await card.dfu_status()
        rows: dict[str, object] = {**link.where(), "mode": state.mode, "status": state.status or ""}
        rows["downloads"] = "off" if state.off else "on"
        if state.body is not None:
            rows.update(
                length=state.body.length,
                md5=state.body.md5,
                version=state.body.version or "",
                source=state.body.source or "",
            )
        reporter.table("dfu.status", rows)

    run(ctx, job)


@command.command("update")
@_link
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the verified image.",
)
@click.option("--mode", type=click.Choice(sorted(_MODES)), default="auto", show_default=True)
@click.option(
    "--chunk-size",
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    type=click.IntRange(1, DEFAULT_CHUNK_SIZE),
)
@click.pass_context
def update(ctx: click.Context, link: _Link, output: Path, mode: str, chunk_size: int) -> None:
    """Retrieve and verify the host image, write it to --output, then close out the card's DFU.

    The image streams to OUTPUT.part and is moved to OUTPUT once verified; a failed update
    leaves OUTPUT as it was.
    """

    async def job(reporter: Reporter) -> None:
        session = link.open(chunk_size=chunk_size, binary=_MODES[mode])
        async with session as card:
            result = await card.update(
                install=lambda pulled: os.replace(pulled.path, output),
                sink=FileSink(output.with_name(output.name + ".part")),
                progress=reporter.progress("notecard"),
            )
        reporter.table(
            "retrieved",
            {
                **link.where(),
                "output": str(output),
                "bytes": len(result.image),
                "sha256": result.image.sha256.hex(),
                "attempts": result.attempts,
                "seconds": f"{result.elapsed:.2f}",
                **{name: value for name, value in result.details.items() if name != "path"},
            },
        )

    run(ctx, job)


@command.command("nofu")
@_link
@click.option(
    "--name",
    type=click.Choice(["esp32", "stm32", "stm32-bi", "mcuboot", "-"]),
    help="Host MCU class ('-' resets the configuration).",
)
@click.option("--on/--off", "enable", default=None, help="Enable or disable outboard DFU.")
@click.option("--seconds", type=click.IntRange(min=1), help="With --off: only for this long.")
@click.option("--pins", type=click.Choice(["aux", "altdfu"]), help="Which pins drive the host.")
@click.pass_context
def nofu(
    ctx: click.Context,
    link: _Link,
    name: str | None,
    enable: bool | None,
    seconds: int | None,
    pins: str | None,
) -> None:
    """card.dfu: configure Notecard Outboard Firmware Update (the card flashes the host)."""

    async def job(reporter: Reporter) -> None:
        async with link.open() as card:
            reply = await card.configure_outboard_dfu(
                name=name,
                on=enable is True,
                off=enable is False,
                seconds=seconds,
                mode=pins,
            )
        reporter.table("card.dfu", {**link.where(), **reply})

    run(ctx, job)


# --- what the shared CLI registers --------------------------------------------------------------


def emulator_factory(image: bytes | None, model: LinkModel) -> Emulator:
    """``aiodfu emulate notecard --pty --image FILE``: a card offering FILE as host firmware."""
    return NotecardEmulator(image=image, link_model=model)


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Retrieve, verify and "install" an image from an emulated card, then compare byte for byte."""
    offered = random_firmware(size, seed=3)
    card_emulator = NotecardEmulator(
        image=offered, image_version="2.0.0", link_model=LinkModel(baud=baud), request_latency=0.002
    )
    flash = bytearray()

    def install(image: FirmwareImage) -> None:
        flash[:] = image.data

    reporter.say(
        f"Notecard: host firmware retrieval of {size} bytes over an emulated {baud}-baud UART"
    )
    async with card_emulator, NotecardSession(card_emulator.connect, baudrate=baud) as card:
        result = await card.update(install=install, progress=reporter.progress("notecard"))
    if card_emulator.mode != "completed":
        raise DemoVerificationError(f"notecard: the card is left in {card_emulator.mode!r}")
    report_verification(
        reporter,
        "notecard",
        offered,
        bytes(flash),
        **{
            "card state": card_emulator.mode,
            "mode": result.details["mode"],
            "seconds": f"{result.elapsed:.2f}",
            "throughput": f"{size / result.elapsed / 1024:.1f} KiB/s",
        },
    )
