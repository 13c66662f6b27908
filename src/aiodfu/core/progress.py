"""Progress events and the tracker that produces them.

Speeds are computed only from bytes moved *in this session*: when a transfer
resumes at a device-reported offset, the bytes the device already had count
towards ``done`` but not towards the speed, so a resume never reports an
impossible rate and the ETA stays honest.

Time is measured from when the transfer (re)started, not from the first chunk
the device confirmed -- otherwise the first chunk's bytes would count without
the time they took, and the first event would report a speed of gigabytes per
second. No speed (and no ETA) is reported until ``settle`` seconds have been
measured: before that there is nothing honest to say.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

import attrs


class Phase(enum.Enum):
    """Where an update is. Backends use the subset that applies to them."""

    CONNECTING = "connecting"
    PREPARING = "preparing"
    TRANSFERRING = "transferring"
    RECOVERING = "recovering"
    APPLYING = "applying"
    ACTIVATING = "activating"
    VERIFYING = "verifying"
    DONE = "done"


@attrs.frozen
class Progress:
    """One progress report.

    ``speed`` is the rate over the last couple of seconds, ``average_speed``
    the rate since the transfer started in this session; both in bytes per
    second, and ``None`` until enough time has passed to measure one. ``eta``
    is in seconds.
    """

    phase: Phase
    done: int
    total: int
    speed: float | None = None
    average_speed: float | None = None
    eta: float | None = None
    attempt: int = 1
    message: str | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Turns byte counts into :class:`Progress` events for one update.

    ``clock`` is injectable so tests can drive time; the window for the
    current speed is a few samples over ``window`` seconds, and no speed is
    reported before ``settle`` seconds of transfer have been measured.
    """

    def __init__(
        self,
        total: int,
        callback: ProgressCallback | None = None,
        *,
        window: float = 2.0,
        settle: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self._callback = callback
        self._window = window
        self._settle = settle
        self._clock = clock
        self.phase = Phase.CONNECTING
        self.done = 0
        self.attempt = 1
        self._moved = 0
        self.started = clock()
        """When the update began (the clock's reading): a result's ``elapsed`` counts from here."""
        self._first_move_at: float | None = None
        self._samples: deque[tuple[float, int]] = deque()

    @property
    def moved(self) -> int:
        """Bytes moved over the link in this session, across all attempts."""
        return self._moved

    @property
    def elapsed(self) -> float:
        """Seconds since the tracker was made, by its clock."""
        return self._clock() - self.started

    def set_phase(self, phase: Phase, message: str | None = None) -> None:
        self.phase = phase
        self._emit(message)

    def restart_at(self, offset: int, *, attempt: int | None = None) -> None:
        """Continue from ``offset`` (0 for a restart, the device's offset for a resume)."""
        now = self._clock()
        self.done = offset
        if attempt is not None:
            self.attempt = attempt
        self.phase = Phase.TRANSFERRING
        if self._first_move_at is None:
            self._first_move_at = now  # the first chunk's time counts, not only its bytes
        self._samples.clear()
        self._samples.append((now, self._moved))
        self._emit(None)

    def advance(self, count: int) -> None:
        now = self._clock()
        if self._first_move_at is None:  # a backend that moves bytes without restart_at
            self._first_move_at = now
            self._samples.append((now, self._moved))
        self._moved += count
        self.done += count
        self._samples.append((now, self._moved))
        while len(self._samples) > 2 and now - self._samples[1][0] > self._window:
            self._samples.popleft()
        self._emit(None)

    def snapshot(self, message: str | None = None) -> Progress:
        now = self._clock()
        speed = average = eta = None
        if self._first_move_at is not None and now - self._first_move_at >= self._settle:
            average = self._moved / (now - self._first_move_at)
        if len(self._samples) >= 2:
            (t0, m0), (t1, m1) = self._samples[0], self._samples[-1]
            if t1 - t0 >= self._settle:
                speed = (m1 - m0) / (t1 - t0)
        rate = speed or average
        if rate:
            eta = max(self.total - self.done, 0) / rate
        return Progress(
            phase=self.phase,
            done=self.done,
            total=self.total,
            speed=speed,
            average_speed=average,
            eta=eta,
            attempt=self.attempt,
            message=message,
        )

    def _emit(self, message: str | None) -> None:
        if self._callback is not None:
            self._callback(self.snapshot(message))


def labelled(callback: ProgressCallback | None, label: str) -> ProgressCallback | None:
    """``callback``, with ``label`` as the message of every event that has none.

    Multi-part updates (an nRF5 SoftDevice, then a bootloader, then an
    application) report each part's progress under the part's name.
    """
    if callback is None:
        return None

    def report(progress: Progress) -> None:
        callback(progress if progress.message else attrs.evolve(progress, message=label))

    return report
