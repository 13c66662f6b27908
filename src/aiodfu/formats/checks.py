"""What was checked in a firmware file, and what could not be.

Each parser lists its integrity checks as :class:`Check` values, so
``aiodfu inspect`` (and a caller deciding whether to send) sees the same
verdicts: ``ok``, ``mismatch`` (only when parsed with ``verify=False``; a
verified load raises :class:`~aiodfu.core.errors.ImageIntegrityError`
instead) or ``not-checked`` with the reason the host cannot check it.
"""

from __future__ import annotations

import enum

import attrs


class CheckStatus(enum.StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    NOT_CHECKED = "not-checked"


@attrs.frozen
class Check:
    """One integrity check: its name, verdict and a short explanation."""

    name: str
    status: CheckStatus
    detail: str = ""

    @classmethod
    def compare(cls, name: str, ok: bool, detail: str) -> Check:
        return cls(name, CheckStatus.OK if ok else CheckStatus.MISMATCH, detail)

    @classmethod
    def skipped(cls, name: str, reason: str) -> Check:
        return cls(name, CheckStatus.NOT_CHECKED, reason)

    def row(self) -> tuple[str, str]:
        """``("<name> check", "ok (...)")``: a mismatch is shouted, as people scan for it."""
        verdict = {
            CheckStatus.OK: "ok",
            CheckStatus.MISMATCH: "MISMATCH",
            CheckStatus.NOT_CHECKED: "not checked",
        }[self.status]
        return f"{self.name} check", f"{verdict} ({self.detail})" if self.detail else verdict

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}
