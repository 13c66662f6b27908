"""Errors of legacy DFU over a serial port (all in the :class:`DfuError` tree)."""

from __future__ import annotations

from aiodfu.core.errors import DeviceError, DeviceResetError, DfuTimeoutError


class TargetRestartedError(DeviceResetError):
    """The bootloader acknowledged with a sequence number no packet in flight explains.

    It rebooted (or another host talked to it) and lost this session's state;
    serial DFU has no resume, so the part restarts from its Start packet
    (transient). ``status`` is the sequence number the bootloader expects.
    """


class BootloaderNotFoundError(DfuTimeoutError):
    """Nothing on the port acknowledged a probe: no bootloader is running there.

    The board runs its application (or is not connected). Enter the bootloader:
    a 1200-baud touch (``touch_1200=True``) on native-USB boards, a DTR reset
    (``dtr_reset=True``) on boards with a USB-serial bridge, or a double tap of
    the reset button. Not transient: the probes already went on for ``timeouts.sync``.
    """

    transient = False


class ImageRejectedError(DeviceError):
    """The bootloader took every packet but did not activate the image.

    Serial DFU has no status replies: the bootloader kept answering in the same
    session after the stop packet, which it does only when its check of the
    image (the init packet's CRC-16) failed -- a packet was lost or changed after
    it was acknowledged. Transient: the part is sent again from the start.
    """

    transient = True


class BootloaderReturnedError(ImageRejectedError):
    """After the stop packet of an application the bootloader reset and came back in DFU mode.

    An activated application runs at once (the bootloader jumps to it); a
    bootloader that resets instead and answers again -- in DFU mode, because the
    application area was erased at Start -- did not activate the image.
    Transient: the part is sent again from its Start.
    """


class ActivationUnconfirmedError(DeviceError):
    """A bootloader whose port goes away when it leaves went silent instead, port still there.

    On native USB an activating bootloader re-enumerates (its port goes away)
    or reboots; silence alone may be a bootloader that hung after the stop
    packet, so it is no proof that the image runs. Not transient: sending the
    image again cannot tell more. Reset the board and look at what it runs; a
    board behind a USB-serial bridge that enumerates as ``ttyACM`` goes silent
    once it runs its application: update it with ``native_usb=False`` (``--uart``).
    """


class InitPacketRejectedError(DeviceError):
    """The bootloader rebooted right after the init packet, attempt after attempt.

    That is how the Adafruit bootloader refuses an init packet: device type
    not 0x0052, device revision not the board's for a SoftDevice or bootloader
    update, or no matching SoftDevice in ``softdevice_req``. Not transient.
    """


class BootloaderStuckError(DeviceError):
    """The bootloader acknowledges packets but no longer acts on them.

    After a failed image check its stop packet stays in its packet queue and,
    if it sits in the first slot, is processed before anything else every time:
    the bootloader ignores even a reboot request until its DFU timeout
    (6 minutes) or a reset (the reset button; DTR on a USB-serial bridge).
    Not transient.
    """
