"""Fixtures for the GATT tests: a radio, a Drogue device hosted on it, sessions through bleak."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from aiodfu.drogue import DrogueSession, connect
from aiodfu.testing.ble import BleRadio, BumbleBleakClient
from aiodfu.testing.drogue import DrogueEmulator
from aiodfu.testing.drogue.gatt import DrogueGattHost

from .conftest import FAST_RETRY, FAST_TIMEOUTS, emulator

GATT_TIMEOUTS = attrs.evolve(
    FAST_TIMEOUTS, gatt_operation=0.5, offset_settle=0.3, offset_poll_interval=0.005, gatt_reset=0.3
)

HostFactory = Callable[..., Any]
SessionFactory = Callable[..., DrogueSession]


@pytest.fixture
async def radio() -> AsyncIterator[BleRadio]:
    async with BleRadio() as radio:
        yield radio


@pytest.fixture
async def make_host(radio: BleRadio) -> AsyncIterator[HostFactory]:
    """``await make_host(device=None, **host_options)``: a started host; checked on teardown."""
    hosts: list[DrogueGattHost] = []

    async def make(device: DrogueEmulator | None = None, **options: Any) -> DrogueGattHost:
        host = DrogueGattHost(device or emulator(), radio, **options)
        await host.start()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        await host.aclose()
        assert not host.failures and not host.device.failures


@pytest.fixture
def make_session(radio: BleRadio) -> SessionFactory:
    def make(host: DrogueGattHost | str, **options: Any) -> DrogueSession:
        """A session with ``host`` (or the device at an address), fast timeouts and retries."""
        options.setdefault("timeouts", GATT_TIMEOUTS)
        options.setdefault("retry", FAST_RETRY)
        client_options = {"backend": BumbleBleakClient, "radio": radio}
        client_options.update(options.pop("client_options", {}))
        address = host if isinstance(host, str) else host.address
        return connect(address, client_options=client_options, **options)

    return make
