"""Where a pull backend's ``update`` writes each device's image when it serves several.

``notecard update`` and ``rainmaker update`` write the image they retrieve to
``--output``. With several ports, one file per device: ``--output`` names them
with ``{port}``, which becomes each port's name (``host-{port}.bin`` ->
``host-ttyUSB0.bin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

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
