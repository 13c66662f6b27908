"""Planned and seeded link faults: per connection, recorded, replayable."""

from __future__ import annotations

import random

import pytest

from aiodfu.serial_modem import SerialModemSession
from aiodfu.testing import (
    LINK_FAULT_KINDS,
    FaultyLinks,
    LinkPlan,
    SerialModemEmulator,
    build_mcuboot_image,
    random_firmware,
    random_link_plan,
)
from aiodfu.transports.memory import LinkFaults
from tests.serial_modem.conftest import FAST_TIMEOUTS


def test_the_same_seed_draws_the_same_plans() -> None:
    first = [random_link_plan(random.Random(7), 10_000) for _ in range(5)]
    again = [random_link_plan(random.Random(7), 10_000) for _ in range(5)]
    assert first == again
    drawn = {
        random_link_plan(random.Random(seed), 10_000).description.split()[0] for seed in range(200)
    }
    assert drawn == set(LINK_FAULT_KINDS)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown link fault kind"):
        random_link_plan(random.Random(1), 100, kinds=["meteor"])


async def test_faults_on_the_second_link_and_a_record_of_what_fired() -> None:
    image = build_mcuboot_image(random_firmware(12_000, seed=3))
    async with SerialModemEmulator() as device:
        connector = FaultyLinks(
            device,
            {
                1: LinkPlan(LinkFaults(drop_after=3000)),
                2: LinkPlan(LinkFaults(drop_after=5000)),
            },
        )
        async with SerialModemSession(connector, timeouts=FAST_TIMEOUTS) as session:
            await session.update(image, reset=True)
        assert device.active_app == image
    assert connector.connections >= 3
    assert [(number, fault.kind) for number, fault in connector.fired] == [
        (1, "drop"),
        (2, "drop"),
    ]
