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

An image's own digest may leave bytes out (an MCUboot image's signature TLVs,
what follows an ESP-IDF app image's SHA-256): the ``self_check`` says which
(:attr:`OwnVerification.uncovered`). Unless ``expected_sha256`` covers the
whole image, a backend that can read its source again passes ``reread``: those
bytes are read a second time and must equal the first read, else
:class:`UncoveredMismatchError` (transient: the backend downloads again).

When none applies the image is unverified: installed all the same, and the
result says so -- unless ``require_verified=True``, which refuses it.

Where the bytes go while they arrive is the caller's choice of
:class:`~aiodfu.core.sinks.PullSink` (``sink=`` of a pull backend's
``update``): a :class:`~aiodfu.core.sinks.MemorySink` by default (``install``
receives a :class:`~aiodfu.core.image.FirmwareImage`), or a
:class:`~aiodfu.core.sinks.FileSink` (``install`` receives a
:class:`~aiodfu.core.sinks.PulledFile`, and every check above reads the file
back in bounded blocks). :func:`filling` discards what a failed pull stored.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import attrs

from aiodfu.core.errors import (
    DfuError,
    ImageError,
    ImageIntegrityError,
    InstallFailedError,
    UsageError,
)
from aiodfu.core.progress import Phase, ProgressTracker
from aiodfu.core.session import UpdateResult, Verification, VerificationMethod
from aiodfu.core.sinks import (
    BLOCK_SIZE,
    FileSink,
    MemorySink,
    PulledFile,
    PulledImage,
    PullSink,
    PullSinkError,
    read_blocks,
    read_range,
)

__all__ = [
    "BLOCK_SIZE",
    "FileSink",
    "MemorySink",
    "OutcomeReport",
    "OwnVerification",
    "PullInstaller",
    "PullSink",
    "PullSinkError",
    "PulledFile",
    "PulledImage",
    "Reread",
    "Retrieved",
    "SelfCheck",
    "UncoveredMismatchError",
    "UnverifiedImageError",
    "checked_once",
    "filling",
    "install_pulled",
    "parse_sha256",
    "read_blocks",
    "reread_uncovered",
    "verify_pulled",
]

log = logging.getLogger("aiodfu.pull")

ImageT = TypeVar("ImageT", bound=PulledImage)

PullInstaller = Callable[[ImageT], Awaitable[object] | object]
"""Installs a verified pulled image (sync or async): a ``FirmwareImage`` from the default
:class:`MemorySink`, a :class:`PulledFile` from a :class:`FileSink`."""

SelfCheck = Callable[[PulledImage], Verification | None]
"""Checks an image by its own integrity: a verification (an :class:`OwnVerification` when
it leaves bytes out), ``None`` if it has none, or
:class:`~aiodfu.core.errors.ImageIntegrityError` if that integrity does not hold."""

Reread = Callable[[int, int], Awaitable[bytes]]
"""Reads bytes ``[start, end)`` of the retrieved image from its source a second time."""


@attrs.frozen
class OwnVerification(Verification):
    """An image's own digest matched, but it does not cover ``uncovered`` (``[start, end)``)."""

    uncovered: tuple[int, int] | None = None


class UnverifiedImageError(ImageIntegrityError):
    """``require_verified=True``, and nothing could verify the retrieved image."""


class UncoveredMismatchError(ImageIntegrityError):
    """The bytes no digest covers differ between two reads: a corrupted download (transient)."""

    transient = True


@attrs.frozen
class Retrieved:
    """What a pull backend retrieved: the image, what the protocol checked, and its details.

    ``image`` is what the pull's sink handed over (a ``FirmwareImage`` or a
    :class:`PulledFile`); ``checked`` is the protocol's own end-to-end check
    (``Verification.none`` with the reason when it has none).
    """

    image: PulledImage
    checked: Verification
    details: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def result_details(self) -> dict[str, str]:
        """``details`` for the result, plus ``path`` when the image was pulled into a file."""
        if isinstance(self.image, PulledFile):
            return {**self.details, "path": str(self.image.path)}
        return dict(self.details)


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
    reread_detail: str | None = None,
) -> Verification:
    """Run every check that applies; raise if one fails, or if none applies when required.

    ``reread_detail`` says what :func:`reread_uncovered` confirmed, if anything.
    """
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
    if reread_detail is not None:
        checks.append(reread_detail)
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


def checked_once(self_check: SelfCheck) -> SelfCheck:
    """``self_check`` run once per image: asked again about the same image, it gives the
    same answer (or raises the same error) without reading the image again -- a pull asks
    once for what to read twice (:func:`reread_uncovered`) and once to verify."""
    last: list[tuple[PulledImage, Verification | ImageError | None]] = []

    def check(image: PulledImage) -> Verification | None:
        if not last or last[0][0] is not image:
            try:
                answer: Verification | ImageError | None = self_check(image)
            except ImageError as exc:
                answer = exc
            last[:] = [(image, answer)]
        answer = last[0][1]
        if isinstance(answer, ImageError):
            raise answer
        return answer

    return check


async def reread_uncovered(
    image: PulledImage,
    reread: Reread,
    *,
    expected_sha256: str | bytes | None = None,
    self_check: SelfCheck | None = None,
) -> str | None:
    """Read again what the image's own digest leaves out, and compare; ``None``: nothing to.

    Nothing is read when ``expected_sha256`` covers the whole image, or when the
    image's own check covers all of it (or finds nothing: the image is then
    unverified, or refused, in :func:`verify_pulled`). A difference raises
    :class:`UncoveredMismatchError`; on agreement, the verification's detail.
    """
    if expected_sha256 is not None or self_check is None:
        return None
    own = self_check(image)
    if not isinstance(own, OwnVerification) or own.uncovered is None:
        return None
    start, end = own.uncovered
    first = read_range(image, start, end - start)
    second = await reread(start, end)
    if second != first:
        pairs = enumerate(zip(first, second, strict=False))
        at = next((i for i, (a, b) in pairs if a != b), min(len(first), len(second)))
        raise UncoveredMismatchError(
            f"bytes {start}..{end} of the image, which its own digest does not cover, differ "
            f"between two reads (first at byte {start + at}): the download was corrupted",
            operation="verify",
            offset=start + at,
        )
    return f"bytes {start}..{end}, which it does not cover (the signature), read twice and matched"


async def install_pulled(
    retrieved: Retrieved,
    *,
    install: PullInstaller[Any],
    report: OutcomeReport,
    tracker: ProgressTracker,
    expected_sha256: str | bytes | None = None,
    require_verified: bool = False,
    self_check: SelfCheck | None = None,
    reread_detail: str | None = None,
) -> UpdateResult:
    """Verify ``retrieved``, ``install`` it, report the outcome, and return the result.

    ``install`` receives ``retrieved.image`` (the backend's ``update`` ties
    its type to the sink's).

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
            reread_detail=reread_detail,
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
        retrieved.image, tracker, verification=verification, details=retrieved.result_details
    )


@contextlib.contextmanager
def filling(sink: PullSink[PulledImage] | None) -> Iterator[PullSink[PulledImage]]:
    """One pull into ``sink`` (``None``: a new :class:`MemorySink`), which it yields.

    The sink starts empty, and whatever ends the pull early -- a failed
    retrieval, verification or install, cancellation -- discards what it stored.
    """
    into: PullSink[PulledImage] = MemorySink() if sink is None else sink
    into.truncate(0)
    try:
        yield into
    except BaseException:
        into.discard()
        raise
