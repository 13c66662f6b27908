"""The pull engine: nothing is installed before it is verified, and the device hears the outcome."""

from __future__ import annotations

import hashlib

import pytest

from aiodfu.core.errors import ImageIntegrityError, InstallFailedError, UsageError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import ProgressTracker
from aiodfu.core.pull import Retrieved, UnverifiedImageError, install_pulled, verify_pulled
from aiodfu.core.session import Verification, VerificationMethod
from aiodfu.formats.own_integrity import check_own_integrity
from aiodfu.testing.images import build_mcuboot_image

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
