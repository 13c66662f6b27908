"""``aiodfu notecard ...``: host firmware update through Blues Notecards, card status, NOFU set-up.

Over serial, every command first probes the port (:mod:`aiodfu.cli.probe`) with
the card's own reset (a bare newline, answered by CR/LF); over I2C the bus
reports an absent card itself. ``update`` takes several ``--port`` options (or
a glob) and retrieves from every card at once, ``--output`` then naming each
file with ``{port}``.

Also what the shared CLI registers: :func:`demo` (``aiodfu demo``) and
:func:`emulator_factory` (``aiodfu emulate notecard --pty``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from click.core import ParameterSource

from aiodfu.cli.fleet import fleet_options, run_updates
from aiodfu.cli.options import ENV_PORT, resolve_ports
from aiodfu.cli.output import Reporter
from aiodfu.cli.outputs import as_installed, per_device, staged
from aiodfu.cli.probe import Probe, chosen_probe, probe_option, probed_port
from aiodfu.cli.runner import NothingToDo, run
from aiodfu.cli.verify import DemoVerificationError, report_demo
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressCallback
from aiodfu.core.session import UpdateResult
from aiodfu.notecard import (
    DEFAULT_CHUNK_SIZE,
    NOTECARD_ADDRESS,
    NotecardSession,
    Timeouts,
    open_i2c,
)
from aiodfu.notecard.device import NotecardDevice, looks_like_notecard
from aiodfu.notecard.errors import ImageNotReadyError, NotecardRequestError
from aiodfu.transports.base import ByteStream
from aiodfu.transports.memory import LinkModel

if TYPE_CHECKING:  # the emulators are imported where used: a CLI start never loads them
    from aiodfu.testing.emulator import Emulator

_MODES = {"auto": None, "base64": False, "binary": True}


# --- the probe ---------------------------------------------------------------------------------


def default_probe_bound(baudrate: int) -> float:
    """The probe's default bound: time for three or four reset attempts (newline, then half a
    second for CR/LF) -- 4 s at any baud rate."""
    return 4.0


def probe_for(baudrate: int, bound: float) -> Probe:
    """The card's reset (reference 2.6): send a newline until only CR/LF comes back."""
    timeouts = attrs.evolve(Timeouts(), transaction=bound)

    async def check(stream: ByteStream) -> None:
        device = NotecardDevice(lambda: stream, timeouts=timeouts, baudrate=baudrate)
        try:
            await device.reopen()
            await device.handshake()
        finally:
            await device.aclose()

    return Probe("Notecard JSON", bound, check, recognises=looks_like_notecard)


# --- how a card is reached -----------------------------------------------------------------------


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
    """How one card is reached: a serial port, or an I2C bus and address."""

    port: str | None
    baud: int
    i2c_bus: str | None
    address: int
    probe_timeout: float | None = None

    @property
    def label(self) -> str:
        if self.i2c_bus is not None:
            return f"{self.i2c_bus} @ {self.address:#04x}"
        assert self.port is not None
        return self.port

    def where(self) -> dict[str, object]:
        return {"i2c": self.label} if self.i2c_bus is not None else {"port": self.port}

    @asynccontextmanager
    async def session(self, **options: Any) -> AsyncIterator[NotecardSession]:
        if self.i2c_bus is not None:
            async with open_i2c(self.i2c_bus, self.address, **options) as card:
                yield card
            return
        assert self.port is not None
        probe = chosen_probe(self.probe_timeout, self.baud, default_probe_bound, probe_for)
        async with (
            probed_port(self.port, self.baud, rtscts=False, probe=probe) as connector,
            NotecardSession(connector, baudrate=self.baud, **options) as card,
        ):
            yield card


_LINK_OPTIONS = (
    click.option(
        "--port",
        "ports",
        multiple=True,
        envvar=ENV_PORT,
        metavar="PORT",
        help=(
            f"Serial port path or pyserial URL (default: ${ENV_PORT}, or the one port "
            "`aiodfu ports` recognises). `update` takes it several times, or a glob."
        ),
    ),
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
    probe_option,
)


def _links(
    ports: tuple[str, ...],
    baud: int,
    i2c_bus: str | None,
    address: int,
    probe_timeout: float | None,
) -> list[_Link]:
    ctx = click.get_current_context()
    given = ports if ctx.get_parameter_source("ports") is not ParameterSource.ENVIRONMENT else ()
    if i2c_bus is not None:
        if given:
            raise click.UsageError("give the card's link: --port PATH or --i2c DEVICE (not both)")
        return [_Link(None, baud, i2c_bus, address)]
    try:
        resolved = resolve_ports("notecard", ports)
    except click.UsageError as exc:
        raise click.UsageError(
            f"give the card's link: --port PATH or --i2c DEVICE ({exc.message})"
        ) from None
    return [_Link(port, baud, None, address, probe_timeout) for port in resolved]


