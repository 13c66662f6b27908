"""The emulated application's ways into its bootloader (buttonless entries).

Both answer a write on the application's own GATT table and say whether the
application now jumps to the bootloader (the emulator then drops the link and
boots it):

* :func:`legacy_request` -- the legacy DFU service of an SDK 11 application
  (revision 0.1): ``01 xx`` on its Control Point jumps, any other opcode is
  answered ``10 01 03``;
* :func:`buttonless_request` -- the Secure DFU buttonless characteristic
  (0xFE59 / ``8ec90003-...``): ``01`` jumps. Meshtastic's ``BLEDfuSecure``
  says nothing either way; with ``ApplicationProfile.buttonless_response``
  the application indicates ``20 <op> <result>`` as the Secure DFU buttonless
  spec has it (``20 01 01`` before it resets, ``20 xx 02`` for other opcodes).
"""

from __future__ import annotations

from aiodfu.nrf5_legacy.adafruit import ButtonlessOp, ButtonlessResponse, ButtonlessResult
from aiodfu.nrf5_legacy.protocol import OpCode, Response, Status
from aiodfu.testing.nrf5_legacy.gatt import ApplicationProfile, DfuPeripheral


async def legacy_request(gatt: DfuPeripheral, value: bytes) -> bool:
    """A Control Point write to the application's legacy DFU service; True: it jumps."""
    if value[0] == OpCode.START_DFU:
        return True
    answer = Response(OpCode.START_DFU, Status.NOT_SUPPORTED)
    await gatt.peripheral.notify(gatt.control_point, answer.encode())
    return False


async def buttonless_request(
    gatt: DfuPeripheral, profile: ApplicationProfile, value: bytes
) -> bool:
    """A write to the Secure DFU buttonless characteristic; True: the application jumps."""
    jumps = value[0] == ButtonlessOp.ENTER_BOOTLOADER
    if profile.buttonless_response:
        result = ButtonlessResult.SUCCESS if jumps else ButtonlessResult.OP_CODE_NOT_SUPPORTED
        await gatt.peripheral.indicate(
            gatt.buttonless, ButtonlessResponse(value[0], result).encode()
        )
    return jumps
