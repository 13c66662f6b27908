"""The backend registry: one entry per backend, read by the CLI, the demo, ``emulate``,
the pytest plugin and the benchmarks.

Adding a backend is its package, its ``aiodfu.testing`` emulator, its CLI
module, one :class:`Backend` line in :data:`BACKENDS` and a docs page (see
docs/architecture.md, "Adding a backend"). Entries name modules by their import
path and are imported only when used, as bleak does with its platform
backends: listing the backends never imports Bumble or a serial library.

A backend's CLI module provides ``command`` (its click group), ``demo(reporter,
size, baud)`` (an update of its emulator, verified byte for byte) and, when its
emulator serves a byte stream, ``emulator_factory(image, link_model)`` for
``aiodfu emulate --pty``.
"""

from __future__ import annotations

import enum
import importlib
from types import ModuleType
from typing import Any

import attrs


class Direction(enum.Enum):
    PUSH = "push"
    """This host sends the image; the session's ``update(image)``."""
    PULL = "pull"
    """The device delivers an image to this host; the session's ``update(install=...)``."""


@attrs.frozen
class Backend:
    """One backend: where its pieces live, by import path."""

    name: str
    """The CLI name: ``aiodfu NAME ...``, ``aiodfu emulate NAME``, ``demo --backend NAME``."""
    title: str
    package: str
    direction: Direction
    transports: tuple[str, ...]
    cli: str
    """The CLI module: ``command``, ``demo``, and ``emulator_factory`` for byte streams."""
    emulator: str
    """``module:Class`` of the emulator in :mod:`aiodfu.testing`."""
    benchmark: str | None = None
    """The benchmark module (in the source tree's ``benchmarks`` package): ``run(quick)``."""
    extra: str | None = None
    """The optional extra the emulator needs (``pip install 'aiodfu[extra]'``), if any."""
    fixtures: str | None = None
    """The pytest plugin's fixture module for this backend (importable without the extra)."""

    def load_cli(self) -> ModuleType:
        return importlib.import_module(self.cli)

    def load_emulator_class(self) -> Any:
        module, _, name = self.emulator.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def serves_byte_stream(self) -> bool:
        """Whether ``aiodfu emulate NAME --pty`` applies (BLE-only emulators have no pty)."""
        return hasattr(self.load_cli(), "emulator_factory")


BACKENDS: tuple[Backend, ...] = (
    Backend(
        name="serial-modem",
        title="Nordic Serial Modem AT DFU",
        package="aiodfu.serial_modem",
        direction=Direction.PUSH,
        transports=("uart",),
        cli="aiodfu.cli.serial_modem",
        emulator="aiodfu.testing.serial_modem:SerialModemEmulator",
        benchmark="benchmarks.serial_modem",
        fixtures="aiodfu.testing.fixtures.serial_modem",
    ),
    Backend(
        name="nrf5-legacy",
        title="Legacy Nordic nRF5 DFU (SDK <= 11)",
        package="aiodfu.nrf5_legacy",
        direction=Direction.PUSH,
        transports=("ble",),
        cli="aiodfu.cli.nrf5_legacy",
        emulator="aiodfu.testing.nrf5_legacy:Nrf5LegacyEmulator",
        benchmark="benchmarks.nrf5_legacy",
        extra="emulators",
        fixtures="aiodfu.testing.fixtures.nrf5_legacy",
    ),
    Backend(
        name="nrf5-legacy-serial",
        title="Adafruit nRF52 bootloader: legacy nRF5 DFU over serial / USB CDC",
        package="aiodfu.nrf5_legacy",
        direction=Direction.PUSH,
        transports=("uart",),
        cli="aiodfu.cli.nrf5_legacy_serial",
        emulator="aiodfu.testing.nrf5_legacy_serial:AdafruitSerialEmulator",
        benchmark="benchmarks.nrf5_legacy_serial",
        fixtures="aiodfu.testing.fixtures.nrf5_legacy_serial",
    ),
    Backend(
        name="notecard",
        title="Blues Notecard host-MCU DFU",
        package="aiodfu.notecard",
        direction=Direction.PULL,
        transports=("uart", "i2c"),
        cli="aiodfu.cli.notecard",
        emulator="aiodfu.testing.notecard:NotecardEmulator",
        benchmark="benchmarks.notecard",
        fixtures="aiodfu.testing.fixtures.notecard",
    ),
    Backend(
        name="drogue",
        title="Drogue IoT (embedded-update, embassy-boot)",
        package="aiodfu.drogue",
        direction=Direction.PUSH,
        transports=("uart", "ble"),
        cli="aiodfu.cli.drogue",
        emulator="aiodfu.testing.drogue:DrogueEmulator",
        benchmark="benchmarks.drogue",
        fixtures="aiodfu.testing.fixtures.drogue",
    ),
    Backend(
        name="rainmaker",
        title="ESP RainMaker AT host-MCU OTA",
        package="aiodfu.rainmaker",
        direction=Direction.PULL,
        transports=("uart",),
        cli="aiodfu.cli.rainmaker",
        emulator="aiodfu.testing.rainmaker:RainMakerEmulator",
        benchmark="benchmarks.rainmaker",
        fixtures="aiodfu.testing.fixtures.rainmaker",
    ),
)
"""Every backend, in the order the CLI lists them."""


def backend(name: str) -> Backend:
    """The backend called ``name``; :class:`KeyError` naming the known ones otherwise."""
    for entry in BACKENDS:
        if entry.name == name:
            return entry
    raise KeyError(f"no backend {name!r}; known: {', '.join(b.name for b in BACKENDS)}")
