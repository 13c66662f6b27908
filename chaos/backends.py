"""The campaign's backends, by name: every protocol, nRF5 and Drogue over both transports.

Each entry names its :class:`~chaos.trial.Trial` by import path, so listing
them imports neither Bumble nor a backend (as :mod:`aiodfu.registry` does).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable

from chaos.trial import Trial

TRIALS: dict[str, str] = {
    "serial-modem": "chaos.serial_modem:SerialModemTrial",
    "nrf5-legacy": "chaos.nrf5_legacy:Nrf5LegacyTrial",
    "nrf5-legacy-serial": "chaos.nrf5_legacy_serial:Nrf5LegacySerialTrial",
    "drogue-serial": "chaos.drogue:DrogueSerialTrial",
    "drogue-gatt": "chaos.drogue:DrogueGattTrial",
    "notecard": "chaos.notecard:NotecardTrial",
    "rainmaker": "chaos.rainmaker:RainMakerTrial",
}


def trial_class(backend: str) -> type[Trial]:
    """The Trial class of ``backend``; :class:`KeyError` naming the known ones otherwise."""
    try:
        path = TRIALS[backend]
    except KeyError:
        raise KeyError(f"no backend {backend!r}; known: {', '.join(TRIALS)}") from None
    module, _, name = path.partition(":")
    cls: type[Trial] = getattr(importlib.import_module(module), name)
    return cls


def factory(backend: str) -> Callable[[random.Random, str | None], Trial]:
    """What :func:`chaos.campaign.run_case` builds a case's trial with."""
    return trial_class(backend)
