"""An emulated Nordic Serial Modem (nRF91 ``ncs-serial-modem``) for testing AT DFU hosts.

:class:`SerialModemEmulator` behaves byte for byte like the Serial Modem
application at commit ``e23c2bd`` (or, optionally, after PR #421) on its AT
UART: ``AT#XDFUINIT`` / ``AT#XDFUWRITE`` / ``AT#XDFUAPPLY`` with the
``#XDFU`` URC, data mode, bootloader mode for full-modem updates,
``AT#XRESET`` / ``AT#XMODEMRESET`` activation with ``#XFOTA`` results, and the
version queries. Quirks are kept, because hosts must survive them: the
``\\n`` of a ``\\r\\n`` after ``AT#XDFUWRITE`` is the first firmware byte,
``+++`` is data, chunks are appended whatever ``<addr>`` says (so a retried
chunk corrupts the image), and a stalled chunk waits forever.

Any serial host can drive it -- over an in-memory link or a pseudo-terminal::

    from aiodfu.testing.pty import serve_pty
    from aiodfu.testing.serial_modem import SerialModemEmulator

    device = SerialModemEmulator(supported_types=(0, 1, 2, 3))
    stream = device.connect()                 # in-memory; or:
    async with serve_pty(device) as path:     # open `path` with pyserial, minicom, ...
        ...
    assert device.applied[0] == my_image      # what the device got, byte for byte

Options (keyword arguments, also attributes of the same name):

``supported_types``
    DFU types the build has: 0 app and 1 delta always; 2 full modem
    (``CONFIG_SM_DFU_MODEM_FULL``); 3 MCUboot bootloader (an ``s1``
    partition). Shown by the test commands; others answer ``ERROR``.
``firmware``
    :class:`FirmwareGeneration`: ``E23C2BD`` sends no ``OK`` to
    ``AT#XDFUINIT=2``, to the final ``AT#XDFUAPPLY=2`` nor to ``AT#XRESET`` in
    bootloader mode; ``PR421`` sends ``OK`` (and ``#XDFU: 2,2,0`` on the final
    apply) before rebooting.
``link_model``
    The default :class:`~aiodfu.transports.memory.LinkModel` of
    :meth:`connect` and :func:`~aiodfu.testing.pty.serve_pty`: baud pacing,
    receive buffer, RTS/CTS.
``command_latency``
    Seconds the device spends on each command before answering.
``flash_write_rate``
    Bytes per second of flash writes. Data mode buffers ``datamode_buffer``
    bytes (``CONFIG_SM_DATAMODE_BUF_SIZE``) and writes them synchronously,
    without reading the UART meanwhile: with flow control the host is
    throttled, without it bytes that overflow the link's receive buffer are
    lost and the chunk never completes. ``None`` writes instantly.
``slot_size`` / ``delta_area_size``
    MCUboot secondary slot and modem delta area capacity (``INIT`` with a
    larger ``<size>`` answers ``ERROR``; writes past them fail).
``delta_erase_time``
    Seconds ``AT#XDFUINIT=1`` (area dirty) and ``AT#XFOTA=9`` block erasing.
``reboot_time``
    Seconds from a reboot to its banner; bytes arriving meanwhile are lost.
    ``AT#XMODEMRESET`` takes as long to restart the modem.
``urc_order``
    :class:`UrcOrder` of ``#XDFU`` and ``#XDATAMODE`` after a chunk.
``legacy_urc_format``
    ``#XDFU:0,1,0`` without the space, as before commit ``8065574``.
``terminator``
    ``b"\\r"`` (default), ``b"\\n"`` or ``b"\\r\\n"``, as the build selects.
``echo``
    Echo at boot (``ATE0`` / ``ATE1`` switch it until the next reboot).
``app_image``
    The application running before any update. ``AT#XSMVER`` reports its
    MCUboot version (``"1.0.0"`` when it is not an MCUboot image).
``modem_version``
    What ``AT%SHORTSWVER`` reports; an activated modem update bumps its last number.
``faults``
    A :class:`SerialModemFaults`, mutable while the device runs.

Faults are set on ``device.faults`` at any time, for example::

    device.faults.fail_chunks = {3}       # the 4th chunk stores half, then reports #XDFU: t,1,-1
    device.faults.reject_commands["AT#XDFUWRITE"] = 1
    device.faults.unsolicited.append(b"\\r\\n+CEREG: 5\\r\\n")
    device.faults.add(DeviceFault(OnCommand(2, "AT#XDFUAPPLY"), Reboot()))

The shared device faults (:mod:`aiodfu.testing.device_faults`: a ``plan`` of
triggered faults, ``silent``, ``unsolicited``, and what fired) work as
``SerialModemEmulator.FAULT_VOCABULARY`` says: an ``ErrorReply("ERROR")``
answers ``ERROR``; ``ErrorReply(-1)`` makes ``AT#XDFUWRITE`` report
``#XDFU: t,1,-1`` (half the chunk stored) and ``AT#XDFUAPPLY`` report
``#XDFU: t,2,-1``; at an offset, the chunk in flight fails from that byte.
Offsets count the data bytes taken since the last ``AT#XDFUINIT`` (or boot).

Connecting prints no banner (the device booted before the host came), and a
new connection finds the device as the last one left it, even mid-chunk. A
partial command line survives too: filler bytes sent to finish a data mode
that had in fact ended are appended to it, and the next ``\\r`` executes it
(``ERROR``), so a recovering host sees that ``ERROR`` before its ping's answer.

Inspection (what tests compare): ``mode`` (``"normal"`` or ``"bootloader"``),
``received`` (per type, the bytes the target stored since that type's last
``INIT``; type 2: the modem bootloader upload), ``modem_flash`` and
:meth:`~SerialModemEmulator.modem_firmware_segments` (type-2 firmware as
written, by address), ``applied`` (per type, the image of the last successful
apply), ``image`` (what the device runs from its latest update that took
effect -- never an image MCUboot or the modem refused; for type 2 the
bootloader then each firmware segment in address order, as in a package blob),
``in_data_mode``, ``active_app``, ``active_bootloader_slot``, ``bootloader_version``,
``modem_version``, ``full_modem_phase``, ``delta_offset``, ``commands`` (every
command line received) and ``boots`` (reboots since construction).

Models, where the reference leaves room: an ``AT#XDFUWRITE`` without an open
target (no ``INIT`` since boot) reports ``#XDFU: t,1,-1``; an apply with
nothing to apply reports ``-1``; the type-0/3 image is validated with
:func:`~aiodfu.formats.mcuboot.parse_mcuboot` at the next reboot (valid:
swapped in, ``#XFOTA: 5,0`` for an app; invalid: nothing happens) -- and, with
``mcuboot_signatures=True`` (an MCUboot that validates signatures, the nRF Connect
SDK default), its signature too (:func:`~.signing.build_signed_mcuboot_image`
makes images it takes; a corrupted signature is then refused), a delta
with :func:`~aiodfu.formats.modem_delta.parse_modem_delta` when the modem
restarts (invalid: ``#XFOTA: 5,1,71303171``, the modem's authentication error)
after which the delta area is dirty; a full-modem final apply without any
firmware bytes leaves the modem corrupt, so every boot lands in bootloader mode.

The package is split by job: :mod:`~aiodfu.testing.serial_modem.emulator` (the
UART loop, data mode and the commands), :mod:`~.state` (the DFU targets and
what a reboot keeps), :mod:`~.signing` (what the modem accepts as genuine),
:mod:`~.at` (its AT line discipline) and :mod:`~.faults`. It prints the host's
own vocabulary (:mod:`aiodfu.serial_modem.protocol`) but parses commands with
its own grammar, so it still checks the host independently.
"""

from aiodfu.testing.serial_modem.emulator import NCS_VERSION, SerialModemEmulator
from aiodfu.testing.serial_modem.faults import FirmwareGeneration, SerialModemFaults, UrcOrder
from aiodfu.testing.serial_modem.signing import (
    build_signed_full_modem_package,
    build_signed_mcuboot_image,
    build_signed_modem_bootloader,
    build_signed_modem_delta,
)

__all__ = [
    "NCS_VERSION",
    "FirmwareGeneration",
    "SerialModemEmulator",
    "SerialModemFaults",
    "UrcOrder",
    "build_signed_full_modem_package",
    "build_signed_mcuboot_image",
    "build_signed_modem_bootloader",
    "build_signed_modem_delta",
]
