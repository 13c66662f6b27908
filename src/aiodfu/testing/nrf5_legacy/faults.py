"""Faults the emulated legacy DFU target can inject (replaceable at any time).

:class:`LegacyDfuFaults` is a :class:`~aiodfu.testing.device_faults.DeviceFaults`:
besides its own knobs it takes a ``plan`` of triggered device faults, in
the target's :data:`FAULT_VOCABULARY`:

* commands are the Control Point opcodes, by the names of
  :class:`aiodfu.nrf5_legacy.protocol.OpCode` (``START_DFU``,
  ``INITIALIZE_DFU``, ``RECEIVE_FIRMWARE``, ``VALIDATE``,
  ``ACTIVATE_AND_RESET``, ``RESET``, ``REPORT_RECEIVED_SIZE``,
  ``PACKET_RECEIPT_REQUEST``), counted in bootloader mode;
* an :class:`~aiodfu.testing.device_faults.ErrorReply` at an opcode is the
  response ``10 <opcode> <status>`` instead of acting on it, with any status
  the bootloader answers (:class:`~aiodfu.nrf5_legacy.protocol.Status` names:
  ``INVALID_STATE``, ``NOT_SUPPORTED``, ``DATA_SIZE``, ``CRC_ERROR``,
  ``OPERATION_FAILED``; ``None`` is ``OPERATION_FAILED``); at a data offset it
  is what SDK 11 sends while receiving firmware (``10 03 02/03/04/06``, the
  protocol reference section 2.4): the packet crossing the offset is not stored;
* a :class:`~aiodfu.testing.device_faults.Reboot` resets the chip: the link
  drops, it boots into its application if it has one, else back into the
  bootloader with fresh state;
* :class:`~aiodfu.testing.device_faults.Silence`: writes are acknowledged (the
  SoftDevice does that) but lost, and nothing is notified; a stall then goes on;
* :class:`~aiodfu.testing.device_faults.Unsolicited`: a Control Point
  notification nobody asked for (a stray receipt); ``unsolicited`` items go
  out after the target's next notification;
* :class:`~aiodfu.testing.device_faults.Latency`: responses come late.
"""

from __future__ import annotations

import attrs

from aiodfu.nrf5_legacy.protocol import OpCode, Status
from aiodfu.testing.device_faults import DeviceFaults, ErrorReply
from aiodfu.testing.faults import FaultVocabulary

__all__ = ["FAULT_VOCABULARY", "LegacyDfuFaults", "opcode_name", "status_of"]


@attrs.define
class LegacyDfuFaults(DeviceFaults):
    """Faults to inject; replace :attr:`Nrf5LegacyEmulator.faults` at any time."""

    drop_packets: frozenset[int] = frozenset()
    """Firmware data packets lost before reaching the target (numbered from 0 over the
    emulator's life, so each is lost once)."""
    disconnect_after_packets: int | None = None
    """Drop the link once after this many data packets (counted over the emulator's life)."""
    disconnect_on_opcode: int | None = None
    """Drop the link when this Control Point opcode is written, before acting on it."""
    disconnect_on_opcode_times: int = 1
    """How many times (over the emulator's life) ``disconnect_on_opcode`` drops the link."""
    notification_delay: float = 0.0
    reset_on_failed_notification: bool = True
    """SDK 11's ``APP_ERROR_CHECK`` resets the chip when a notification cannot be sent."""


_ERRORS = ("INVALID_STATE", "NOT_SUPPORTED", "DATA_SIZE", "CRC_ERROR", "OPERATION_FAILED")

FAULT_VOCABULARY = FaultVocabulary(
    "nrf5-legacy",
    commands=(
        ("START_DFU", 1),
        ("INITIALIZE_DFU", 2),
        ("RECEIVE_FIRMWARE", 1),
        ("VALIDATE", 1),
        ("ACTIVATE_AND_RESET", 1),
    ),
    errors=(None, *_ERRORS),
    offset_errors=(None, "INVALID_STATE", "NOT_SUPPORTED", "DATA_SIZE", "OPERATION_FAILED"),
    unsolicited=(b"\x11\x00\x00\x00\x00", b"\x11\xff\xff\xff\x7f", b"\x10\x07\x01\x00\x00\x00\x00"),
    error_commands=("START_DFU", "INITIALIZE_DFU", "RECEIVE_FIRMWARE", "VALIDATE"),
    unobservable=(("reboot", "ACTIVATE_AND_RESET"),),
)
"""What the legacy DFU target can be asked to fail at (see the module documentation).
Activate and Reset are never answered (the target resets): draws put no error there, nor a
reboot (the old application boots, and nothing a legacy DFU host can read tells it apart)."""


def opcode_name(opcode: int) -> str:
    """How a Control Point opcode is named for :class:`~aiodfu.testing.device_faults.OnCommand`."""
    try:
        return OpCode(opcode).name
    except ValueError:
        return f"OPCODE_0x{opcode:02X}"


def status_of(error: ErrorReply) -> Status:
    """The status an :class:`ErrorReply` answers with (``None``: ``OPERATION_FAILED``)."""
    if error.code is None:
        return Status.OPERATION_FAILED
    if isinstance(error.code, int):
        return Status(error.code)
    return Status[error.code]
