"""The device (the request client and its link) against the emulated card: CRC, retries,
heartbeats, resync, bounds."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from aiodfu.core.errors import DfuTimeoutError, RetriesExhaustedError
from aiodfu.notecard import (
    CorruptResponseError,
    NotecardDevice,
    NotecardIoError,
    NotecardRequestError,
    RequestNotSupportedError,
    ResyncFailedError,
)
from aiodfu.notecard.protocol import encode_json, stamp_crc
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults
from aiodfu.transports.base import ByteStream

from .conftest import FAST_RETRY, FAST_TIMEOUTS, IMAGE


def client_for(emulator: NotecardEmulator, **options: object) -> NotecardDevice:
    options.setdefault("timeouts", FAST_TIMEOUTS)
    options.setdefault("retry", FAST_RETRY)
    return NotecardDevice(emulator.connect, **options)  # type: ignore[arg-type]


async def test_transactions_carry_a_crc_and_one_sequence_number_each(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    client = client_for(card)
    await client.connect()
    first = await client.transaction({"req": "dfu.status"})
    second = await client.transaction({"req": "card.version"})
    await client.aclose()
    assert first["mode"] == "ready" and first["body"]["length"] == len(IMAGE)
    assert second["version"] == "notecard-9.1.1"
    assert client.sequence == 2 and client.card_sends_crc
    assert card.crc_errors == 0 and len(card.requests) == 2


@pytest.mark.parametrize(
    "fault",
    [
        "corrupted_responses",
        "truncated_responses",
        "wrong_sequence",
        "io_errors",
        "silent_requests",
    ],
)
async def test_a_bad_first_answer_is_retried_with_the_same_request(
    aiodfu_emulators, fault: str
) -> None:  # type: ignore[no-untyped-def]
    faults = attrs.evolve(NotecardFaults(), **{fault: {0}})
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=faults))
    client = client_for(card)
    await client.connect()
    response = await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert response["mode"] == "ready"
    assert [r["req"] for r in card.requests] == ["dfu.status", "dfu.status"]
    assert client.sequence == 1  # retries reuse the sequence number


async def test_persistent_io_errors_give_up_typed_after_six_attempts(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(faults=NotecardFaults(io_errors=set(range(100)))))
    client = client_for(card)
    await client.connect()
    with pytest.raises(NotecardIoError) as info:
        await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert len(card.requests) == 6
    assert info.value.operation == "dfu.status" and "{io}" in str(info.value.status)


async def test_unknown_request_is_not_retried(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    client = client_for(card)
    await client.connect()
    with pytest.raises(RequestNotSupportedError):
        await client.transaction({"req": "card.teleport"})
    with pytest.raises(NotecardRequestError) as info:
        await client.transaction({"req": "hub.set", "mode": "warp"})
    await client.aclose()
    assert len(card.requests) == 2
    assert "unknown mode" in str(info.value)


async def test_heartbeats_restart_the_wait_and_never_resend(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    faults = NotecardFaults(heartbeats=4, heartbeat_interval=0.3)  # 1.2 s > first_byte 0.5 s
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=faults))
    client = client_for(card)
    await client.connect()
    response = await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert response["mode"] == "ready"
    assert len(card.requests) == 1


async def test_a_heartbeat_flood_ends_typed_at_the_transaction_cap(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    faults = NotecardFaults(heartbeat_flood=True, heartbeat_interval=0.01)
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=faults))
    timeouts = attrs.evolve(FAST_TIMEOUTS, transaction=0.2)
    client = NotecardDevice(card.connect, timeouts=timeouts, attempts=2)
    await client.connect()
    with pytest.raises(DfuTimeoutError) as info:
        await asyncio.wait_for(client.transaction({"req": "dfu.status"}), 10)
    card.faults.heartbeat_flood = False
    await client.aclose()
    assert info.value.operation in ("dfu.status", "reset")  # the retry's resync drowns too


async def test_a_silent_card_fails_the_resync_typed(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(faults=NotecardFaults(silent=True)))
    client = client_for(card)
    await client.reopen()
    with pytest.raises(ResyncFailedError) as info:
        await asyncio.wait_for(client.handshake(), 10)
    with pytest.raises(RetriesExhaustedError) as exhausted:  # connect() retries it, then gives up
        await asyncio.wait_for(client.connect(), 10)
    await client.aclose()
    assert info.value.operation == "reset" and info.value.transient
    assert isinstance(exhausted.value, ConnectionError)
    assert isinstance(exhausted.value.__cause__, ResyncFailedError)


async def test_resync_drains_the_tail_of_an_old_response(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    stream = card.connect()
    await stream.write(b'{"req":"dfu.get","length":4096}\n')  # nobody reads this reply
    client = NotecardDevice(lambda: stream, timeouts=FAST_TIMEOUTS)
    await client.connect()
    response = await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert response["mode"] == "ready"


async def test_a_long_request_in_paused_segments_survives_the_1500_byte_buffer(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(rx_idle_gap=0.005))
    version = {"org": "x" * 1800, "version": "1.2.4", "ver_major": 1}
    client = client_for(card)
    await client.connect()
    await client.transaction({"req": "dfu.status", "version": version})
    await client.aclose()
    assert card.reported_version == version
    assert card.dropped_bytes == 0


async def test_a_long_request_without_pauses_is_corrupted_by_the_card(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(rx_idle_gap=0.005))
    client = client_for(card, segment_size=8192)
    await client.connect()
    with pytest.raises(NotecardIoError):
        await client.transaction({"req": "dfu.status", "version": {"org": "x" * 1800}})
    await client.aclose()
    assert card.dropped_bytes > 0
    assert card.reported_version is None


async def test_responses_are_bounded(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    client = client_for(card, max_response=1000, attempts=2)
    await client.connect()
    with pytest.raises(CorruptResponseError, match=r"exceeds|without a newline"):
        await client.transaction({"req": "dfu.get", "offset": 0, "length": 4096})
    await client.aclose()


async def test_old_firmware_without_crc(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, crc=False))
    client = client_for(card)
    await client.connect()
    response = await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert response["mode"] == "ready" and not client.card_sends_crc


async def test_commands_get_no_answer(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    client = client_for(card)
    await client.connect()
    await client.command({"cmd": "hub.set", "mode": "continuous"})
    response = await client.transaction({"req": "dfu.status"})
    await client.aclose()
    assert card.hub_mode == "continuous" and response["mode"] == "ready"


async def test_once_the_card_sent_a_crc_a_reply_without_one_is_corrupt(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE))
    client = client_for(card, attempts=2)
    await client.connect()
    await client.transaction({"req": "dfu.status"})
    card.crc = False  # now it answers like old firmware: no field
    with pytest.raises(CorruptResponseError, match="CRC"):
        await client.transaction({"req": "dfu.status"})
    await client.aclose()


class RecordingStream:
    """Wraps a stream and records the size of every write."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.writes: list[int] = []

    async def read(self, max_bytes: int = 65536) -> bytes:
        return await self.stream.read(max_bytes)

    async def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        await self.stream.write(data)

    async def aclose(self) -> None:
        await self.stream.aclose()

    @property
    def closed(self) -> bool:
        return self.stream.closed


