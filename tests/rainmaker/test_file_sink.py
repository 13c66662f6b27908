"""``session.update(sink=FileSink(path))``: the download streams to a file; a ``Range`` resume
truncates the file to where it continues and a clean restart to zero; the image is verified by
reading the file back, never held whole; a corrupted download is never installed and leaves no
file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs
import pytest

from aiodfu.core.errors import ImageIntegrityError
from aiodfu.core.pull import FileSink, MemorySink, PulledFile, PulledImage, PullSink
from aiodfu.testing.images import build_mcuboot_image
from aiodfu.testing.rainmaker import FirmwareServer, HttpFaults, RainMakerEmulator

from ..core.host_memory import HostMemory
from .conftest import FAST_TIMEOUTS, IMAGE, firmware, offer, session_for

JOB = "cpuJraj3cxmAXuw8ER2GAe"


async def pull_to_file(
    module: RainMakerEmulator, path: Path, **options: object
) -> tuple[list[PulledFile], object]:
    installed: list[PulledFile] = []
    async with session_for(module.connect) as session:
        result = await session.update(install=installed.append, sink=FileSink(path), **options)  # type: ignore[arg-type]
    return installed, result


async def test_the_download_streams_to_a_file_and_install_gets_the_file(
    module: RainMakerEmulator, server: FirmwareServer, tmp_path: Path
) -> None:
    job = offer(module, server)
    path = tmp_path / "host.bin"
    installed, result = await pull_to_file(module, path)
    assert path.read_bytes() == IMAGE
    assert installed == [result.image]  # type: ignore[attr-defined]
    assert installed[0].path == path and installed[0].sha256 == hashlib.sha256(IMAGE).digest()
    assert result.details["path"] == str(path) and result.details["job"] == job.job_id  # type: ignore[attr-defined]
    assert module.job_status[job.job_id] == "success"


@pytest.mark.parametrize("honour_range", [True, False])
async def test_a_resume_truncates_the_file_to_where_the_download_continues(
    module: RainMakerEmulator, server: FirmwareServer, tmp_path: Path, honour_range: bool
) -> None:
    """A mid-stream ERROR: the next request asks for the rest with ``Range`` (the overlap read
    back from the file proves the server honoured it); a server that ignores it sends the
    whole body, and the download restarts from byte 0 -- either way the file is the image."""
    server.faults = HttpFaults(honour_range=honour_range)
    offer(module, server)
    module.faults.error_after_chunks = 5
    installed, result = await pull_to_file(module, tmp_path / "host.bin")
    assert (tmp_path / "host.bin").read_bytes() == IMAGE
    assert [image.data for image in installed] == [IMAGE]
    ranges = [request.headers.get("range") for request in server.requests]
    assert ranges[0] is None and ranges[1] is not None and int(ranges[1][6:-1]) > 0
    if honour_range:
        assert len(ranges) == 2 and result.details["resumes"] == "1"  # type: ignore[attr-defined]
    else:
        assert ranges[-1] is None  # detected, then a clean restart


async def test_a_corrupted_download_is_never_installed_and_leaves_no_file(
    module: RainMakerEmulator, server: FirmwareServer, tmp_path: Path
) -> None:
    offer(module, server)
    server.faults.corrupt_at = 20_000  # one response, one inverted byte
    path = tmp_path / "host.bin"
    with pytest.raises(ImageIntegrityError):
        await pull_to_file(module, path, expected_sha256=hashlib.sha256(IMAGE).digest())
    assert not path.exists()
    assert module.job_status[JOB] == "failed" and module.stored_url is None
    installed, _ = await pull_to_file(  # a fresh session, the same file: verified success
        module, path, expected_sha256=hashlib.sha256(IMAGE).digest()
    )
    assert path.read_bytes() == IMAGE and len(installed) == 1
    assert module.job_status[JOB] == "success"


async def test_a_corrupted_mcuboot_image_is_refused_by_its_own_hash_from_the_file(
    module: RainMakerEmulator, server: FirmwareServer, tmp_path: Path
) -> None:
    image = build_mcuboot_image(firmware(30_000, seed=4))
    offer(module, server, image=image)
    server.faults.corrupt_at = 12_000
    with pytest.raises(ImageIntegrityError, match="MCUboot SHA-256"):
        await pull_to_file(module, tmp_path / "host.bin")
    assert not (tmp_path / "host.bin").exists()
    assert "verification failed" in module.results[-1].info


@pytest.mark.parametrize("into_file", [True, False])
async def test_a_file_pull_never_holds_the_image_whole(
    server: FirmwareServer, tmp_path: Path, into_file: bool
) -> None:
    """A 1 MiB image -- 16 times the read-back block, about 100 times the module's receive
    buffer -- downloaded into a file and installed block by block: the session holds a small
    fraction of it, and no whole copy appears even briefly while it is verified and installed
    (see HostMemory). Downloaded into memory, both show the whole image."""
    image = build_mcuboot_image(firmware(1024 * 1024, seed=5))
    memory = HostMemory()
    sink: PullSink[PulledImage] = FileSink(tmp_path / "host.bin") if into_file else MemorySink()
    async with RainMakerEmulator(seed=7) as module:
        offer(module, server, image=image)
        slow = attrs.evolve(FAST_TIMEOUTS, first_chunk=30.0, chunk_gap=30.0)  # under tracemalloc
        async with session_for(module.connect, timeouts=slow) as session:
            with memory:
                result = await session.update(
                    install=memory.install,
                    sink=sink,
                    progress=memory.progress,
                    require_verified=True,
                )
    assert "MCUboot SHA-256" in result.verification.detail
    memory.check(image, into_file=into_file)
