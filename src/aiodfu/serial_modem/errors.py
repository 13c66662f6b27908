"""Errors specific to the Serial Modem backend (all in the :class:`DfuError` tree)."""

from __future__ import annotations

from aiodfu.core.errors import DeviceError


class ApplyFailedError(DeviceError):
    """``AT#XDFUAPPLY`` reported failure, or the new modem firmware did not boot.

    Transient: the image is sent again from ``AT#XDFUINIT``.
    """

    transient = True


class ActivationFailedError(DeviceError):
    """The device reset but did not take the new image (MCUboot or the modem kept the old one)."""
