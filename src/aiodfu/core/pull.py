"""The pull engine: retrieve, verify, install, report -- in that order, for every pull backend.

A pull backend (a Notecard, an ESP-AT module) delivers an image to this host,
which installs it and tells the device how that went. What differs between
backends is how the bytes arrive and how the outcome is reported; what must
never differ is the order: nothing is installed before it is verified, and
the device always hears the outcome. :func:`install_pulled` is that order,
written once.

Verification combines every check that applies, and the result says which:

* the digest the caller expects (``expected_sha256=``);
* the image's own integrity (an MCUboot hash TLV, an ESP-IDF app image's
  appended SHA-256), through the backend's ``self_check`` (see
  :func:`aiodfu.formats.check_own_integrity`);
* the protocol's own digest (the Notecard's MD5), from the backend.

When none applies the image is unverified: installed all the same, and the
result says so -- unless ``require_verified=True``, which refuses it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from aiodfu.core.errors import DfuError, ImageIntegrityError, InstallFailedError, UsageError
from aiodfu.core.image import FirmwareImage
from aiodfu.core.progress import Phase, ProgressTracker
from aiodfu.core.session import (
    InstallCallback,
    UpdateResult,
    Verification,
    VerificationMethod,
)

log = logging.getLogger("aiodfu.pull")

SelfCheck = Callable[[FirmwareImage], Verification | None]
"""Checks an image by its own integrity: a verification, ``None`` if it has none, or
:class:`~aiodfu.core.errors.ImageIntegrityError` if that integrity does not hold."""


class UnverifiedImageError(ImageIntegrityError):
    """``require_verified=True``, and nothing could verify the retrieved image."""


@attrs.frozen
class Retrieved:
    """What a pull backend retrieved: the image, what the protocol checked, and its details.

    ``checked`` is the protocol's own end-to-end check (``Verification.none``
    with the reason when it has none).
    """

    image: FirmwareImage
    checked: Verification
    details: Mapping[str, str] = attrs.field(factory=dict)


class OutcomeReport(Protocol):
    """How a backend tells its device the outcome of a pull (``dfu.status``, ``AT+RMOTARESULT``)."""

    async def succeeded(self, retrieved: Retrieved) -> None: ...

    async def failed(self, retrieved: Retrieved, reason: str) -> None:
        """Report a failure; must not raise (log instead): the caller raises the real error."""


def parse_sha256(digest: str | bytes) -> bytes:
    """A SHA-256 given as 32 bytes or 64 hex digits."""
    if isinstance(digest, str):
        try:
            digest = bytes.fromhex(digest)
        except ValueError:
            raise UsageError(f"expected_sha256 is not hex: {digest!r}") from None
    if len(digest) != 32:
        raise UsageError(f"expected_sha256 has {len(digest)} bytes; a SHA-256 has 32")
    return digest


def verify_pulled(
    retrieved: Retrieved,
    *,
    expected_sha256: str | bytes | None = None,
    require_verified: bool = False,
    self_check: SelfCheck | None = None,
) -> Verification:
    """Run every check that applies; raise if one fails, or if none applies when required."""
    image = retrieved.image
    checks: list[str] = []
    if expected_sha256 is not None:
        expected = parse_sha256(expected_sha256)
        if image.sha256 != expected:
            raise ImageIntegrityError(
                f"the retrieved image's SHA-256 {image.sha256.hex()} is not the expected "
                f"{expected.hex()}: not installed",
                operation="verify",
            )
        checks.append("its SHA-256 matched the expected digest")
    own = self_check(image) if self_check is not None else None
    if own is not None:
        checks.append(own.detail)
    if retrieved.checked.verified:
        checks.append(retrieved.checked.detail)
    if checks:
        return Verification(VerificationMethod.HOST_DIGEST, "; ".join(checks))
    if require_verified:
        raise UnverifiedImageError(
            f"nothing could verify the retrieved image ({retrieved.checked.detail}); "
            "refusing to install it: pass expected_sha256= or use an image with its own hash",
            operation="verify",
        )
    return Verification.none(
        f"{retrieved.checked.detail}, and the image has no integrity check of its own "
        "(pass expected_sha256= to verify it)"
    )


async def install_pulled(
    retrieved: Retrieved,
    *,
    install: InstallCallback,
    report: OutcomeReport,
    tracker: ProgressTracker,
    expected_sha256: str | bytes | None = None,
    require_verified: bool = False,
    self_check: SelfCheck | None = None,
) -> UpdateResult:
    """Verify ``retrieved``, ``install`` it, report the outcome, and return the result.

    A failed verification or install is reported to the device and raised
    (:class:`~aiodfu.core.errors.ImageIntegrityError`,
    :class:`~aiodfu.core.errors.InstallFailedError` from what ``install`` raised).
    """
    tracker.set_phase(Phase.VERIFYING)
    try:
        verification = verify_pulled(
            retrieved,
            expected_sha256=expected_sha256,
            require_verified=require_verified,
            self_check=self_check,
        )
    except DfuError as exc:
        await report.failed(retrieved, f"verification failed: {exc.message}")
        raise
    tracker.set_phase(Phase.APPLYING)
    try:
        outcome = install(retrieved.image)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as exc:
        reason = f"host install failed: {exc}"
        await report.failed(retrieved, reason)
        raise InstallFailedError(reason, operation="install") from exc
    await report.succeeded(retrieved)
    tracker.set_phase(Phase.DONE)
    return UpdateResult.from_tracker(
        retrieved.image, tracker, verification=verification, details=retrieved.details
    )
