"""Shared pieces of the CLI tests: the JSON schema check and small test-only commands.

The test-only commands are built only from the shared CLI pieces (``port_option``,
``ports_option``, ``fleet_options``, ``run_updates``, ``result_rows``, ``NothingToDo``)
and the public Serial Modem API: what a backend's command looks like once it
adopts them. They are added to the real ``aiodfu`` group for one test, so
``--json``, ``-v`` and usage errors behave exactly as for the shipped commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.cli.json_schema import load_schema
from aiodfu.cli.options import port_option
from aiodfu.cli.output import Reporter
from aiodfu.cli.runner import NothingToDo, run
from aiodfu.serial_modem import open as open_serial_modem

VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every stdout line parsed as JSON (a line that is not JSON fails the test)."""
    records = []
    for line in output.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a line of --json output is not JSON: {line!r}")
    return records


def assert_valid(records: list[dict[str, Any]]) -> None:
    """Each record validates against the shipped events-v1 schema."""
    assert records, "no JSON lines to check"
    for record in records:
        errors = sorted(VALIDATOR.iter_errors(record), key=lambda error: error.path)
        assert not errors, f"{record!r}: " + "; ".join(error.message for error in errors)


@click.group("testonly", hidden=True)
def fixture_commands() -> None:
    """Commands that exist only in these tests."""


@fixture_commands.command("ping")
@port_option("serial-modem")
@click.pass_context
def ping(ctx: click.Context, port: str) -> None:
    async def job(reporter: Reporter) -> None:
        async with open_serial_modem(port) as session:
            mode = await session.ping()
        reporter.table("ping", {"port": port, "mode": mode.value})

    run(ctx, job)


@fixture_commands.command("nothing")
@click.pass_context
def nothing(ctx: click.Context) -> None:
    async def job(reporter: Reporter) -> None:
        raise NothingToDo("no update pending", job=None)

    run(ctx, job)


@fixture_commands.command("crash")
@click.pass_context
def crash(ctx: click.Context) -> None:
    async def job(reporter: Reporter) -> None:
        raise RuntimeError("a bug")

    run(ctx, job)


@fixture_commands.command("no-bluez")
@click.pass_context
def no_bluez(ctx: click.Context) -> None:
    """What bleak does without BlueZ: a bare FileNotFoundError from dbus_fast's connect."""

    async def job(reporter: Reporter) -> None:
        code = compile(
            "raise FileNotFoundError(2, 'No such file or directory')",
            "/site-packages/dbus_fast/aio/message_bus.py",
            "exec",
        )
        exec(code)

    run(ctx, job)


@fixture_commands.command("no-adapter")
@click.pass_context
def no_adapter(ctx: click.Context) -> None:
    async def job(reporter: Reporter) -> None:
        from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

        raise BleakBluetoothNotAvailableError(
            "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
        )

    run(ctx, job)


@pytest.fixture
def with_testonly() -> Iterator[None]:
    main.add_command(fixture_commands)
    try:
        yield
    finally:
        main.commands.pop("testonly", None)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def emulated_pty() -> Iterator[str]:
    """The pty of ``aiodfu emulate serial-modem --pty`` in another process, as a user runs it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aiodfu", "emulate", "serial-modem", "--pty"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    yield process.stdout.readline().removeprefix("pty: ").strip()
    process.terminate()
    process.wait(timeout=10)
