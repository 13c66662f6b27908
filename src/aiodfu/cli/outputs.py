"""Where a pull backend's ``update`` writes each device's image when it serves several.

``notecard update`` and ``rainmaker update`` write the image they retrieve to
``--output``. With several ports, one file per device: ``--output`` names them
with ``{port}``, which becomes each port's name (``host-{port}.bin`` ->
``host-ttyUSB0.bin``).

Each device's image streams into its own ``OUTPUT.part`` (:func:`staged`) and
is moved to ``OUTPUT`` only once verified, so a failed update leaves an earlier
``OUTPUT`` as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import click

from aiodfu.core.session import UpdateResult
from aiodfu.core.sinks import FileSink, PulledFile

PORT_FIELD = "{port}"


def per_device(devices: Sequence[str], output: Path) -> dict[str, Path]:
    """Each device's output file: ``output`` itself for one device, else with ``{port}``
    replaced by the device's name (the last part of its path); a usage error without it."""
    if len(devices) == 1:
        return {devices[0]: output}
    if PORT_FIELD not in str(output):
        raise click.UsageError(
            f"with several ports, --output must contain {PORT_FIELD} (e.g. 'host-{{port}}.bin'), "
            "which becomes each port's name"
        )
    paths = {device: Path(str(output).replace(PORT_FIELD, Path(device).name)) for device in devices}
    if len(set(paths.values())) < len(paths):
        raise click.UsageError(
            f"two ports have the same name, so {PORT_FIELD} cannot tell their files apart"
        )
    return paths


def staged(output: Path) -> tuple[FileSink, Callable[[PulledFile], None]]:
    """The sink that streams an image into ``OUTPUT.part`` and the install that moves the
    verified file to ``output`` (an update that fails leaves no ``.part`` and ``output`` as
    it was)."""

    def install(pulled: PulledFile) -> None:
        os.replace(pulled.path, output)

    return FileSink(output.with_name(output.name + ".part")), install


def as_installed(result: UpdateResult) -> UpdateResult:
    """``result`` without the ``path`` detail: the ``.part`` file it names is now ``OUTPUT``."""
    details = {name: value for name, value in result.details.items() if name != "path"}
    return attrs.evolve(result, details=details)
