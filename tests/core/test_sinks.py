"""Pull sinks: bytes in order, truncation for resumes, read-back, hand-over, and nothing left on
failure -- the same contract in memory and in a file."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from aiodfu.core.image import FirmwareImage
from aiodfu.core.pull import (
    BLOCK_SIZE,
    FileSink,
    MemorySink,
    PulledFile,
    PulledImage,
    PullSink,
    PullSinkError,
    filling,
    read_blocks,
)
from aiodfu.testing.images import random_firmware

DATA = random_firmware(3 * BLOCK_SIZE + 123, seed=7)

SinkFactory = Callable[[Path], PullSink[PulledImage]]
SINKS: dict[str, SinkFactory] = {
    "memory": lambda tmp: MemorySink(),
    "file": lambda tmp: FileSink(tmp / "image.bin"),
}


@pytest.fixture(params=sorted(SINKS))
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> PullSink[PulledImage]:
    return SINKS[request.param](tmp_path)


def fill(sink: PullSink[PulledImage], data: bytes, piece: int = 1000) -> None:
    for offset in range(0, len(data), piece):
        sink.write(offset, data[offset : offset + piece])


def failed_pull(sink: PullSink[PulledImage], data: bytes = b"", *, hand_over: bool = False) -> None:
    """A pull that stores ``data`` (and hands it over), then fails."""
    with filling(sink):
        fill(sink, data)
        if hand_over:
            sink.image(source=None)  # then verification or install fails
        raise RuntimeError("the pull failed")


def test_bytes_written_in_order_are_read_back_and_handed_over(
    sink: PullSink[PulledImage],
) -> None:
    fill(sink, DATA)
    assert len(sink) == len(DATA)
    assert sink.read(BLOCK_SIZE - 5, 10) == DATA[BLOCK_SIZE - 5 : BLOCK_SIZE + 5]
    assert sink.read(len(DATA) - 3, 100) == DATA[-3:]  # short at the end
    assert b"".join(read_blocks(sink)) == DATA
    assert all(len(block) <= BLOCK_SIZE for block in read_blocks(sink))
    image = sink.image(source="test", details={"v": 1})
    assert len(image) == len(DATA) and image.sha256 == hashlib.sha256(DATA).digest()
    assert image.data == DATA and image.source == "test"
    assert len(sink) == 0  # a sink starts empty again after the hand-over


def test_a_resume_truncates_and_continues_where_it_says(sink: PullSink[PulledImage]) -> None:
    fill(sink, DATA[:50_000])
    sink.truncate(40_000)  # the device continues at its last verified offset
    assert len(sink) == 40_000
    sink.write(40_000, DATA[40_000:])
    assert b"".join(read_blocks(sink)) == DATA
    sink.truncate(0)  # a clean restart
    fill(sink, DATA[:10])
    assert sink.image(source=None).data == DATA[:10]


@pytest.mark.parametrize("offset", [0, 999, 1001])
def test_a_write_out_of_order_is_refused(sink: PullSink[PulledImage], offset: int) -> None:
    sink.write(0, b"x" * 1000)
    with pytest.raises(PullSinkError, match="in order"):
        sink.write(offset, b"y")
    with pytest.raises(PullSinkError, match="truncate"):
        sink.truncate(1001)
    assert sink.read(0, 2000) == b"x" * 1000


def test_a_file_sink_hands_over_a_file_that_reads_in_blocks(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "image.bin")
    fill(sink, DATA)
    pulled = sink.image(source="card", details="info")
    assert isinstance(pulled, PulledFile)
    assert pulled.path == tmp_path / "image.bin" and os.fspath(pulled) == str(pulled.path)
    assert pulled.path.read_bytes() == DATA and len(pulled) == len(DATA)
    assert pulled.sha256 == hashlib.sha256(DATA).digest()
    blocks = list(pulled.blocks(size=4096))
    assert b"".join(blocks) == DATA and max(map(len, blocks)) == 4096
    assert pulled.read(10, 20) == DATA[10:30] and pulled.read(len(DATA) - 1, 9) == DATA[-1:]


def test_a_pulled_file_changed_afterwards_is_a_typed_error(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "image.bin")
    fill(sink, DATA)
    pulled = sink.image(source=None)
    pulled.path.write_bytes(DATA[:100])
    with pytest.raises(PullSinkError, match="changed after the pull"):
        _ = pulled.data


def test_a_file_sink_that_cannot_write_raises_a_typed_error(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "missing" / "image.bin")
    with pytest.raises(PullSinkError) as info:
        sink.write(0, b"data")
    assert isinstance(info.value, OSError) and isinstance(info.value.__cause__, OSError)
    assert "could not create" in str(info.value) and not info.value.transient


@pytest.mark.parametrize("when", ["while filling", "after the hand-over"])
def test_a_failed_pull_leaves_no_file(tmp_path: Path, when: str) -> None:
    sink = FileSink(tmp_path / "image.bin")
    with pytest.raises(RuntimeError):
        failed_pull(sink, DATA[:5000], hand_over=when == "after the hand-over")
    assert not (tmp_path / "image.bin").exists()


async def test_a_cancelled_pull_leaves_no_file(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "image.bin")

    async def pull() -> None:
        with filling(sink):
            fill(sink, DATA[:5000])
            await asyncio.sleep(10)

    task = asyncio.ensure_future(pull())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (tmp_path / "image.bin").exists()


def test_a_failed_pull_keeps_a_file_it_never_wrote(tmp_path: Path) -> None:
    """An earlier good image at the path stays when the next pull fails before its first byte."""
    path = tmp_path / "image.bin"
    path.write_bytes(b"a good image from before")
    sink = FileSink(path)
    with pytest.raises(RuntimeError):
        failed_pull(sink)  # no image ready
    assert path.read_bytes() == b"a good image from before"

    with filling(sink):  # a good pull, then a failing one through the same sink
        fill(sink, DATA[:100])
        sink.image(source=None)
    with pytest.raises(RuntimeError):
        failed_pull(sink)
    assert path.read_bytes() == DATA[:100]


def test_a_memory_sink_is_emptied_by_a_failed_pull() -> None:
    sink = MemorySink()
    with pytest.raises(RuntimeError):
        failed_pull(sink, DATA)
    assert len(sink) == 0 and sink.read(0, 10) == b""


def test_a_memory_sink_hands_over_a_firmware_image() -> None:
    sink = MemorySink()
    fill(sink, DATA)
    image = sink.image(source="job 1", details=None)
    assert isinstance(image, FirmwareImage) and image == FirmwareImage(DATA)


def test_a_pulled_file_reads_nothing_past_its_end(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "image.bin")
    fill(sink, DATA[:100])
    pulled = sink.image(source=None)
    assert pulled.read(100, 10) == b"" and pulled.read(50, 0) == b""
    assert list(pulled.blocks(100)) == []
