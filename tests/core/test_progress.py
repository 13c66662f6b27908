from aiodfu.core.progress import Phase, Progress, ProgressTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speed_counts_only_bytes_moved_in_this_session() -> None:
    clock = FakeClock()
    events: list[Progress] = []
    tracker = ProgressTracker(10_000, events.append, clock=clock)
    tracker.restart_at(6_000)  # resumed: the device already had 6000 bytes
    tracker.advance(1_000)
    clock.now += 1.0
    tracker.advance(1_000)
    last = events[-1]
    assert last.done == 8_000
    assert last.phase is Phase.TRANSFERRING
    assert last.average_speed == 2_000.0  # 2000 bytes moved over 1 s, not 8000
    assert last.eta == 1.0  # 2000 left at 2000 B/s
    assert tracker.moved == 2_000


def test_current_speed_uses_recent_window() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(1_000_000, clock=clock, window=2.0)
    tracker.restart_at(0)
    for _ in range(10):  # 1000 B/s for 10 s
        tracker.advance(1_000)
        clock.now += 1.0
    for _ in range(3):  # then 10 kB/s
        tracker.advance(10_000)
        clock.now += 1.0
    snap = tracker.snapshot()
    assert snap.speed is not None and snap.speed > 5_000
    assert snap.average_speed is not None and snap.average_speed < 5_000


def test_no_speed_before_any_byte_moves() -> None:
    tracker = ProgressTracker(100, clock=FakeClock())
    snap = tracker.snapshot()
    assert snap.speed is None and snap.average_speed is None and snap.eta is None
    assert snap.fraction == 0.0


def test_restart_resets_done_and_records_attempt() -> None:
    events: list[Progress] = []
    tracker = ProgressTracker(100, events.append, clock=FakeClock())
    tracker.restart_at(0)
    tracker.advance(50)
    tracker.restart_at(0, attempt=2)
    assert events[-1].done == 0 and events[-1].attempt == 2
    assert tracker.moved == 50


def test_a_result_takes_attempts_bytes_and_time_from_its_tracker() -> None:
    from aiodfu.core.image import FirmwareImage
    from aiodfu.core.session import UpdateResult, Verification, VerificationMethod

    now = [10.0]
    tracker = ProgressTracker(8, clock=lambda: now[0])
    tracker.restart_at(0, attempt=2)
    tracker.advance(8)
    now[0] = 12.5
    verification = Verification(VerificationMethod.DEVICE_CRC, "CRC-16 checked by the device")
    result = UpdateResult.from_tracker(
        FirmwareImage(b"\x00" * 8), tracker, verification=verification, details={"a": "b"}
    )
    assert (result.attempts, result.bytes_moved, result.elapsed) == (2, 8, 2.5)
    assert result.verification.verified and result.details == {"a": "b"}
    assert not Verification.none("no check in the protocol").verified
    assert str(verification) == "device-crc: CRC-16 checked by the device"


def test_no_impossible_first_speed() -> None:
    """The first chunk confirmed a microsecond after the transfer started reports no speed."""
    clock = FakeClock()
    events: list[Progress] = []
    tracker = ProgressTracker(1_000_000, events.append, clock=clock)
    tracker.restart_at(0)
    clock.now += 1e-6
    tracker.advance(4096)
    first = events[-1]
    assert first.speed is None and first.average_speed is None and first.eta is None


def test_the_first_chunk_counts_its_time_as_well_as_its_bytes() -> None:
    """Four 1000-byte chunks at one per 0.25 s measure 4000 B/s, never more than the link."""
    clock = FakeClock()
    events: list[Progress] = []
    tracker = ProgressTracker(100_000, events.append, clock=clock)
    tracker.restart_at(0)
    for _ in range(4):
        clock.now += 0.25
        tracker.advance(1_000)
    last = events[-1]
    assert last.average_speed == 4_000.0
    assert last.speed == 4_000.0
    assert last.eta == 96_000 / 4_000


def test_speed_waits_for_the_settle_time() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(10_000, clock=clock, settle=1.0)
    tracker.restart_at(0)
    clock.now += 0.5
    tracker.advance(500)
    assert tracker.snapshot().average_speed is None
    clock.now += 0.5
    tracker.advance(500)
    assert tracker.snapshot().average_speed == 1_000.0
