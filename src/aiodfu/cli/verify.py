"""The byte-for-byte verification every demo scenario ends with."""

from __future__ import annotations

from collections.abc import Mapping

from aiodfu.cli.output import Reporter, result_rows, snake
from aiodfu.core.errors import DfuError
from aiodfu.core.integrity import sha256
from aiodfu.core.session import UpdateResult


class DemoVerificationError(DfuError):
    """The emulated device does not hold the image that was sent."""


def report_verification(
    reporter: Reporter, title: str, sent: bytes, held: bytes | None, **details: object
) -> None:
    """Show both SHA-256s and whether they match; raise if the device holds anything else.

    Kept for demos not yet on :func:`report_demo`, which also reports the result.
    """
    report_demo(reporter, title, sent, held, result=None, details=details)


def report_demo(
    reporter: Reporter,
    title: str,
    sent: bytes,
    held: bytes | None,
    *,
    result: UpdateResult | None,
    details: Mapping[str, object] | None = None,
) -> None:
    """A demo's verdict: both SHA-256s, whether they match, and the update's own result.

    ``title`` is the backend's name. ``result`` adds
    :func:`~aiodfu.cli.output.result_rows` (time, attempts, throughput, how
    the device verified the image), typed; ``details`` are extra rows for
    people, which ``--json`` carries as the ``details`` object. Raises
    :class:`DemoVerificationError` if the device holds anything else.
    """
    details = details or {}
    held = held or b""
    identical = held == sent
    rows: dict[str, object] = {
        "backend": title,
        "bytes": len(sent),
        "sent_sha256": sha256(sent).hex(),
        "device_sha256": sha256(held).hex(),
        "identical": identical,
    }
    if result is not None:
        rows.update({k: v for k, v in result_rows(result).items() if k not in ("bytes", "sha256")})
    if reporter.json_lines:
        reporter.emit("demo_result", **rows, details={snake(k): v for k, v in details.items()})
    else:
        human = {k: v for k, v in rows.items() if k not in ("backend", "identical")}
        reporter.table(title, {**human, "byte-for-byte": _verdict(identical), **details})
    if not identical:
        raise DemoVerificationError(f"{title}: the emulated device holds a different image")


def _verdict(identical: bool) -> str:
    return "identical" if identical else "DIFFERENT"
