"""Run cases and classify them; spread a time budget over backends.

Each case is ``(backend, seed)``: its :class:`~chaos.trial.Trial` draws one
fault from ``random.Random(seed)``, runs ``update()`` through the public API
under a generous hard bound, and the outcome is one of:

* **verified** -- success, ``result.verification.verified``, and the device
  holds exactly the image sent, byte for byte;
* **typed failure** -- a :class:`~aiodfu.core.errors.DfuError` (or, for
  ``host:cancel``, the ``CancelledError`` the caller asked for), after which
  a fresh session with no fault updates the same device, verified, byte for byte;
* **unverifiable** -- success whose result says the image could not be
  verified, on a path where the protocol cannot check it (Drogue, a RainMaker
  image with no integrity of its own and no digest given);
* **BAD** -- anything else: a success claimed verified (or unverified where
  the protocol could check) while the device does not hold the sent image, an
  untyped exception, a hang past the bound, a device a fresh session cannot
  update, an emulator that crashed.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import attrs

from aiodfu.core.errors import DfuError
from aiodfu.core.progress import Progress
from aiodfu.core.session import UpdateResult
from chaos.trial import Fault, Held, Trial

log = logging.getLogger("chaos")

BOUND = 30.0
"""Seconds one session may take before the case is a hang (every backend's scaled timeouts
and retries end far sooner)."""


class Outcome(enum.Enum):
    VERIFIED = "verified"
    TYPED_FAILURE = "typed failure"
    UNVERIFIABLE = "unverifiable"
    BAD = "BAD"


@attrs.frozen
class CaseResult:
    """What one case did; ``diagnosis`` is one line a person can start from."""

    backend: str
    seed: int
    fault: Fault
    outcome: Outcome
    diagnosis: str
    elapsed: float
    fired: tuple[str, ...] = ()
    held: Held | None = None
    """For successes: what the device holds (an unverifiable one may hold different bytes)."""
    forced_kind: str | None = None
    """The fault kind, when the case was run with one forced (the test slice does)."""
    loop_errors: tuple[str, ...] = ()
    """Exceptions nobody retrieved (reported to the event loop's handler): not counted, shown."""

    @property
    def replay(self) -> str:
        forced = f" --kind {self.forced_kind}" if self.forced_kind else ""
        return f"python -m chaos --replay {self.backend}:{self.seed}{forced}"


def _name(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


@attrs.frozen
class _Ended:
    """How one bounded session ended: a result, a typed error, a requested cancel, or BAD."""

    result: UpdateResult | None = None
    error: BaseException | None = None
    bad: str | None = None


async def _bounded(
    update: Callable[[], Coroutine[Any, Any, UpdateResult]],
    bound: float,
    cancel_requested: Callable[[], bool] = lambda: False,
) -> _Ended:
    """Run ``update()`` in a task of its own under ``bound`` and say how it ended.

    The task is separate so a ``CancelledError`` that escapes the library
    (nobody cancelled the task) is told apart from one the caller asked for.
    """
    inner = asyncio.get_running_loop().create_task(update())
    try:
        async with asyncio.timeout(bound):
            await asyncio.wait({inner})
    except TimeoutError:
        inner.cancel()
        done, _ = await asyncio.wait({inner}, timeout=10)
        if not done:
            return _Ended(bad=f"hang: no end within {bound:g} s, nor 10 s after cancelling")
        return _Ended(bad=f"hang: update() did not end within {bound:g} s")
    finally:
        if not inner.done():  # our own task was cancelled (Ctrl-C): take the session down too
            inner.cancel()
    if inner.cancelled():
        if cancel_requested():
            return _Ended(error=asyncio.CancelledError("cancelled by the caller"))
        return _Ended(bad="untyped: a bare CancelledError escaped update() (nobody cancelled it)")
    exc = inner.exception()
    if cancel_requested():
        what = "returned success" if exc is None else f"raised {_name(exc)}"
        return _Ended(bad=f"cancellation swallowed: update() {what} instead of CancelledError")
    if exc is None:
        return _Ended(result=inner.result())
    if isinstance(exc, DfuError):
        return _Ended(error=exc)
    return _Ended(bad=f"untyped: {_name(exc)} ({_where(exc)})")


def _where(exc: BaseException) -> str:
    frames = list(traceback.extract_tb(exc.__traceback__))
    own = [f for f in frames if "/aiodfu/" in f.filename or "/bumble/" in f.filename]
    if not (own or frames):
        return "no traceback"
    frame = (own or frames)[-1]
    return f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}"


def _judge_success(trial: Trial, result: UpdateResult) -> tuple[Outcome, str, Held]:
    held, why = trial.held()
    verification = result.verification
    if held is Held.NOT_APPLIED:
        return Outcome.BAD, f"false success: the device does not run the update ({why})", held
    if verification.verified:
        if held is Held.INTACT:
            return Outcome.VERIFIED, str(verification), held
        return (
            Outcome.BAD,
            f"false success: claimed verified ({verification.method.value}) but {why}",
            held,
        )
    if trial.unverifiable_ok:
        what = "image intact" if held is Held.INTACT else why
        return Outcome.UNVERIFIABLE, f"{what}; the result says: {verification.detail}", held
    what = "" if held is Held.INTACT else f"; {why}"
    return (
        Outcome.BAD,
        f"unverified success: the image could be verified here{what} "
        f"(the result says: {verification.detail})",
        held,
    )


_UNVERIFIABLE_RECOVERY = "unverifiable recovery"


async def _fresh(trial: Trial, bound: float) -> str | None:
    """After a typed failure: None if a fresh session updates the device, else why not.

    :data:`_UNVERIFIABLE_RECOVERY` when the fresh session succeeded on a path that cannot
    verify the image, its result saying so, and the device holds other bytes.
    """
    trial.heal()
    ended = await _bounded(trial.update_fresh, bound)
    if ended.bad is not None:
        return f"stuck device: the fresh session: {ended.bad}"
    if ended.error is not None:
        return f"stuck device: a fresh session failed: {_name(ended.error)}"
    assert ended.result is not None
    held, why = trial.held()
    if held is not Held.INTACT:
        unverified = not ended.result.verification.verified
        if trial.unverifiable_ok and unverified and held is Held.DIFFERENT_BYTES:
            # A protocol that cannot check content (Drogue serial) resumed over a block the
            # failed session left corrupted; the fresh session's result says it is unverified.
            return _UNVERIFIABLE_RECOVERY
        return f"no clean recovery: a fresh session reported success but {why}"
    # Only the device counts here: a fresh session may honestly have had nothing to send
    # (the faulty one finished the update before it failed), so nothing it could verify.
    return None


async def run_case(
    factory: Callable[[random.Random, str | None], Trial],
    seed: int,
    *,
    kind: str | None = None,
    bound: float = BOUND,
    on_trial: Callable[[Trial], None] = lambda trial: None,
) -> CaseResult:
    """Run one case and classify it (see the module docstring).

    ``on_trial`` gets the case's trial as soon as it is drawn (the campaign
    names the fault of a case it has to abandon).
    """
    started = time.monotonic()
    loop_errors: list[str] = []

    def unhandled(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        loop_errors.append(_name(exc) if exc is not None else str(context.get("message")))

    asyncio.get_running_loop().set_exception_handler(unhandled)
    trial = factory(random.Random(seed), kind)
    on_trial(trial)
    cancelled: list[bool] = []
    task: asyncio.Task[UpdateResult] | None = None

    def progress(event: Progress) -> None:
        trial.on_progress(event)
        if trial.cancel_at is not None and event.done >= trial.cancel_at and not cancelled:
            cancelled.append(True)
            assert task is not None
            task.cancel()

    async def faulty_update() -> UpdateResult:
        nonlocal task
        task = asyncio.current_task()
        return await trial.update(progress)

    outcome, diagnosis, held = Outcome.BAD, "", None
    async with trial:
        ended = await _bounded(faulty_update, bound, lambda: bool(cancelled))
        if ended.bad is not None:
            diagnosis = ended.bad
        elif ended.result is not None:
            outcome, diagnosis, held = _judge_success(trial, ended.result)
        else:
            assert ended.error is not None
            stuck = await _fresh(trial, bound)
            if stuck is None:
                outcome, diagnosis = Outcome.TYPED_FAILURE, _name(ended.error)
            elif stuck == _UNVERIFIABLE_RECOVERY:
                outcome = Outcome.UNVERIFIABLE
                diagnosis = (
                    f"{_name(ended.error)}, then a fresh session's unverified success over "
                    "content the protocol cannot check"
                )
            else:
                diagnosis = f"{stuck} (after {_name(ended.error)})"
        fired = tuple(trial.fired())
        crashed = trial.emulator_failures()
    if crashed and outcome is not Outcome.BAD:
        outcome, diagnosis = Outcome.BAD, f"emulator failure: {_name(crashed[0])}"
    return CaseResult(
        backend=trial.backend,
        seed=seed,
        fault=trial.fault,
        outcome=outcome,
        diagnosis=diagnosis,
        elapsed=time.monotonic() - started,
        fired=fired,
        held=held,
        forced_kind=kind,
        loop_errors=tuple(loop_errors),
    )


def run_case_sync(
    factory: Callable[[random.Random, str | None], Trial],
    seed: int,
    *,
    kind: str | None = None,
    bound: float = BOUND,
    on_trial: Callable[[Trial], None] = lambda trial: None,
) -> CaseResult:
    """:func:`run_case` in an event loop of its own (nothing one case leaves behind leaks)."""
    return asyncio.run(run_case(factory, seed, kind=kind, bound=bound, on_trial=on_trial))


CASE_GRACE = 60.0
"""Seconds a whole case may take beyond its two bounded sessions (building the device,
tearing it down) before its thread is abandoned and the case counts as a hang."""


def case_limit(bound: float) -> float:
    """Wall-clock seconds one case may take: the faulty session, a fresh one, and the grace."""
    return 2 * bound + CASE_GRACE


@attrs.define
class _Running:
    """A case running in a thread of its own, as the campaign loop watches it."""

    backend: str
    seed: int
    started: float
    trial: Trial | None = None
    """Published by the worker once it has built the case's device (for the fault's name)."""

    def hang(self, limit: float) -> CaseResult:
        fault = self.trial.fault if self.trial is not None else Fault("unknown", "never drawn")
        return CaseResult(
            backend=self.backend,
            seed=self.seed,
            fault=fault,
            outcome=Outcome.BAD,
            diagnosis=(
                f"hang: the case did not end within {limit:g} s (a session, the device's "
                "teardown or the event loop itself stuck); its thread was abandoned"
            ),
            elapsed=time.monotonic() - self.started,
        )


def run_campaign(
    backends: Sequence[str],
    seed: int,
    *,
    budget: float | None = None,
    cases: int | None = None,
    jobs: int = 1,
    bound: float = BOUND,
    on_result: Callable[[CaseResult], None] = lambda result: None,
) -> list[CaseResult]:
    """Run cases until ``budget`` seconds are used or ``cases`` have run (at least one limit).

    Backend ``b`` runs seeds ``seed``, ``seed + 1``, ... in turn. The next case
    goes to the backend that has used the least time so far, so every backend
    gets about the same share of the budget (fast ones run more cases).
    ``jobs`` cases run at once, each in an event loop and a daemon thread of its
    own. A case still running after :func:`case_limit` seconds is reported as a
    hang and its thread abandoned: whatever a case does -- an emulator that
    swallows its stop, a loop that never yields -- the campaign still ends and
    writes its table.
    """
    if budget is None and cases is None:
        raise ValueError("give a budget, a number of cases, or both")
    from chaos.backends import factory

    factories = {backend: factory(backend) for backend in backends}
    used = dict.fromkeys(backends, 0.0)
    next_seed = dict.fromkeys(backends, seed)
    counted = dict.fromkeys(backends, 0)
    deadline = None if budget is None else time.monotonic() + budget
    limit = case_limit(bound)
    results: list[CaseResult] = []
    running: dict[int, _Running] = {}
    ended: queue.Queue[tuple[int, CaseResult | BaseException]] = queue.Queue()
    started = 0

    def more() -> bool:
        if cases is not None and started >= cases:
            return False
        return deadline is None or time.monotonic() < deadline

    def pick() -> tuple[str, int]:
        # Least time used, counting a running case as the average it has taken so far.
        def load(backend: str) -> float:
            busy = sum(1 for case in running.values() if case.backend == backend)
            average = used[backend] / counted[backend] if counted[backend] else 0.0
            return used[backend] + busy * max(average, 0.1)

        backend = min(backends, key=load)
        case_seed = next_seed[backend]
        next_seed[backend] += 1
        return backend, case_seed

    def start(token: int, backend: str, case_seed: int) -> None:
        case = running[token] = _Running(backend, case_seed, time.monotonic())

        def publish(trial: Trial) -> None:
            case.trial = trial

        def work() -> None:
            try:
                outcome: CaseResult | BaseException = run_case_sync(
                    factories[backend], case_seed, bound=bound, on_trial=publish
                )
            except BaseException as exc:  # a fault in the campaign itself: re-raised below
                outcome = exc
            ended.put((token, outcome))

        name = f"chaos-{backend}-{case_seed}"
        threading.Thread(target=work, name=name, daemon=True).start()

    def finished(token: int, result: CaseResult) -> None:
        case = running.pop(token)
        used[case.backend] += result.elapsed
        counted[case.backend] += 1
        results.append(result)
        on_result(result)

    while True:
        while len(running) < max(jobs, 1) and more():
            backend, case_seed = pick()
            start(started, backend, case_seed)
            started += 1
        if not running:
            return results
        try:
            token, outcome = ended.get(timeout=min(1.0, limit))
        except queue.Empty:
            pass
        else:
            if isinstance(outcome, BaseException):
                raise outcome
            if token in running:  # else it was reported as a hang and ended after all
                finished(token, outcome)
        now = time.monotonic()
        for token, case in list(running.items()):
            if now - case.started > limit:
                finished(token, case.hang(limit))
