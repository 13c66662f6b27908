"""What an emulated Adafruit nRF52 serial bootloader can be asked to fail at.

The shared device faults (:mod:`aiodfu.testing.device_faults`) on
:class:`~aiodfu.testing.nrf5_legacy_serial.AdafruitSerialEmulator`. Its
commands are the DFU packets its main loop processes (``process_dfu_packet``
in ``dfu_transport_serial.c``), named after the legacy DFU opcodes they stand
for: ``START_DFU`` (the Start packet -- the host's reboot request, a Start
with an impossible mode, counts too), ``INITIALIZE_DFU`` (the init packet),
``RECEIVE_FIRMWARE_IMAGE`` (each 512-byte data packet; shown with the offset
it lands at), and for the stop packet ``VALIDATE`` then ``ACTIVATE_N_RESET``
(the bootloader calls ``dfu_image_validate`` and ``dfu_image_activate`` in a
row). Probes (packet type 0) are discarded by the link layer and are no command.

**Error codes.** The handlers return the DFU status codes of the protocol
reference (``INVALID_STATE`` 2, ``NOT_SUPPORTED`` 3,
``DATA_SIZE_EXCEEDS_LIMIT`` 4, ``CRC_ERROR`` 5, ``OPERATION_FAILED`` 6), but the
serial transport never sends one: it answers only with link-layer acks, on
receipt. What a failure does depends only on which handler failed:

==========================  ==========================================  ==========================
packet                      the real handler can fail with               what the bootloader does
==========================  ==========================================  ==========================
``START_DFU``               NOT_SUPPORTED, DATA_SIZE_EXCEEDS_LIMIT,      ``APP_ERROR_CHECK``: the
                            INVALID_STATE, OPERATION_FAILED (flash)      chip resets, nothing erased
``INITIALIZE_DFU``          INVALID_STATE, OPERATION_FAILED (rejected)   the chip resets
``RECEIVE_FIRMWARE_IMAGE``  INVALID_STATE, DATA_SIZE_EXCEEDS_LIMIT,      ignored: the packet is not
                            OPERATION_FAILED (flash write)               stored (after its ack)
``VALIDATE``                INVALID_STATE, CRC_ERROR                     ignored: not activated,
                                                                         the stop packet keeps its
                                                                         queue slot
``ACTIVATE_N_RESET``        INVALID_STATE, OPERATION_FAILED              as ``VALIDATE``
==========================  ==========================================  ==========================

``DATA_SIZE_EXCEEDS_LIMIT`` at a data packet also poisons the byte count, as
``dfu_data_pkt_handle`` does, so every later data packet fails too. Since the
code never leaves the chip, any code at any packet does what that packet's
failure does (random draws may combine them freely); ``None`` is the
handler's usual failure. At an offset (:class:`~aiodfu.testing.AtOffset`) the
data packet that covers it fails.

**The other kinds.** :class:`~aiodfu.testing.Reboot` is the chip's reset
(RAM lost, then ``check_dfu_mode`` decides: DFU mode without a valid
application, else the application; a native-USB board's port goes away).
:class:`~aiodfu.testing.Silence` hangs the main loop (for good: input is lost
and nothing is acknowledged, the packet in hand is dropped; for a while: the
packet is then processed). :class:`~aiodfu.testing.Unsolicited` bytes are
what a serial line can carry from a board that sends only acks: a glitch byte
(``00``/``FF``, as a UART line shows across a reset) or stray SLIP delimiters,
sent before the next ack (or, ``mid_line``, in the middle of it, which spoils
that ack). :class:`~aiodfu.testing.Latency` makes processing a packet take
longer (on native USB that delays the next acks; a UART board keeps
acknowledging while its queue fills).
"""

from __future__ import annotations

import attrs

from aiodfu.nrf5_legacy.hci import DfuPacket, DfuPacketType
from aiodfu.testing.device_faults import DeviceFaults
from aiodfu.testing.faults import FaultVocabulary

__all__ = [
    "ADAFRUIT_SERIAL_VOCABULARY",
    "STATUS_CODES",
    "USUAL_ERRORS",
    "AdafruitSerialFaults",
    "command_name",
]

STATUS_CODES = {
    "INVALID_STATE": 2,
    "NOT_SUPPORTED": 3,
    "DATA_SIZE_EXCEEDS_LIMIT": 4,
    "CRC_ERROR": 5,
    "OPERATION_FAILED": 6,
}
"""The legacy DFU status codes a handler can fail with, by name (the value on the BLE wire)."""

USUAL_ERRORS = {
    "START_DFU": "NOT_SUPPORTED",
    "INITIALIZE_DFU": "OPERATION_FAILED",
    "RECEIVE_FIRMWARE_IMAGE": "OPERATION_FAILED",
    "VALIDATE": "CRC_ERROR",
    "ACTIVATE_N_RESET": "OPERATION_FAILED",
}
"""What :class:`~aiodfu.testing.ErrorReply` ``None`` stands for at each packet."""

DATA_ERRORS = ("INVALID_STATE", "DATA_SIZE_EXCEEDS_LIMIT", "OPERATION_FAILED")

ADAFRUIT_SERIAL_VOCABULARY = FaultVocabulary(
    "nrf5-legacy-serial",
    commands=(
        ("START_DFU", 1),
        ("INITIALIZE_DFU", 1),
        ("RECEIVE_FIRMWARE_IMAGE", 8),
        ("VALIDATE", 1),
        ("ACTIVATE_N_RESET", 1),
    ),
    errors=(None, *STATUS_CODES),
    offset_errors=(None, *DATA_ERRORS),
    unsolicited=(b"\x00", b"\xff", b"\xc0", b"\xc0\xc0"),
)


@attrs.define
class AdafruitSerialFaults(DeviceFaults):
    """The board's faults: the shared ones (``plan``, ``silent``, ``unsolicited``); see the
    module documentation for what each does on this bootloader."""


def command_name(packet: DfuPacket, offset: int) -> str:
    """How a queued packet is named for :class:`~aiodfu.testing.OnCommand` (before the stop
    packet's two steps, which are named ``VALIDATE`` and ``ACTIVATE_N_RESET``)."""
    match packet.packet_type:
        case DfuPacketType.START:
            return "START_DFU"
        case DfuPacketType.INIT:
            return "INITIALIZE_DFU"
        case DfuPacketType.DATA:
            return f"RECEIVE_FIRMWARE_IMAGE offset={offset}"
        case _:
            return f"PACKET type={int(packet.packet_type)}"