def _link(many: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The link options, passed on as ``link`` (one card) or ``links`` (``many``)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(function)
        def wrapper(
            *args: Any,
            ports: tuple[str, ...],
            baud: int,
            i2c_bus: str | None,
            address: int,
            probe_timeout: float | None,
            **kwargs: Any,
        ) -> None:
            links = _links(ports, baud, i2c_bus, address, probe_timeout)
            if many:
                function(*args, links=links, **kwargs)
                return
            if len(links) > 1:
                listed = ", ".join(link.label for link in links)
                raise click.UsageError(f"{len(links)} ports given ({listed}); this takes one")
            function(*args, link=links[0], **kwargs)

        for option in reversed(_LINK_OPTIONS):
            wrapper = option(wrapper)
        return wrapper

    return decorate


# --- the commands ------------------------------------------------------------------------------


@click.group("notecard")
def command() -> None:
    """Blues Notecard: retrieve host firmware (IAP) and configure outboard DFU."""


async def _card_rows(card: NotecardSession) -> dict[str, object]:
    """What the card says: its firmware (``card.version``), its DFU state and the host image it
    holds (``dfu.status``)."""
    try:
        version = await card.transaction({"req": "card.version"})
    except NotecardRequestError:
        version = {}
    state = await card.dfu_status()
    body = state.body
    return {
        "card_firmware": version.get("version"),
        "device_uid": version.get("device"),
        "sku": version.get("sku"),
        "dfu_mode": state.mode,
        "dfu_status": state.status,
        "downloads": "off" if state.off else "on",
        "image_name": body.name if body else None,
        "image_size": body.length if body else None,
        "image_md5": body.md5 if body else None,
        "image_version": body.version if body else None,
        "image_source": body.source if body else None,
    }


@command.command("info")
@_link(many=False)
@click.pass_context
def info(ctx: click.Context, link: _Link) -> None:
    """The card's firmware, its DFU mode and the host image it holds (name, size, MD5)."""

    async def job(reporter: Reporter) -> None:
        async with link.session() as card:
            rows = await _card_rows(card)
        reporter.table("info", {**link.where(), **rows})

    run(ctx, job)


@command.command("status")
@_link(many=False)
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
    """What `info` shows, after reporting the host's version or switching downloads."""

    async def job(reporter: Reporter) -> None:
        async with link.session() as card:
            if report_version is not None:
                await card.report_version(report_version)
            if downloads is not None:
                await card.set_downloads(downloads == "on")
            rows = await _card_rows(card)
        reporter.table("dfu.status", {**link.where(), **rows})

    run(ctx, job)


@command.command("update")
@_link(many=True)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the verified image ({port}: the port's name, with several ports).",
)
@click.option("--mode", type=click.Choice(sorted(_MODES)), default="auto", show_default=True)
@click.option(
    "--chunk-size",
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    type=click.IntRange(1, DEFAULT_CHUNK_SIZE),
)
@fleet_options
@click.pass_context
def update(
    ctx: click.Context,
    links: list[_Link],
    output: Path,
    mode: str,
    chunk_size: int,
    report: Path | None,
    jobs: int | None,
) -> None:
    """Retrieve and verify the host image, write it to --output, then close out the card's DFU.

    The image streams to OUTPUT.part and is moved to OUTPUT once verified; a failed update
    leaves OUTPUT as it was. With no image ready on the card, there is nothing to do (exit 3).
    """
    by_label = {link.label: link for link in links}
    outputs = per_device(list(by_label), output)

    async def update_one(label: str, progress: ProgressCallback | None) -> UpdateResult:
        sink, install = staged(outputs[label])
        options = {"chunk_size": chunk_size, "binary": _MODES[mode]}
        try:
            async with by_label[label].session(**options) as card:
                result = await card.update(install=install, sink=sink, progress=progress)
        except ImageNotReadyError as exc:
            raise NothingToDo(exc.message.split(";")[0], status=exc.status) from exc
        return as_installed(result)

    extra: dict[str, object] | None = {"output": str(output)} if len(links) == 1 else None
    run_updates(
        ctx,
        list(by_label),
        update_one,
        title="retrieved",
        report=report,
        jobs=jobs,
        extra_rows=extra,
    )


@command.command("nofu")
@_link(many=False)
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
        async with link.session() as card:
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
    from aiodfu.testing.notecard import NotecardEmulator

    return NotecardEmulator(image=image, link_model=model)


async def demo(reporter: Reporter, size: int, baud: int) -> None:
    """Retrieve, verify and "install" an image from an emulated card, then compare byte for byte."""
    from aiodfu.testing.images import random_firmware
    from aiodfu.testing.notecard import NotecardEmulator

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
    report_demo(
        reporter,
        "notecard",
        offered,
        bytes(flash),
        result=result,
        details={"card_state": card_emulator.mode},
    )
