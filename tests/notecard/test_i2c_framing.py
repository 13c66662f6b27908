"""Serial-over-I2C pieces on their own: the sans-IO framing, the emulated card's side of it, the
host stream's pacing and errors, and the Linux ``i2c-dev`` bus (its ioctl replaced)."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from aiodfu.cli.runner import describe_error
from aiodfu.core.errors import DfuTimeoutError, LinkLostError, RetriesExhaustedError
from aiodfu.notecard import open_i2c
from aiodfu.notecard.i2c import (
    NotecardI2cStream,
    ReadReply,
    i2c_connector,
    parse_read,
    read_request,
    write_packet,
)
from aiodfu.testing.i2c import EmulatedI2cBus, I2cBusModel, I2cFaults
from aiodfu.testing.notecard import NotecardEmulator, NotecardI2cTarget, notecard_i2c_bus
from aiodfu.transports import i2c as linux
from aiodfu.transports.i2c import (
    I2cAccessError,
    I2cBusMissingError,
    I2cNackError,
    I2cShortReadError,
    LinuxI2cBus,
)

from .conftest import FAST_PACING, FAST_RETRY, FAST_TIMEOUTS


def test_packets_and_reads_follow_the_reference() -> None:
    assert write_packet(b'{"req":"dfu.status"}\n') == b'\x15{"req":"dfu.status"}\n'
    assert read_request(0) == b"\x00\x00" and read_request(253) == b"\x00\xfd"
    assert parse_read(b"\x07\x03abc\x00\x00", 5) == ReadReply(available=7, data=b"abc")
    assert parse_read(b"\x00\x00", 0) == ReadReply(available=0, data=b"")
    with pytest.raises(ValueError, match=r"1\.\.255 bytes"):
        write_packet(b"x" * 256)
    with pytest.raises(ValueError, match=r"0\.\.255 bytes"):
        read_request(256)


@pytest.mark.parametrize(
    ("raw", "requested"),
    [(b"\x05", 4), (b"\x00\x05abc", 5), (b"\x00\x06abcdefgh", 5)],
    ids=["no header", "fewer bytes than announced", "more announced than asked"],
)
def test_inconsistent_reads_are_short_read_errors(raw: bytes, requested: int) -> None:
    with pytest.raises(I2cShortReadError) as info:
        parse_read(raw, requested)
    assert info.value.transient


async def test_the_card_announces_one_line_at_a_time(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    target = NotecardI2cTarget(card, max_transfer=4)
    target.port.outbox += b'{"a":1}\r\nFRAME\n'
    target.receive(read_request(0))
    assert target.respond(2) == b"\x09\x00"  # 9 bytes up to the end of the line
    target.receive(read_request(9))
    assert target.respond(11) == b'\x05\x04{"a"' + b"\0" * 5  # the card's maximum is 4
    target.receive(read_request(5))
    assert target.respond(7) == b"\x01\x04:1}\r\x00"
    assert target.respond(7) == b"\x00\x01\n" + b"\0" * 4  # the line ended: nothing announced
    target.receive(read_request(0))
    assert target.respond(2) == b"\x06\x00"  # now the frame
    with pytest.raises(I2cNackError):
        target.receive(write_packet(b"12345"))  # does not fit the card's buffer


async def test_bus_time_faults_and_absent_addresses(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    faults = I2cFaults(nacks={1}, short_reads={2}, stretches={3: 0.01})
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=100_000), faults=faults)
    assert await bus.transfer(0x17, read_request(0), 2) == b"\x00\x00"
    with pytest.raises(I2cNackError):
        await bus.transfer(0x17, read_request(0), 2)
    with pytest.raises(I2cShortReadError):
        await bus.transfer(0x17, read_request(0), 2)
    await bus.transfer(0x17, read_request(0), 2)
    with pytest.raises(I2cNackError):
        await bus.transfer(0x42, b"\x01\n")
    assert [(f.at, f.kind) for f in faults.fired] == [
        (1, "nack"),
        (2, "short read"),
        (3, "stretch"),
    ]
    assert bus.transfers == 5
    # 3 transfers of 2 + 2 bytes (two messages: 6 bytes, 2 starts, a stop): 57 clocks each;
    # 2 unacknowledged addresses: 11 each; and the stretch
    assert bus.busy_time == pytest.approx((3 * 57 + 2 * 11) / 100_000 + 0.01)
    assert I2cBusModel(clock_hz=400_000).limit() == pytest.approx(400_000 / 9)


async def test_the_stream_splits_writes_and_polls_for_answers(aiodfu_emulators) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    bus = notecard_i2c_bus(card, model=I2cBusModel(clock_hz=None))
    stream = NotecardI2cStream(bus, max_transfer=30, pacing=FAST_PACING, owns_bus=False)
    request = b'{"req":"card.dfu","name":"stm32","on":true}\n'
    await stream.write(request)
    assert stream.transfers == 2  # 44 bytes in transfers of at most 30
    answer = b""
    while not answer.endswith(b"\n"):
        answer += await stream.read()
    assert answer == b'{"name":"stm32","on":true}\r\n'
    assert card.card_dfu == {"name": "stm32", "on": True}
    await stream.aclose()
    with pytest.raises(LinkLostError):
        await stream.read()


async def test_a_nack_waits_then_raises_and_a_stretch_past_the_timeout_times_out(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    faults = I2cFaults(nacks={0}, stretches={1: 1.0})
    bus = notecard_i2c_bus(card, faults=faults)
    stream = NotecardI2cStream(bus, pacing=FAST_PACING, transfer_timeout=0.05, owns_bus=False)
    with pytest.raises(I2cNackError) as nack:
        await stream.write(b"\n")
    assert nack.value.operation == "I2C write" and nack.value.transient
    with pytest.raises(DfuTimeoutError):
        await stream.write(b"\n")
    await stream.write(b"\n")  # the card answers the third, as a healthy card does
    assert await stream.read() == b"\r\n"


async def test_the_connector_shares_a_bus_object_and_owns_what_a_factory_opens(
    aiodfu_emulators,
) -> None:  # type: ignore[no-untyped-def]
    card = aiodfu_emulators(NotecardEmulator())
    bus = notecard_i2c_bus(card)
    shared = await i2c_connector(bus)()
    made = await i2c_connector(lambda: EmulatedI2cBus())()
    assert shared.bus is bus and not shared.owns_bus
    assert isinstance(made.bus, EmulatedI2cBus) and made.owns_bus
    with pytest.raises(I2cNackError):  # nobody at 0x17 on the empty bus
        await made.bus.transfer(0x17, b"\x00\x00", 2)


# --- Linux i2c-dev --------------------------------------------------------------------------------


class FakeAdapter:
    """Stands in for the kernel: records ioctls, answers I2C_RDWR from ``answer``."""

    def __init__(self, answer: bytes = b"", error: int | None = None, done: int | None = None):
        self.answer = answer
        self.error = error
        self.done = done
        self.calls: list[tuple[int, int]] = []
        self.messages: list[tuple[int, int, bytes | int]] = []

    def __call__(self, fd: int, request: int, arg: int) -> int:
        self.calls.append((request, arg if request != linux._I2C_RDWR else -1))
        if request != linux._I2C_RDWR:
            return 0
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error))
        data = linux._RdwrData.from_address(arg)
        for index in range(data.nmsgs):
            message = data.msgs[index]
            if message.flags & linux._I2C_M_RD:
                ctypes.memmove(message.buf, self.answer, min(len(self.answer), message.len))
                self.messages.append((message.addr, message.flags, message.len))
            else:
                self.messages.append(
                    (message.addr, message.flags, bytes(message.buf[: message.len]))
                )
        return data.nmsgs if self.done is None else self.done


@pytest.fixture
def node(tmp_path: Path) -> str:
    path = tmp_path / "i2c-1"
    path.write_bytes(b"")
    return str(path)


async def test_linux_bus_sends_one_combined_rdwr_transfer(
    monkeypatch: pytest.MonkeyPatch, node: str
) -> None:
    adapter = FakeAdapter(answer=b"\x00\x03{}\n")
    monkeypatch.setattr(linux, "_ioctl", adapter)
    bus = LinuxI2cBus(node, timeout=0.25)
    assert adapter.calls[:2] == [(linux._I2C_RETRIES, 0), (linux._I2C_TIMEOUT, 25)]
    assert await bus.transfer(0x17, b"\x00\x03", 5) == b"\x00\x03{}\n"
    assert adapter.messages == [(0x17, 0, b"\x00\x03"), (0x17, linux._I2C_M_RD, 5)]
    await bus.transfer(0x17, b"\x02\r\n")
    assert adapter.messages[-1] == (0x17, 0, b"\x02\r\n")
    await bus.aclose()
    with pytest.raises(LinkLostError, match="closed"):
        await bus.transfer(0x17, b"\x01\n")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EREMOTEIO, I2cNackError),
        (errno.ENXIO, I2cNackError),
        (errno.ETIMEDOUT, DfuTimeoutError),
        (errno.ENODEV, LinkLostError),
    ],
)
async def test_linux_bus_errors_are_typed(
    monkeypatch: pytest.MonkeyPatch, node: str, code: int, expected: type[Exception]
) -> None:
    monkeypatch.setattr(linux, "_ioctl", FakeAdapter(error=code))
    bus = LinuxI2cBus(node)
    with pytest.raises(expected) as info:
        await bus.transfer(0x17, b"\x00\x00", 2)
    assert "0x17" in str(info.value)
    await bus.aclose()


async def test_linux_bus_short_transfer_and_bad_nodes(
    monkeypatch: pytest.MonkeyPatch, node: str, tmp_path: Path
) -> None:
    monkeypatch.setattr(linux, "_ioctl", FakeAdapter(done=1))
    bus = LinuxI2cBus(node)
    with pytest.raises(I2cShortReadError):
        await bus.transfer(0x17, b"\x00\x00", 2)
    await bus.aclose()
    with pytest.raises(LinkLostError, match="modprobe i2c-dev"):
        LinuxI2cBus(str(tmp_path / "missing"))
    monkeypatch.undo()
    with pytest.raises(LinkLostError, match="not an I2C adapter"):
        LinuxI2cBus(node)  # a plain file: the ioctls fail with ENOTTY

    def forbidden(path: str, flags: int) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(linux.os, "open", forbidden)
    with pytest.raises(I2cAccessError, match="usermod -aG i2c") as info:
        LinuxI2cBus(node)
    assert not info.value.transient and isinstance(info.value, PermissionError)


async def test_open_i2c_on_a_missing_or_forbidden_bus_fails_typed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = open_i2c(str(tmp_path / "i2c-9"), retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
    with pytest.raises(RetriesExhaustedError) as exhausted:
        async with missing:
            pass
    assert isinstance(exhausted.value, ConnectionError)  # retried: the bus may come up
    assert "modprobe i2c-dev" in str(exhausted.value.__cause__)

    def forbidden(path: str, flags: int) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(linux.os, "open", forbidden)
    with pytest.raises(I2cAccessError):  # not retried: only the user can fix it
        async with open_i2c("/dev/i2c-1", retry=FAST_RETRY, timeouts=FAST_TIMEOUTS):
            pass


async def test_a_missing_bus_gets_the_i2c_hint_not_the_serial_ports_one(tmp_path: Path) -> None:
    missing = open_i2c(str(tmp_path / "i2c-9"), retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
    with pytest.raises(RetriesExhaustedError) as exhausted:
        async with missing:
            pass
    assert isinstance(exhausted.value.__cause__, I2cBusMissingError)
    report = describe_error(exhausted.value)
    assert report.hint is not None and "ls /dev/i2c-*" in report.hint
    assert "aiodfu ports" not in report.hint
