"""The pull engine: nothing is installed before it is verified, and the device hears the outcome."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest

from aiodfu.core.errors import ImageIntegrityError, InstallFailedError, UsageError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressTracker
from aiodfu.core.pull import (
    FileSink,
    MemorySink,
    OwnVerification,
    PulledFile,
    PulledImage,
    PullSink,
    Retrieved,
    UncoveredMismatchError,
    UnverifiedImageError,
    checked_once,
    filling,
    install_pulled,
    reread_uncovered,
    verify_pulled,
)
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.formats.own_integrity import check_own_integrity
from aiodfu.testing.images import build_mcuboot_image, random_firmware

RAW = FirmwareImage(b"firmware" * 100)
UNCHECKED = Verification.none("the protocol gives only the size")
MD5 = Verification(VerificationMethod.HOST_DIGEST, "its MD5 matched the card's")


class Report:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    async def succeeded(self, retrieved: Retrieved) -> None:
        self.outcomes.append("succeeded")

    async def failed(self, retrieved: Retrieved, reason: str) -> None:
        self.outcomes.append(f"failed: {reason}")


async def pull(
    retrieved: Retrieved, **options: object
) -> tuple[list[FirmwareImage], Report, object]:
    installed: list[FirmwareImage] = []
    report = Report()
    outcome: object
    try:
        outcome = await install_pulled(
            retrieved,
            install=installed.append,
            report=report,
            tracker=ProgressTracker(len(retrieved.image)),
            **options,  # type: ignore[arg-type]
        )
    except Exception as exc:
        outcome = exc
    return installed, report, outcome


async def test_an_image_the_protocol_checked_is_installed_and_reported() -> None:
    installed, report, result = await pull(Retrieved(RAW, MD5, {"mode": "binary"}))
    assert installed == [RAW] and report.outcomes == ["succeeded"]
    assert result.verification.method is VerificationMethod.HOST_DIGEST  # type: ignore[attr-defined]
    assert "MD5" in result.verification.detail  # type: ignore[attr-defined]
    assert result.details == {"mode": "binary"}  # type: ignore[attr-defined]


async def test_an_unchecked_image_is_installed_but_the_result_says_it_is_unverified() -> None:
    installed, report, result = await pull(Retrieved(RAW, UNCHECKED))
    assert installed == [RAW] and report.outcomes == ["succeeded"]
    assert not result.verification.verified  # type: ignore[attr-defined]
    assert "only the size" in result.verification.detail  # type: ignore[attr-defined]


async def test_require_verified_refuses_an_unchecked_image_and_reports_it() -> None:
    installed, report, error = await pull(Retrieved(RAW, UNCHECKED), require_verified=True)
    assert isinstance(error, UnverifiedImageError)
    assert installed == [] and report.outcomes[0].startswith("failed: verification failed")


async def test_the_callers_digest_verifies_an_image_the_protocol_cannot() -> None:
    digest = hashlib.sha256(RAW.data).hexdigest()
    installed, _, result = await pull(
        Retrieved(RAW, UNCHECKED), expected_sha256=digest, require_verified=True
    )
    assert installed == [RAW]
    assert "expected digest" in result.verification.detail  # type: ignore[attr-defined]


async def test_a_wrong_digest_is_never_installed() -> None:
    wrong = hashlib.sha256(b"other").digest()
    installed, report, error = await pull(Retrieved(RAW, MD5), expected_sha256=wrong)
    assert isinstance(error, ImageIntegrityError) and "not installed" in str(error)
    assert installed == [] and report.outcomes[0].startswith("failed")


def test_a_malformed_expected_digest_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        verify_pulled(Retrieved(RAW, MD5), expected_sha256="abc")
    with pytest.raises(UsageError):
        verify_pulled(Retrieved(RAW, MD5), expected_sha256=b"\x00" * 31)


async def test_an_mcuboot_image_verifies_itself_and_a_corrupted_one_is_refused() -> None:
    image = FirmwareImage(build_mcuboot_image(b"\x11" * 512))
    installed, _, result = await pull(
        Retrieved(image, UNCHECKED), self_check=check_own_integrity, require_verified=True
    )
    assert installed == [image]
    assert "MCUboot SHA-256" in result.verification.detail  # type: ignore[attr-defined]

    corrupted = bytearray(image.data)
    corrupted[100] ^= 0x01
    installed, report, error = await pull(
        Retrieved(FirmwareImage(bytes(corrupted)), UNCHECKED), self_check=check_own_integrity
    )
    assert isinstance(error, ImageIntegrityError)
    assert installed == [] and report.outcomes[0].startswith("failed")


async def test_an_install_that_raises_is_reported_and_raised_as_install_failed() -> None:
    report = Report()

    def install(image: FirmwareImage) -> None:
        raise OSError("flash write failed")

    with pytest.raises(InstallFailedError) as info:
        await install_pulled(
            Retrieved(RAW, MD5), install=install, report=report, tracker=ProgressTracker(1)
        )
    assert isinstance(info.value.__cause__, OSError)
    assert report.outcomes == ["failed: host install failed: flash write failed"]


@pytest.mark.parametrize("digest", [True, False])
async def test_an_esp_idf_app_image_verifies_itself_only_with_its_appended_sha256(
    digest: bool,
) -> None:
    from tests.formats.test_esp_app import esptool_image

    image = FirmwareImage(esptool_image(digest=digest))
    installed, _, result = await pull(Retrieved(image, UNCHECKED), self_check=check_own_integrity)
    assert installed == [image]
    assert result.verification.verified is digest  # type: ignore[attr-defined]

    corrupted = bytearray(image.data)
    corrupted[len(corrupted) // 2] ^= 0x10
    installed, report, error = await pull(
        Retrieved(FirmwareImage(bytes(corrupted)), UNCHECKED), self_check=check_own_integrity
    )
    assert isinstance(error, ImageIntegrityError)
    assert installed == [] and report.outcomes[0].startswith("failed")


# --- pulls into a file: verified by reading the file back, never held whole ------------------


def pulled_into_file(data: bytes, path: Path) -> PulledFile:
    sink = FileSink(path)
    view = memoryview(data)
    for offset in range(0, len(data), 4096):
        sink.write(offset, view[offset : offset + 4096])
    return sink.image(source="test")


async def test_a_file_pull_is_verified_from_the_file_and_installed_as_a_file(
    tmp_path: Path,
) -> None:
    data = build_mcuboot_image(b"\x22" * 5000)
    pulled = pulled_into_file(data, tmp_path / "image.bin")
    installed, report, result = await pull(
        Retrieved(pulled, MD5, {"mode": "binary"}),
        expected_sha256=hashlib.sha256(data).digest(),
        self_check=check_own_integrity,
    )
    assert installed == [pulled] and report.outcomes == ["succeeded"]
    assert result.image == pulled  # type: ignore[attr-defined]
    assert result.details == {"mode": "binary", "path": str(tmp_path / "image.bin")}  # type: ignore[attr-defined]
    detail = result.verification.detail  # type: ignore[attr-defined]
    assert "expected digest" in detail and "MCUboot SHA-256" in detail and "MD5" in detail


async def test_a_corrupted_file_pull_is_never_installed_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    corrupted = bytearray(build_mcuboot_image(b"\x33" * 5000))
    corrupted[1000] ^= 0x04
    sink = FileSink(tmp_path / "image.bin")
    installed: list[PulledImage] = []
    report = Report()

    async def pull_corrupted() -> None:
        with filling(sink):
            sink.write(0, bytes(corrupted))
            await install_pulled(
                Retrieved(sink.image(source=None), UNCHECKED),
                install=installed.append,
                report=report,
                tracker=ProgressTracker(len(corrupted)),
                self_check=check_own_integrity,
            )

    with pytest.raises(ImageIntegrityError, match="MCUboot SHA-256"):
        await pull_corrupted()
    assert installed == [] and report.outcomes[0].startswith("failed: verification failed")
    assert not (tmp_path / "image.bin").exists()


@pytest.mark.parametrize("into_file", [True, False])
async def test_a_file_pull_never_holds_the_image_whole(tmp_path: Path, into_file: bool) -> None:
    """Peak allocation while filling, verifying and installing (streamed to a hash, as to
    flash): a small fraction of the image for a file sink; the whole image for a memory sink,
    which shows the measurement sees it."""
    data = build_mcuboot_image(random_firmware(4 * 1024 * 1024, seed=9))
    flashed = hashlib.sha256()

    def flash(image: PulledImage) -> None:
        blocks = image.blocks() if isinstance(image, PulledFile) else [image.data]
        for block in blocks:
            flashed.update(block)

    tracemalloc.start()
    try:
        sink: PullSink[PulledImage] = (
            FileSink(tmp_path / "image.bin") if into_file else MemorySink()
        )
        view = memoryview(data)
        with filling(sink):
            for offset in range(0, len(data), 4096):
                sink.write(offset, view[offset : offset + 4096])
            result = await install_pulled(
                Retrieved(sink.image(source=None), UNCHECKED),
                install=flash,
                report=Report(),
                tracker=ProgressTracker(len(data)),
                expected_sha256=hashlib.sha256(data).digest(),
                require_verified=True,
                self_check=check_own_integrity,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert flashed.digest() == hashlib.sha256(data).digest()
    assert "MCUboot SHA-256" in result.verification.detail
    if into_file:
        assert peak < len(data) // 16, f"peak {peak} bytes for a {len(data)}-byte image"
    else:
        assert peak >= len(data)


@pytest.mark.parametrize("in_file", [False, True])
async def test_what_an_mcuboot_hash_leaves_out_is_read_again_and_compared(
    in_file: bool, tmp_path: Path
) -> None:
    data = build_mcuboot_image(b"\x22" * 1000)
    signed_end = 0x200 + 1000  # header + body: the hash ends there (no protected TLVs)
    image: PulledImage = FirmwareImage(data)
    if in_file:
        (tmp_path / "i.bin").write_bytes(data)
        image = PulledFile(tmp_path / "i.bin", len(data), hashlib.sha256(data).digest())
    own = check_own_integrity(image)
    assert isinstance(own, OwnVerification) and own.uncovered == (signed_end, len(data))
    reads: list[tuple[int, int]] = []

    async def reread(start: int, end: int) -> bytes:
        reads.append((start, end))
        return data[start:end]

    detail = await reread_uncovered(image, reread, self_check=check_own_integrity)
    assert reads == [(signed_end, len(data))] and detail is not None and "read twice" in detail

    async def flipped(start: int, end: int) -> bytes:
        tail = bytearray(data[start:end])
        tail[-10] ^= 0xFF
        return bytes(tail)

    with pytest.raises(UncoveredMismatchError) as caught:
        await reread_uncovered(image, flipped, self_check=check_own_integrity)
    assert caught.value.transient and caught.value.offset == len(data) - 10
    # a digest of the whole image, or an image with none: nothing to read again
    digest = hashlib.sha256(data).digest()
    assert (
        await reread_uncovered(
            image, flipped, expected_sha256=digest, self_check=check_own_integrity
        )
        is None
    )
    assert await reread_uncovered(RAW, flipped, self_check=check_own_integrity) is None


def test_checked_once_reads_an_image_once_and_replays_its_answer_or_error() -> None:
    calls: list[PulledImage] = []

    def counting(image: PulledImage) -> Verification | None:
        calls.append(image)
        return check_own_integrity(image)

    check = checked_once(counting)
    good = FirmwareImage(build_mcuboot_image(random_firmware(600, seed=71)))
    first = check(good)
    assert first is not None and first.verified and check(good) == first
    assert calls == [good]
    corrupted = bytearray(good.data)
    corrupted[100] ^= 0xFF
    bad = FirmwareImage(bytes(corrupted))
    for _ in range(2):
        with pytest.raises(ImageIntegrityError):
            check(bad)
    assert calls == [good, bad]  # a new image is checked; the same one is not read again
    check(good)
    assert calls == [good, bad, good]
