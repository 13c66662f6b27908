"""Device faults: every kind, against every backend it applies to, each replayable from a seed.

Every case ends in a verified success with the exact image or a typed
error -- and either way a fresh session on the healed device installs
another image, compared byte for byte (:func:`run_case`).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from aiodfu.testing import (
    DEVICE_FAULT_KINDS,
    LINK_FAULT_KINDS,
    AfterSeconds,
    AtOffset,
    DeviceFault,
    DeviceFaults,
    ErrorReply,
    Latency,
    LinkFaults,
    LinkPlan,
    OnCommand,
    Reboot,
    Silence,
    Unsolicited,
    random_device_fault,
    random_link_plan,
)

from .device_fault_backends import BACKENDS, Backend, run_case


def cases(backend: type[Backend]) -> list[Any]:
    """Every fault kind at each kind of trigger, and every error code the device has."""
    vocabulary = backend.vocabulary
    data = OnCommand(2 if backend.data_command != "AT+HTTPCGET" else 1, backend.data_command)
    middle = AtOffset(backend.span // 2)
    line = vocabulary.unsolicited[0]
    faults = [
        *(DeviceFault(data, ErrorReply(code)) for code in vocabulary.errors),
        *(
            DeviceFault(OnCommand(1, prefix), ErrorReply())
            for prefix, _ in vocabulary.commands
            if prefix != backend.data_command
            and (vocabulary.error_commands is None or prefix in vocabulary.error_commands)
        ),
        *(DeviceFault(middle, ErrorReply(code)) for code in vocabulary.offset_errors),
        DeviceFault(data, Reboot()),
        DeviceFault(middle, Reboot()),
        DeviceFault(AfterSeconds(0.03), Reboot()),
        DeviceFault(data, Silence()),
        DeviceFault(data, Silence(0.3)),
        DeviceFault(middle, Silence(0.3)),
        DeviceFault(AfterSeconds(0.03), Silence(0.2)),
        DeviceFault(data, Unsolicited(line)),
        DeviceFault(data, Unsolicited(line, mid_line=True)),
        DeviceFault(middle, Unsolicited(line)),  # during data mode / mid-transfer
        DeviceFault(middle, Unsolicited(line, mid_line=True)),
        DeviceFault(AfterSeconds(0.03), Unsolicited(line)),
        DeviceFault(data, Latency(0.3)),
        DeviceFault(middle, Latency(0.3)),
        DeviceFault(AfterSeconds(0.03), Latency(0.05, answers=None)),
    ]
    return [pytest.param(backend, fault, id=f"{backend.name}: {fault}") for fault in faults]


ALL_CASES = [case for backend in BACKENDS.values() for case in cases(backend)]


@pytest.mark.parametrize(("backend_class", "fault"), ALL_CASES)
async def test_every_fault_kind_ends_verified_or_typed_then_a_fresh_session_updates(
    backend_class: type[Backend], fault: DeviceFault
) -> None:
    ended, fired = await run_case(backend_class(), [fault])
    assert fired, f"{fault} never fired ({ended})"
    assert fired[0].startswith(fault.kind), fired


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("name", list(BACKENDS))
async def test_a_seeded_random_device_fault_replays_and_ends_verified_or_typed(
    name: str, seed: int
) -> None:
    backend = BACKENDS[name]
    draw = [
        random_device_fault(
            random.Random(seed), backend.vocabulary, backend.span, triggers=("command", "offset")
        )
        for _ in range(2)
    ]
    assert draw[0] == draw[1]  # the same seed, the same fault
    await run_case(backend(), draw[:1])


# --- link faults, the same way --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("kind", LINK_FAULT_KINDS)
@pytest.mark.parametrize("name", list(BACKENDS))
async def test_every_link_fault_kind_ends_verified_or_typed_then_a_fresh_session_updates(
    name: str, kind: str, seed: int
) -> None:
    backend = BACKENDS[name]
    rng = random.Random(seed)
    down, up = backend.wire
    plan = random_link_plan(rng, down, kinds=[kind], upstream_span=up)
    connection = rng.choice([1, 1, 2])  # the first link mostly, or the first reconnection
    ended, fired = await run_case(backend(), [], {connection: plan})
    if connection == 1:
        assert fired, f"{plan.description} never fired ({ended})"


@pytest.mark.parametrize(
    "faults",
    [LinkFaults(drop_after_seconds=0.03), LinkFaults(stall_after_seconds=0.03)],
    ids=["drop after seconds", "stall after seconds"],
)
@pytest.mark.parametrize("name", list(BACKENDS))
async def test_time_triggered_link_faults(name: str, faults: LinkFaults) -> None:
    ended, fired = await run_case(BACKENDS[name](), [], {1: LinkPlan(faults)})
    assert fired, ended


# --- the vocabulary itself -----------------------------------------------------------------------


def test_the_same_seed_draws_the_same_faults_and_every_kind_is_drawn() -> None:
    for backend in BACKENDS.values():
        first = [random_device_fault(random.Random(s), backend.vocabulary, 1000) for s in range(50)]
        again = [random_device_fault(random.Random(s), backend.vocabulary, 1000) for s in range(50)]
        assert first == again
        assert {fault.kind for fault in first} == set(DEVICE_FAULT_KINDS)
        for fault in first:
            backend.vocabulary.check(fault)  # every draw is something the device can do


def test_timed_draws_and_forced_kinds() -> None:
    vocabulary = BACKENDS["serial-modem"].vocabulary
    rng = random.Random(3)
    faults = [
        random_device_fault(rng, vocabulary, 100, kinds=["reboot"], triggers=["time"])
        for _ in range(5)
    ]
    assert all(isinstance(f.trigger, AfterSeconds) and f.kind == "reboot" for f in faults)
    with pytest.raises(ValueError, match="unknown device fault kind"):
        random_device_fault(rng, vocabulary, 100, kinds=["meteor"])
    with pytest.raises(ValueError, match="unknown trigger"):
        random_device_fault(rng, vocabulary, 100, kinds=["reboot"], triggers=["moon"])


def test_a_device_refuses_a_fault_it_cannot_do() -> None:
    vocabulary = BACKENDS["drogue"].vocabulary
    with pytest.raises(ValueError, match="no error 'ERROR' at a command"):
        vocabulary.check(DeviceFault(OnCommand(1, "Write"), ErrorReply("ERROR")))
    with pytest.raises(ValueError, match="counted from 1"):
        OnCommand(0)
    with pytest.raises(ValueError, match="at least once"):
        DeviceFault(OnCommand(), Reboot(), times=0)


async def test_an_impossible_fault_is_refused_on_connection() -> None:
    from aiodfu.testing import SerialModemEmulator, SerialModemFaults

    fault = DeviceFault(AtOffset(10), ErrorReply("ERROR"))  # no ERROR in data mode
    async with SerialModemEmulator(faults=SerialModemFaults(plan=[fault])) as device:
        with pytest.raises(ValueError, match="at an offset"):
            device.connect()


def test_commands_are_counted_per_prefix_and_times_spends_a_fault() -> None:
    faults = DeviceFaults(plan=[DeviceFault(OnCommand(2, "at#xdfuwrite"), Reboot(), times=2)])
    names = ["AT", "AT#XDFUWRITE=0,0,8", "AT#XDFUINIT=0,8", "AT#XDFUWRITE=0,8,8"]
    names += ["AT#XDFUWRITE=0,16,8", "AT#XDFUWRITE=0,24,8"]
    hits = [bool(faults.on_command(name)) for name in names]
    assert hits == [False, False, False, True, True, False]


def test_offsets_fire_where_the_transfer_crosses_them() -> None:
    faults = DeviceFaults(plan=[DeviceFault(AtOffset(100), Reboot(), times=2)])
    assert faults.next_offset(0, 100) is None
    assert faults.next_offset(50, 150) == 100
    assert [str(f) for f, _ in faults.on_offset(100)] == ["reboot at offset 100 (2 times)"]
    assert faults.next_offset(0, 200) == 100  # a restarted transfer crosses it again
    faults.on_offset(100)
    assert faults.next_offset(0, 200) is None  # spent


def test_latency_and_mid_line_insertion() -> None:
    faults = DeviceFaults()
    faults.add_latency(Latency(0.2, answers=2))
    faults.add_latency(Latency(0.1, answers=None))
    assert [round(faults.take_latency(), 3) for _ in range(3)] == [0.3, 0.3, 0.1]
    faults.add_mid_line(b"+CEREG: 5")
    assert faults.splice(b"\r\nOK\r\n") == b"\r\nO+CEREG: 5K\r\n"
    assert faults.splice(b"\r\nOK\r\n") == b"\r\nOK\r\n"  # once
