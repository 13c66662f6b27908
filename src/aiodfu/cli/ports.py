"""``aiodfu ports``: the serial ports of this machine, and which backend each likely serves.

pyserial's ``list_ports`` gives each port's USB vendor and product IDs and the
strings the device reports; :func:`identify` maps them to the backends a
device of that maker runs. A maker's own USB interface (Nordic, SEGGER's
J-Link on Nordic DKs, Blues, Espressif) names its backends; a generic USB-UART
bridge (Silicon Labs CP210x, WCH CH34x, FTDI, Prolific) could be any serial
device, so it is a candidate for every serial backend, second to a maker's.
The same identification picks the port when ``--port`` is left out
(:mod:`aiodfu.cli.options`).
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Iterable, Sequence

import attrs
import click
from rich.table import Table

from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import run
from aiodfu.registry import BACKENDS


class Match(enum.Enum):
    """How a port was recognised."""

    MAKER = "maker"
    """The device maker's own USB interface: it names the backends."""
    BRIDGE = "bridge"
    """A generic USB-UART bridge: any serial device could be behind it."""
    UNKNOWN = "unknown"
    """Not a USB device aiodfu recognises."""


def _serial_backends() -> tuple[str, ...]:
    return tuple(entry.name for entry in BACKENDS if "uart" in entry.transports)


@attrs.frozen
class Maker:
    name: str
    backends: tuple[str, ...] | None
    """``None``: a bridge, so every serial backend."""
    words: tuple[str, ...] = ()
    """Words in the USB manufacturer or product string that identify the maker."""


# USB vendor IDs as registered with the USB-IF (facts, checked against the vendors' tools).
MAKERS: dict[int, Maker] = {
    0x1915: Maker("Nordic Semiconductor", ("serial-modem", "drogue"), ("nordic",)),
    0x1366: Maker("SEGGER J-Link (Nordic DK)", ("serial-modem", "drogue"), ("segger", "j-link")),
    0x30A4: Maker("Blues", ("notecard",), ("blues", "notecard")),
    0x303A: Maker("Espressif", ("rainmaker",), ("espressif",)),
    0x239A: Maker("Adafruit (nRF52 boards, RAK4631)", ("nrf5-legacy-serial",), ("adafruit",)),
    0x2886: Maker("Seeed (XIAO nRF52840)", ("nrf5-legacy-serial",), ("seeed",)),
    0x10C4: Maker("Silicon Labs CP210x bridge", None),
    0x1A86: Maker("WCH CH34x/CH910x bridge", None),
    0x0403: Maker("FTDI bridge", None),
    0x067B: Maker("Prolific PL2303 bridge", None),
}


@attrs.frozen
class PortInfo:
    """One serial port and what aiodfu makes of it."""

    device: str
    description: str | None = None
    vid: int | None = None
    pid: int | None = None
    manufacturer: str | None = None
    product: str | None = None
    serial_number: str | None = None
    maker: str | None = None
    match: Match = Match.UNKNOWN
    backends: tuple[str, ...] = ()
    accessible: bool | None = None
    """Whether this user may open it (``None`` where that cannot be told, e.g. Windows)."""

    @property
    def usb_id(self) -> str | None:
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04x}:{self.pid:04x}"

    def fields(self) -> dict[str, object]:
        return {
            "device": self.device,
            "usb_id": self.usb_id,
            "vid": self.vid,
            "pid": self.pid,
            "manufacturer": self.manufacturer,
            "product": self.product,
            "serial_number": self.serial_number,
            "description": self.description,
            "maker": self.maker,
            "match": self.match.value,
            "backends": list(self.backends),
            "accessible": self.accessible,
        }


def identify(port: object) -> PortInfo:
    """What a pyserial ``ListPortInfo`` (or anything with its attributes) is."""
    vid = getattr(port, "vid", None)
    text = " ".join(
        str(getattr(port, name, None) or "") for name in ("manufacturer", "product")
    ).lower()
    maker = MAKERS.get(vid) if vid is not None else None
    if maker is None:  # a maker's own device that reports another vendor ID still names itself
        maker = next(
            (m for m in MAKERS.values() if m.words and any(w in text for w in m.words)), None
        )
    device = str(getattr(port, "device", ""))
    backends: tuple[str, ...]
    if maker is None:
        match, backends, name = Match.UNKNOWN, (), None
    elif maker.backends is None:
        match, backends, name = Match.BRIDGE, _serial_backends(), maker.name
    else:
        match, backends, name = Match.MAKER, maker.backends, maker.name
    accessible = None  # Windows, a URL, a port that vanished: nothing to tell
    if sys.platform != "win32" and os.path.exists(device):
        accessible = os.access(device, os.R_OK | os.W_OK)
    return PortInfo(
        device=device,
        description=_text(getattr(port, "description", None)),
        vid=vid,
        pid=getattr(port, "pid", None),
        manufacturer=_text(getattr(port, "manufacturer", None)),
        product=_text(getattr(port, "product", None)),
        serial_number=_text(getattr(port, "serial_number", None)),
        maker=name,
        match=match,
        backends=backends,
        accessible=accessible,
    )


def _text(value: object) -> str | None:
    return None if value in (None, "", "n/a") else str(value)


def comports() -> list[object]:
    """pyserial's port list (a function of its own so tests can replace it)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


def list_ports() -> list[PortInfo]:
    """Every serial port pyserial finds, identified, sorted by device name."""
    return sorted((identify(port) for port in comports()), key=lambda info: info.device)


def candidates(backend: str, ports: Iterable[PortInfo]) -> list[PortInfo]:
    """The ports ``backend``'s device is likely on: a maker's own first, else bridges."""
    fitting = [info for info in ports if backend in info.backends]
    makers = [info for info in fitting if info.match is Match.MAKER]
    return makers or fitting


def _table(ports: Sequence[PortInfo]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("port", no_wrap=True)
    table.add_column("USB id", no_wrap=True)
    table.add_column("device", overflow="fold")
    table.add_column("serial", overflow="fold", max_width=14)
    table.add_column("likely", no_wrap=True)
    for info in ports:
        what = " / ".join(filter(None, [info.manufacturer, info.product])) or (
            info.description or "-"
        )
        likely = "any serial" if info.match is Match.BRIDGE else ", ".join(info.backends) or "-"
        port = info.device + (" [red]*[/red]" if info.accessible is False else "")
        table.add_row(port, info.usb_id or "-", what, info.serial_number or "-", likely)
    return table


@click.command("ports")
@click.option(
    "--backend",
    type=click.Choice([entry.name for entry in BACKENDS if "uart" in entry.transports]),
    help="Only the ports this backend's device is likely on (what --port defaults to).",
)
@click.pass_context
def command(ctx: click.Context, backend: str | None) -> None:
    """List serial ports with USB IDs, names, serial numbers and the backend each likely serves."""

    async def job(reporter: Reporter) -> None:
        found = list_ports()
        if backend is not None:
            found = candidates(backend, found)
        if reporter.json_lines:
            for info in found:
                reporter.emit("port", **info.fields())
            reporter.emit("ports", count=len(found), backend=backend)
            return
        if not found:
            where = f" for {backend}" if backend else ""
            reporter.say(f"no serial ports found{where}; see docs/troubleshooting.md")
            return
        reporter.console.print(_table(found))
        if any(info.accessible is False for info in found):
            reporter.say(
                "[red]*[/red] this user may not open the port: on Linux join the `dialout` "
                "group (see docs/platforms.md)"
            )

    run(ctx, job)