async def test_requests_are_written_in_segments_of_at_most_250_bytes(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    recorder = RecordingStream(card.connect())
    client = NotecardDevice(lambda: recorder, timeouts=FAST_TIMEOUTS)
    await client.connect()
    recorder.writes.clear()
    request = {"req": "dfu.status", "version": "v" * 560}
    await client.transaction(request)
    await client.aclose()
    line = len(stamp_crc(encode_json(request), 0)) + 1
    assert recorder.writes == [250, 250, line - 500]
    assert card.reported_version == "v" * 560


@pytest.mark.parametrize("fault", ["wrong_sequence", "corrupted_responses"])
async def test_an_error_reply_for_another_request_is_not_taken_for_ours(
    aiodfu_emulators, fault: str
) -> None:  # type: ignore[no-untyped-def]
    """Error replies carry the request's CRC too: a stale or garbled one is retried, not raised."""
    faults = attrs.evolve(NotecardFaults(), **{fault: {0}})
    card = aiodfu_emulators(NotecardEmulator(image=IMAGE, faults=faults))
    client = client_for(card)
    await client.connect()
    with pytest.raises(NotecardRequestError, match="refused") as info:
        await client.transaction({"req": "hub.set", "mode": "sometimes"})
    await client.aclose()
    assert "unknown mode" in str(info.value.status)
    assert [r["req"] for r in card.requests] == ["hub.set", "hub.set"]  # asked again
