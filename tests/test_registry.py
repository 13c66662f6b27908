"""The backend registry: every entry resolves, and the CLI, demo, emulate and benchmarks use it."""

from __future__ import annotations

import importlib

import pytest

from aiodfu.cli import main
from aiodfu.cli.demo import SCENARIOS
from aiodfu.cli.emulate import EMULATORS
from aiodfu.registry import BACKENDS, Direction, backend
from aiodfu.testing.emulator import Emulator


@pytest.mark.parametrize("entry", BACKENDS, ids=lambda entry: entry.name)
def test_every_entry_resolves_to_its_pieces(entry: object) -> None:
    from aiodfu.registry import Backend

    assert isinstance(entry, Backend)
    cli = entry.load_cli()
    assert cli.command.name == entry.name
    assert callable(cli.demo)
    emulator = entry.load_emulator_class()
    assert issubclass(emulator, Emulator)
    assert entry.fixtures is not None
    fixtures = importlib.import_module(entry.fixtures)
    assert any(  # pytest >= 8.4 wraps a fixture function; older ones mark it
        type(value).__name__ == "FixtureFunctionDefinition"
        or hasattr(value, "_pytestfixturefunction")
        for value in vars(fixtures).values()
    )
    session = __import__(entry.package, fromlist=["open"])
    assert hasattr(session, "open") or hasattr(session, "connect")


def test_the_cli_demo_and_emulate_are_built_from_the_registry() -> None:
    names = {entry.name for entry in BACKENDS}
    assert names <= set(main.commands)
    assert set(SCENARIOS) == names
    assert set(EMULATORS) == {entry.name for entry in BACKENDS if entry.serves_byte_stream}
    assert "nrf5-legacy" not in EMULATORS  # BLE only: no pty to serve


def test_lookup_by_name() -> None:
    assert backend("notecard").direction is Direction.PULL
    with pytest.raises(KeyError, match="known: serial-modem"):
        backend("mcumgr")
