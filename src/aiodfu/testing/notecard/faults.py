"""The emulated Notecard's faults: the shared device faults in the card's own words, and its extras.

:class:`NotecardFaults` is a :class:`~aiodfu.testing.device_faults.DeviceFaults`
(a ``plan`` of triggered faults, ``silent``, ``unsolicited``, the ``fired``
record) with the card's own per-request knobs, addressed by request index
over the card's life (0-based, every line with ``req``).

:data:`FAULT_VOCABULARY` is what the card can be asked to fail at:

* commands are request names as the card sees them (``"dfu.get"``,
  ``"dfu.status"``, ``"hub.set"``, ``"card.binary"``...), with how many of
  each an update sends at least (``hub.set`` only where the card keeps its
  image in the modem's file system, ``card.binary`` only in binary mode); a
  prefix counts every request it begins (``"card.binary"`` counts
  ``card.binary.get`` too), and the record shows ``dfu.get`` with its
  offset and length;
* an :class:`~aiodfu.testing.device_faults.ErrorReply` is one of the card's
  real ``err`` replies (:data:`ERROR_TEXTS`; ``None`` is ``"io"``), stamped
  with the request's sequence number and ``crc`` as every reply to a request
  with a valid ``crc`` is (note-c PR #74); at an
  :class:`~aiodfu.testing.device_faults.AtOffset`, the ``dfu.get`` whose
  chunk covers the offset gets it;
* a :class:`~aiodfu.testing.device_faults.Reboot` restarts the card: the
  downloaded image stays in its storage (and the DFU status with it), what
  was in RAM goes (DFU operating mode, the binary store, a half-received
  request, queued requests); it prints nothing on its request port when back;
* unsolicited output: a card prints nothing of its own on its request port,
  so what a draw can inject is a stray ``\\r\\n`` or garbage.
"""

from __future__ import annotations

import attrs

from aiodfu.testing.device_faults import DeviceFaults
from aiodfu.testing.faults import FaultVocabulary
from aiodfu.testing.notecard.state import NOT_IN_DFU_MODE, NOT_YET_ACTIVE, unknown_request

__all__ = ["ERROR_TEXTS", "FAULT_VOCABULARY", "NotecardFaults", "error_text"]


@attrs.define
class NotecardFaults(DeviceFaults):
    """Faults to inject; tests may change them while the card runs (see the module docs).

    ``silent_requests`` (no answer), ``truncated_responses`` (half a line, no
    newline), ``corrupted_responses`` (a flipped byte: CRC mismatch),
    ``wrong_sequence`` (the echoed sequence number is off by one),
    ``io_errors`` (``{io}`` without a ``crc``: the card saw a garbled request),
    ``bad_bin`` (``{bad-bin}``), ``corrupted_frames`` (a flipped byte in a
    ``card.binary.get`` frame) -- each a set of request indexes;
    ``heartbeats`` interim ``{heartbeat}`` lines before every answer
    (``heartbeat_interval`` apart; ``heartbeat_flood`` never stops).
    """

    silent_requests: set[int] = attrs.field(factory=set)
    truncated_responses: set[int] = attrs.field(factory=set)
    corrupted_responses: set[int] = attrs.field(factory=set)
    wrong_sequence: set[int] = attrs.field(factory=set)
    io_errors: set[int] = attrs.field(factory=set)
    bad_bin: set[int] = attrs.field(factory=set)
    corrupted_frames: set[int] = attrs.field(factory=set)
    heartbeats: int = 0
    heartbeat_interval: float = 0.0
    heartbeat_flood: bool = False


ERROR_TEXTS: dict[str, str] = {
    "io": "serial I/O error {io}",
    "not-supported": unknown_request("{request}"),
    "bad-bin": "binary store is corrupted {bad-bin}",
    "connected": NOT_YET_ACTIVE,
    "dfu-mode": NOT_IN_DFU_MODE,
}
"""The ``err`` texts an :class:`~aiodfu.testing.device_faults.ErrorReply` names (reference
section 7): a retryable ``{io}``, an unknown request, a corrupted binary store, DFU mode not
yet active (``{connected}``), DFU mode not entered or expired."""

FAULT_VOCABULARY = FaultVocabulary(
    "notecard",
    commands=(
        ("dfu.status", 2),
        ("dfu.get", 4),
        ("hub.set", 2),
        ("card.binary", 2),
        ("card.binary.get", 1),
    ),
    errors=(None, *ERROR_TEXTS),
    offset_errors=(None, "io", "connected", "dfu-mode"),
    unsolicited=(b"\r\n",),
)


def error_text(code: str | int | None, request: str) -> str:
    """The ``err`` text of the error ``code`` at the request named ``request``."""
    return ERROR_TEXTS["io" if code is None else str(code)].replace("{request}", request)
