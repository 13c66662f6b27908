"""Blues' own host library, note-python, unchanged, against the emulator's pty: its ``OpenSerial``
transactions with CRC on retrieve the image byte for byte and close out the DFU."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import serial

from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, Storage
from aiodfu.testing.pty import serve_pty
from notecard import notecard as note_python

IMAGE = random_firmware(9000, seed=77)
CHUNK = 4096


def retrieve_with_note_python(path: str, lock: Path) -> tuple[bytes, dict[str, Any], bool]:
    """The IAP loop as a note-python user writes it (Blues' python-dfu sample, in outline)."""
    port = serial.Serial(path, 115200, timeout=1)
    try:
        card = note_python.OpenSerial(port, lock_path=str(lock))
        status = card.Transaction({"req": "dfu.status"})
        body = status["body"]
        card.Transaction({"req": "hub.set", "mode": "dfu"})
        assert "err" not in card.Transaction({"req": "dfu.get", "length": 0})
        image = bytearray()
        while len(image) < body["length"]:
            length = min(CHUNK, body["length"] - len(image))
            reply = card.Transaction({"req": "dfu.get", "offset": len(image), "length": length})
            chunk = base64.b64decode(reply["payload"])
            assert hashlib.md5(chunk).hexdigest() == reply["status"]
            image += chunk
        card.Transaction({"req": "hub.set", "mode": "dfu-completed"})
        final = card.Transaction({"req": "dfu.status", "stop": True, "status": "note-python ok"})
        return bytes(image), final, card._card_supports_crc
    finally:
        port.close()


async def test_note_python_retrieves_the_image_over_the_pty(tmp_path: Path) -> None:
    card = NotecardEmulator(image=IMAGE, storage=Storage.MODEM_FS, dfu_entry_delay=0.0)
    async with serve_pty(card) as path:
        image, final, saw_crc = await asyncio.wait_for(
            asyncio.to_thread(retrieve_with_note_python, path, tmp_path / "serial.lock"), 60
        )
    assert image == IMAGE
    assert saw_crc and card.crc_errors == 0  # its CRCs verified here, ours there
    assert final["mode"] == "completed" and card.status_text == "note-python ok"
    assert card.hub_mode == "periodic" and not card.failures
    hub_set = next(r for r in card.requests if r["req"] == "hub.set")
    assert "body" in hub_set  # note-python's user agent rides along, and is accepted
