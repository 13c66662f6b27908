"""The fault campaign's bounded slice, and its classifier.

One case per (backend, fault kind), each at a fixed seed, run through
:mod:`chaos` exactly as ``python -m chaos`` runs it: a case that ends BAD fails
here with its replay line. Cases that are BAD on main today because the fix is
on another branch are ``xfail(strict=True)`` with the defect number of issue
10, so they fail loudly (XPASS) once the fix lands and the marker must go.
Seeds were picked among 0..5 for each kind: a case showing a known defect
where one exists, else a quick one that still exercises the fault (and, where a
seed decides it, a variant: an update type, a firmware, an image kind). The
whole slice takes about a minute.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from typing import Any, ClassVar, Self

import pytest

from aiodfu.core.errors import DfuError, LinkLostError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, Progress, ProgressTracker
from aiodfu.core.session import UpdateResult, Verification, VerificationMethod
from chaos.__main__ import main
from chaos.backends import TRIALS, factory, trial_class
from chaos.campaign import CaseResult, Outcome, run_campaign, run_case, run_case_sync
from chaos.report import markdown
from chaos.trial import Fault, Held, Trial

SEEDS: dict[str, dict[str, int]] = {
    "serial-modem": {
        "link:drop": 3,
        "link:stall": 2,
        "link:corrupt": 3,
        "link:flip": 1,
        "link:lose": 2,
        "link:duplicate": 3,
        "link:garbage": 2,
        "link:no-flow-control": 5,
        "device:fail-chunk": 1,
        "device:error-reply": 1,
        "device:reboot": 1,
        "device:unsolicited": 1,
        "device:late-ok": 3,
        "device:fail-apply": 0,
        "device:silent": 0,
        "host:cancel": 0,
    },
    "nrf5-legacy": {
        "link:drop-after-packets": 2,
        "link:drop-on-opcode": 4,
        "link:lose-packet": 0,
        "link:drop-timed": 0,
        "device:slow-notifications": 3,
        "device:error": 0,
        "device:reboot": 1,
        "device:silence": 2,
        "device:unsolicited": 3,
        "device:latency": 4,
        "link:ble-lose": 0,
        "link:ble-corrupt": 1,
        "link:ble-delay": 2,
        "link:ble-garbage": 3,
        "link:ble-stall": 4,
        "link:ble-disconnect": 5,
        "host:cancel": 0,
    },
    "nrf5-legacy-serial": {
        "link:drop": 4,
        "link:stall": 3,
        "link:corrupt": 3,
        "link:flip": 4,
        "link:lose": 3,
        "link:duplicate": 3,
        "link:garbage": 4,
        "device:reset": 0,
        "device:error": 1,
        "device:reboot": 0,
        "device:silence": 2,
        "device:unsolicited": 1,
        "device:latency": 1,
        "host:cancel": 1,
    },
    "drogue-serial": {  # seeds 2 and 5 draw checksum-aware firmware
        "link:drop": 2,
        "link:stall": 0,
        "link:corrupt": 2,
        "link:flip": 0,
        "link:lose": 5,
        "link:duplicate": 0,
        "link:garbage": 2,
        "device:flash-error": 0,
        "device:fails-to-boot": 0,
        "device:back-to-back": 0,
        "device:extra-bytes": 0,
        "device:silent": 0,
        "host:cancel": 0,
    },
    "drogue-gatt": {
        "link:drop-after-request": 0,
        "link:lose-request": 5,
        "link:drop-timed": 1,
        "link:ble-stall": 2,
        "link:ble-disconnect": 3,
        "device:flash-error": 4,
        "device:fails-to-boot": 2,
        "device:back-to-back": 4,
        "device:error": 0,
        "device:reboot": 1,
        "device:silence": 2,
        "device:latency": 3,
        "host:cancel": 5,
    },
    "notecard": {
        "link:drop": 1,
        "link:stall": 0,
        "link:corrupt": 1,
        "link:flip": 1,
        "link:lose": 1,
        "link:duplicate": 1,
        "link:garbage": 1,
        "device:error": 0,  # 'dfu-mode' at an offset: DFU mode entered again, resumed
        "device:reboot": 0,  # mid-transfer: the image kept, DFU mode lost and re-entered
        "device:silence": 5,  # for good, at an offset: typed, then a fresh session
        "device:unsolicited": 5,  # a CR/LF in the middle of a reply
        "device:latency": 0,
        "device:no-answer": 0,
        "device:truncated-response": 0,
        "device:corrupted-response": 0,
        "device:wrong-sequence": 0,
        "device:io-error": 0,
        "device:bad-bin": 0,
        "device:corrupted-frame": 0,
        "device:heartbeats": 1,
        "host:cancel": 1,
    },
    "rainmaker": {  # a raw or MCUboot image, with or without the caller's SHA-256, by seed
        "link:drop": 0,
        "link:stall": 1,
        "link:corrupt": 2,
        "link:flip": 0,
        "link:lose": 3,
        "link:duplicate": 1,
        "link:garbage": 2,
        "device:error-mid-download": 4,
        "device:unsolicited": 0,
        "device:notify-between-chunks": 5,
        "http:status": 2,
        "http:expired": 0,
        "http:reset": 2,
        "http:reset-no-range": 1,
        "http:slow-body": 0,
        "host:cancel": 0,
        "http:corrupt-body": 1,
        "http:wrong-length": 3,
    },
}

KNOWN_BAD: dict[tuple[str, str], str] = {}


def _slice() -> list[Any]:
    params = []
    for backend, seeds in SEEDS.items():
        for kind, seed in seeds.items():
            marks = []
            if (backend, kind) in KNOWN_BAD:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BAD[(backend, kind)]))
            params.append(pytest.param(backend, kind, seed, marks=marks, id=f"{backend}-{kind}"))
    return params


def test_the_slice_covers_every_fault_kind_of_every_backend() -> None:
    assert set(SEEDS) == set(TRIALS)
    for backend, seeds in SEEDS.items():
        assert list(seeds) == list(trial_class(backend).kinds), backend


@pytest.mark.parametrize(("backend", "kind", "seed"), _slice())
def test_no_case_ends_badly(backend: str, kind: str, seed: int) -> None:
    result = run_case_sync(factory(backend), seed, kind=kind)
    assert result.fault.kind == kind
    assert result.outcome is not Outcome.BAD, (
        f"{result.fault} -> {result.diagnosis}\nreplay: {result.replay}"
    )


# Cases long campaigns found BAD, kept as regressions once fixed (replay: python -m chaos --replay
# BACKEND:SEED --kind KIND). The kind is forced: a trial draws its kind from its list of kinds,
# so a backend gaining a kind would otherwise turn the same seed into another case.
FOUND_BY_CAMPAIGNS = [
    # a Swap that got through before the link failed: verified after all
    ("drogue-serial", 2370, "link:garbage"),
    # garbage into a block the fresh session cannot check: unverifiable
    ("drogue-serial", 99, "link:garbage"),
    ("nrf5-legacy-serial", 17, "host:cancel"),  # a cancel arriving with an ack must propagate
    ("rainmaker", 4362, "link:corrupt"),  # a corrupted result report must be sent again
    # a spoiled signature TLV: a signature-checking MCUboot refuses it
    ("serial-modem", 5457, "link:garbage"),
    ("rainmaker", 4948, "link:lose"),  # a byte lost in the job ID: never report for a job read once
    ("rainmaker", 3703, "link:corrupt"),  # ATE0 lost after a delivered report: the report stands
    # a byte flipped in the signature TLV, which the hash does not cover: read twice, again
    ("rainmaker", 3804, "http:corrupt-body"),
    # a reboot while the board ran its application: the emulator's idle loop spun, unstoppable
    ("nrf5-legacy-serial", 2167, "device:reboot"),
    # the bootloader hung at Activate & Reset past the watch window, then activated
    ("nrf5-legacy", 12188, "device:silence"),
    # the host went away while the board acknowledged a queued packet: its main loop slept on
    ("nrf5-legacy-serial", 20283, "link:drop"),
    # a byte of a pulled MCUboot image's magic hit: it looked raw, and was installed unverified
    ("rainmaker", 62774, "link:corrupt"),
]


@pytest.mark.parametrize(("backend", "seed", "kind"), FOUND_BY_CAMPAIGNS)
def test_cases_campaigns_found_stay_fixed(backend: str, seed: int, kind: str) -> None:
    result = run_case_sync(factory(backend), seed, kind=kind)
    assert result.fault.kind == kind
    assert result.outcome is not Outcome.BAD, (
        f"{result.fault} -> {result.diagnosis}\nreplay: {result.replay}"
    )


# --- the classifier, against a device whose behaviour each test scripts ---------------------------

IMAGE = FirmwareImage(b"\x01\x02\x03\x04")
CHECKED = Verification(VerificationMethod.DEVICE_CRC, "the device checked a CRC")


class Scripted(Trial):
    """A trial whose sessions do what the test says and whose device holds what it says."""

    backend = "scripted"
    kinds = ("device:scripted",)

    def __init__(
        self,
        faulty: Callable[[], Any],
        fresh: Callable[[], Any] | None = None,
        held: Held = Held.INTACT,
        *,
        unverifiable_ok: bool = False,
    ) -> None:
        self.faulty, self.fresh, self.holding = faulty, fresh, held
        self.unverifiable_ok = unverifiable_ok
        self.healed = False
        super().__init__(random.Random(0))

    def draw(self) -> Fault:
        return Fault(self.kind, "scripted")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        outcome = self.faulty()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        assert isinstance(outcome, UpdateResult)
        return outcome

    def heal(self) -> None:
        self.healed = True

    async def update_fresh(self) -> UpdateResult:
        assert self.fresh is not None, "a fresh session was not expected"
        outcome = self.fresh()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        assert isinstance(outcome, UpdateResult)
        return outcome

    def held(self) -> tuple[Held, str]:
        return self.holding, f"the device holds {self.holding.value}"


def success(verification: Verification = CHECKED) -> UpdateResult:
    return UpdateResult(IMAGE, 1, 4, 0.1, verification)


def fails(error: BaseException) -> Callable[[], Any]:
    def raise_it() -> Any:
        raise error

    return raise_it


async def classify(trial: Scripted, bound: float = 5.0) -> CaseResult:
    return await run_case(lambda rng, kind: trial, 0, bound=bound)


async def test_a_verified_success_holding_the_image_is_verified() -> None:
    result = await classify(Scripted(success))
    assert result.outcome is Outcome.VERIFIED


@pytest.mark.parametrize("held", [Held.DIFFERENT_BYTES, Held.NOT_APPLIED])
async def test_a_verified_success_without_the_image_is_bad(held: Held) -> None:
    result = await classify(Scripted(success, held=held))
    assert result.outcome is Outcome.BAD
    assert result.diagnosis.startswith("false success")


async def test_an_unverified_success_is_honest_only_where_the_protocol_cannot_verify() -> None:
    unverified = lambda: success(Verification.none("no check"))  # noqa: E731
    allowed = await classify(Scripted(unverified, held=Held.DIFFERENT_BYTES, unverifiable_ok=True))
    assert allowed.outcome is Outcome.UNVERIFIABLE
    assert allowed.held is Held.DIFFERENT_BYTES
    elsewhere = await classify(Scripted(unverified))
    assert elsewhere.outcome is Outcome.BAD
    assert elsewhere.diagnosis.startswith("unverified success")
    not_applied = await classify(Scripted(unverified, held=Held.NOT_APPLIED, unverifiable_ok=True))
    assert not_applied.outcome is Outcome.BAD  # "unverifiable" covers bytes, never "not running"


async def test_a_typed_failure_counts_only_if_a_fresh_session_then_updates() -> None:
    trial = Scripted(fails(LinkLostError("gone")), fresh=success)
    result = await classify(trial)
    assert result.outcome is Outcome.TYPED_FAILURE
    assert trial.healed
    stuck = await classify(Scripted(fails(LinkLostError("gone")), fresh=fails(DfuError("no"))))
    assert stuck.outcome is Outcome.BAD
    assert stuck.diagnosis.startswith("stuck device")
    garbled = Scripted(fails(LinkLostError("gone")), fresh=success, held=Held.DIFFERENT_BYTES)
    assert (await classify(garbled)).outcome is Outcome.BAD


async def test_a_fresh_sessions_unverified_success_counts_only_where_nothing_can_verify() -> None:
    unverified = lambda: success(Verification.none("no check"))  # noqa: E731
    gone = fails(LinkLostError("gone"))
    allowed = Scripted(gone, fresh=unverified, held=Held.DIFFERENT_BYTES, unverifiable_ok=True)
    assert (await classify(allowed)).outcome is Outcome.UNVERIFIABLE
    claimed = Scripted(gone, fresh=success, held=Held.DIFFERENT_BYTES, unverifiable_ok=True)
    assert (await classify(claimed)).outcome is Outcome.BAD  # it said verified
    elsewhere = Scripted(gone, fresh=unverified, held=Held.DIFFERENT_BYTES)
    assert (await classify(elsewhere)).outcome is Outcome.BAD
    not_applied = Scripted(gone, fresh=unverified, held=Held.NOT_APPLIED, unverifiable_ok=True)
    assert (await classify(not_applied)).outcome is Outcome.BAD


async def test_an_untyped_exception_is_bad() -> None:
    result = await classify(Scripted(fails(KeyError("oops"))))
    assert result.outcome is Outcome.BAD
    assert result.diagnosis.startswith("untyped: KeyError")


async def test_a_cancelled_error_nobody_asked_for_is_bad() -> None:
    result = await classify(Scripted(fails(asyncio.CancelledError())))
    assert result.outcome is Outcome.BAD
    assert "bare CancelledError" in result.diagnosis


async def test_a_hang_past_the_bound_is_bad() -> None:
    result = await classify(Scripted(lambda: asyncio.sleep(60)), bound=0.2)
    assert result.outcome is Outcome.BAD
    assert result.diagnosis.startswith("hang")


class Cancellable(Scripted):
    """Reports progress, then waits: the runner cancels it at ``cancel_at``."""

    def __init__(self, swallow: bool) -> None:
        super().__init__(success, fresh=success)
        self.cancel_at = 10
        self.swallow = swallow

    async def update(self, progress: Callable[[Progress], None]) -> UpdateResult:
        tracker = ProgressTracker(100, progress)
        tracker.set_phase(Phase.TRANSFERRING)
        tracker.advance(20)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            if not self.swallow:
                raise
        return success()


async def test_the_callers_cancel_must_propagate_and_leave_an_updatable_device() -> None:
    propagated = await classify(Cancellable(swallow=False))
    assert propagated.outcome is Outcome.TYPED_FAILURE
    swallowed = await classify(Cancellable(swallow=True))
    assert swallowed.outcome is Outcome.BAD
    assert swallowed.diagnosis.startswith("cancellation swallowed")


# --- determinism, the campaign loop and the command line -----------------------------------------


@pytest.mark.parametrize("backend", list(TRIALS))
def test_a_seed_draws_the_same_case_and_a_forced_kind_replays_the_drawn_one(backend: str) -> None:
    cls = trial_class(backend)
    for seed in range(20):
        drawn = cls(random.Random(seed), None).fault
        assert cls(random.Random(seed), None).fault == drawn
        assert cls(random.Random(seed), drawn.kind).fault == drawn
    assert len({cls(random.Random(seed), None).fault.kind for seed in range(60)}) > 1


def test_the_campaign_spreads_cases_and_the_report_counts_them() -> None:
    seen: list[CaseResult] = []
    results = run_campaign(["drogue-serial", "rainmaker"], 40, cases=4, on_result=seen.append)
    assert seen == results and len(results) == 4
    assert {r.backend for r in results} == {"drogue-serial", "rainmaker"}
    table = markdown(results)
    assert "| drogue-serial | all | " in table.replace("**", "")


class StuckTeardown(Scripted):
    """Succeeds, then its device's teardown blocks the event loop until ``release`` is set
    (an emulator stop that never returns: no timeout inside the case can end it)."""

    backend = "stuck"
    release = threading.Event()
    left: ClassVar[list[bool]] = []

    async def __aexit__(self, *exc: object) -> None:
        self.release.wait(timeout=60)
        self.left.append(True)


def test_a_case_that_never_ends_is_a_hang_row_and_the_campaign_still_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chaos.backends
    import chaos.campaign

    monkeypatch.setattr(chaos.campaign, "CASE_GRACE", 2.0)
    stuck = lambda rng, kind: StuckTeardown(success)  # noqa: E731
    fine = lambda rng, kind: Scripted(success)  # noqa: E731
    monkeypatch.setattr(chaos.backends, "factory", {"stuck": stuck, "scripted": fine}.__getitem__)
    try:
        results = run_campaign(["stuck", "scripted"], 0, cases=4, jobs=2, bound=1.0)
        assert not StuckTeardown.left  # the campaign ended without waiting for them
    finally:
        StuckTeardown.release.set()
    assert len(results) == 4 and {r.backend for r in results} == {"stuck", "scripted"}
    hangs = [r for r in results if r.backend == "stuck"]
    assert all(r.outcome is Outcome.BAD for r in hangs)
    assert all(r.diagnosis.startswith("hang: the case did not end") for r in hangs)
    assert hangs[0].fault == Fault("device:scripted", "scripted")
    assert all(r.outcome is Outcome.VERIFIED for r in results if r.backend == "scripted")


def test_the_command_line_lists_replays_and_writes_json(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--list"]) == 0
    assert "host:cancel" in capsys.readouterr().out
    assert main(["--replay", "drogue-serial:3", "--kind", "host:cancel"]) == 0
    out = tmp_path / "cases.json"
    main(["--cases", "2", "--seed", "5", "--json", str(out), "rainmaker"])
    cases = json.loads(out.read_text())
    assert [case["seed"] for case in cases] == [5, 6]
    assert all(case["outcome"] in {o.value for o in Outcome} for case in cases)
