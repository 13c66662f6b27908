"""The emulated bootloader's build: flash layout, identity, timing and transport quirks."""

from __future__ import annotations

import enum

import attrs

from aiodfu.nrf5_legacy.protocol import RX_POOL_SIZE


class InitFormat(enum.Enum):
    """How the bootloader reads the init packet's extended bytes at Validate."""

    TEMPLATE = "template"
    """Stock SDK 11 template: the first two extended bytes are the CRC-16 (0.5 only works)."""
    CUSTOM = "custom"
    """A customised bootloader that understands 0.5, 0.6 (CRC-16) and 0.7 (SHA-256)."""


@attrs.frozen
class BootloaderConfig:
    """The target's flash layout, identity, timing and transport quirks.

    The defaults are the stock SDK 11 bootloader's;
    :func:`aiodfu.testing.nrf5_legacy.adafruit_config` gives an Adafruit one.
    """

    bank_size: int = 0x3C000
    """Size of one bank: App and BL updates must fit in it (dual bank)."""
    app_area_size: int = 0x78000
    """The whole application area: a SoftDevice update may use all of it."""
    bootloader_region: int = 0x6000
    uicr_device_type: int = 0xFFFF
    uicr_device_revision: int = 0xFFFF
    softdevice_fwid: int = 0x0081
    init_format: InitFormat = InitFormat.TEMPLATE
    flash_rate: float = 100_000.0
    """Bytes per second the flash writes (nRF52: ~41 us per 4-byte word)."""
    erase_time_per_kib: float = 0.0
    """Seconds of erase per KiB announced, before ``10 01 01`` (real targets: ~0.07)."""
    pool_size: int = RX_POOL_SIZE
    max_packet: int = 20
    v1_protocol: bool = False
    """Pre-SDK-7 bootloader: Start is ``01`` + 4-byte app size, init is ``02`` + CRC."""
    page_erase_time: float = 0.0
    """Seconds per 4 KiB page erased at Start, whole pages (nRF52840: ~0.085)."""
    sdk_packet_routing: bool = False
    """Route Packet writes by the last Control Point request, as ``dfu_transport_ble.c``
    does (``m_pkt_type``); off: by state, the emulator's earlier simplification."""
    single_bank: bool = False
    """Images are received into the application's own area, erased at Start: the
    application is gone from an accepted size record on (Adafruit's default build)."""
    att_mtu: int | None = None
    """The largest ATT MTU the bootloader agrees to (``None``: the radio's default)."""
    round_mtu: bool = False
    """Answer an MTU exchange with ``min(client, att_mtu)`` rounded to 4k + 3, as
    Adafruit's bootloader does (so that Packet writes are whole words)."""
    packet_write_with_response: bool = False
    """The Packet characteristic also takes Write Requests (Adafruit 0.10)."""
    control_point_max: int = 20
    usb_dfu_after: frozenset[str] = frozenset()
    """Reset causes after which a bootloader without a valid application enters USB
    (serial/UF2) DFU instead of BLE DFU -- silent on the radio. Causes: ``"reset"``,
    ``"inactivity timeout"``, ``"failed notification"``, ``"activate in the wrong
    state"``, ``"softdevice activated"``."""

    def mtu_reply(self, client_rx_mtu: int) -> int:
        """The MTU the bootloader answers an exchange with (:attr:`att_mtu`, :attr:`round_mtu`)."""
        mtu = min(client_rx_mtu, self.att_mtu or client_rx_mtu)
        return (mtu & 0xFFFC) | 3 if self.round_mtu else mtu
