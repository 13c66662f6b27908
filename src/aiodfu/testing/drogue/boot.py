"""embassy-boot as a Drogue device uses it: ACTIVE, DFU and STATE partitions, and the
``FirmwareManager`` checks the application side applies to each block.

The state word's magic decides each boot: SWAP (set by ``mark_updated``)
swaps DFU into ACTIVE; if the new image resets before ``mark_booted`` the
next boot finds SWAP with a finished swap and reverts, leaving REVERT; BOOT
(or any unknown value, e.g. erased 0xFF) boots ACTIVE as it is. Partitions
carry the version the image inside them reports, since the emulated firmware
has no code to ask.
"""

from __future__ import annotations

import enum

import attrs

ERASED = 0xFF


class BootMagic(enum.IntEnum):
    """Values of the state partition's first word (every byte of it)."""

    BOOT = 0xD0
    SWAP = 0xF0
    REVERT = 0xC0
    DFU_DETACH = 0xE0


class BootOutcome(enum.Enum):
    """What the bootloader did on one boot."""

    NORMAL = "normal"
    SWAPPED = "swapped"
    REVERTED = "reverted"


@attrs.frozen
class Boot:
    """What the bootloader does at one reset, given the state word and the swap progress."""

    exchange: bool
    """Swap the ACTIVE and DFU images (page by page, power-fail safe, on a device)."""
    outcome: BootOutcome
    magic: int | None
    """The state word written afterwards (``None``: left as it is)."""
    swap_complete: bool | None
    """The swap-progress record afterwards (``None``: left as it is)."""


BOOT_TRANSITIONS: dict[tuple[BootMagic, bool], Boot] = {
    # SWAP set by mark_updated, no swap done yet: swap in the new image, keep SWAP until
    # the new firmware calls mark_booted.
    (BootMagic.SWAP, False): Boot(True, BootOutcome.SWAPPED, None, True),
    # SWAP still set with the swap done: the new firmware reset before mark_booted -> revert.
    (BootMagic.SWAP, True): Boot(True, BootOutcome.REVERTED, BootMagic.REVERT, False),
}
"""(state word, swap done) -> the boot; anything else is a :data:`NORMAL_BOOT` of ACTIVE."""

NORMAL_BOOT = Boot(False, BootOutcome.NORMAL, None, None)


class FlashError(Exception):
    """A ``FirmwareManager`` failure; ``kind`` is embassy's name for it."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


class Partition:
    """A flash partition holding one image and the version that image reports."""

    def __init__(self, size: int, data: bytes = b"", version: bytes | None = None) -> None:
        if len(data) > size:
            raise ValueError(f"a {len(data)}-byte image does not fit a {size}-byte partition")
        self.flash = bytearray(data) + bytearray([ERASED]) * (size - len(data))
        self.length = len(data)
        self.version = version

    @property
    def image(self) -> bytes:
        return bytes(self.flash[: self.length])

    def erase(self) -> None:
        self.flash[:] = bytes([ERASED]) * len(self.flash)
        self.length = 0
        self.version = None

    def load(self, data: bytes, version: bytes | None) -> None:
        self.erase()
        self.flash[: len(data)] = data
        self.length = len(data)
        self.version = version


class Bootloader:
    """The three partitions, the state word and the application's ``FirmwareManager``.

    ``write_size`` is the flash write unit (4 on nRF, 8 on some STM32).
    ``stale_offset`` reproduces ``FirmwareManager::start`` not resetting its own
    next offset, so a second update started in the same boot fails every write.
    """

    def __init__(
        self,
        image: bytes,
        version: bytes,
        *,
        partition_size: int,
        page_size: int = 4096,
        write_size: int = 4,
        stale_offset: bool = False,
    ) -> None:
        self.active = Partition(partition_size, image, version)
        self.dfu = Partition(partition_size + page_size)
        self.magic = ERASED
        self.swap_complete = False
        self.write_size = write_size
        self.stale_offset = stale_offset
        self.manager_offset = 0

    @property
    def state(self) -> BootMagic:
        """The state word as the bootloader reads it (unknown values count as BOOT)."""
        try:
            return BootMagic(self.magic)
        except ValueError:
            return BootMagic.BOOT

    # --- the application's FirmwareManager ---------------------------------------------------

    def start(self, version: bytes) -> None:
        """``prepare_update``: erase DFU for a new image of ``version``."""
        self.dfu.erase()
        self.dfu.version = version
        if not self.stale_offset:
            self.manager_offset = 0

    def write(self, offset: int, data: bytes) -> None:
        """Write one block; blocks up to ``write_size`` are zero-padded, longer ones aligned."""
        if offset != self.manager_offset:
            raise FlashError("WrongOffset", f"block at {offset}, expected {self.manager_offset}")
        if len(data) > self.write_size and len(data) % self.write_size:
            raise FlashError("Unaligned", f"{len(data)} bytes, write size {self.write_size}")
        stored = data.ljust(self.write_size, b"\0") if len(data) <= self.write_size else data
        capacity = len(self.active.flash)  # the image must fit ACTIVE; DFU has a spare page
        if offset + len(stored) > capacity:
            raise FlashError("OutOfBounds", f"{offset + len(stored)} > {capacity}")
        self.dfu.flash[offset : offset + len(stored)] = stored
        self.dfu.length = offset + len(data)
        self.manager_offset = offset + len(data)

    def mark_updated(self) -> None:
        self.magic = BootMagic.SWAP

    def mark_booted(self) -> None:
        self.magic = BootMagic.BOOT
        self.swap_complete = False

    # --- the bootloader ----------------------------------------------------------------------

    def boot(self) -> BootOutcome:
        """One pass of the bootloader at reset; the application's RAM state is gone."""
        self.manager_offset = 0
        boot = BOOT_TRANSITIONS.get((self.state, self.swap_complete), NORMAL_BOOT)
        if boot.exchange:
            self._exchange()
        if boot.magic is not None:
            self.magic = boot.magic
        if boot.swap_complete is not None:
            self.swap_complete = boot.swap_complete
        return boot.outcome

    def _exchange(self) -> None:
        """Swap the images of ACTIVE and DFU (page by page on a real device; atomic here)."""
        active = (self.active.image, self.active.version)
        self.active.load(self.dfu.image, self.dfu.version)
        self.dfu.load(*active)
