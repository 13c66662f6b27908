"""Blues' own host library, note-python, unchanged, against the emulator (its pty, or its I2C bus):
its transactions with CRC on retrieve the image byte for byte and close out the DFU, and the card's
error replies reach its callers as the card's errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import serial

from aiodfu.testing import DeviceFault, ErrorReply, OnCommand, Reboot
from aiodfu.testing.i2c import PeripheryI2c
from aiodfu.testing.images import random_firmware
from aiodfu.testing.notecard import NotecardEmulator, NotecardFaults, Storage, notecard_i2c_bus
from aiodfu.testing.pty import serve_pty
from notecard import binary_helpers
from notecard import dfu as note_python_dfu
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


async def test_note_python_rides_out_an_injected_io_error_and_a_restart_of_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``{io}`` err reply (with the request's crc) is retried by note-python; a restart loses
    the request in flight, note-python times out, resyncs, asks again -- and the image, kept in
    the card's storage, arrives byte for byte."""
    monkeypatch.setattr(note_python, "CARD_INTER_TRANSACTION_TIMEOUT_SEC", 2)
    plan = [
        DeviceFault(OnCommand(2, "dfu.get"), ErrorReply("io")),
        DeviceFault(OnCommand(4, "dfu.get"), Reboot()),
    ]
    card = NotecardEmulator(image=IMAGE, reboot_time=0.1, faults=NotecardFaults(plan=plan))
    async with serve_pty(card) as path:
        image, final, saw_crc = await asyncio.wait_for(
            asyncio.to_thread(retrieve_with_note_python, path, tmp_path / "serial.lock"), 60
        )
    assert image == IMAGE and saw_crc and final["mode"] == "completed"
    assert [str(f) for f in card.faults.fired] == [
        f"error at dfu.get command 2 (dfu.get offset=0 length={CHUNK}): error 'io'",
        f"reboot at dfu.get command 4 (dfu.get offset={CHUNK} length={CHUNK}): reboot",
    ]
    offsets = [r.get("offset") for r in card.requests if r["req"] == "dfu.get"]
    assert offsets == [None, 0, 0, CHUNK, CHUNK, 2 * CHUNK]  # each hit request sent again
    assert card.boots == 1 and not card.crc_errors and not card.failures


def error_paths(card: Any) -> list[Any]:
    """Requests the card refuses, through note-python: each refusal must reach the caller."""
    replies = [
        card.Transaction({"req": "dfu.status"}),  # a CRC from the card: note-python now expects one
        card.Transaction({"req": "dfu.get", "offset": 0, "length": 8193}),
        card.Transaction({"req": "dfu.get", "offset": len(IMAGE), "length": 16}),
        card.Transaction({"req": "hub.set", "mode": "sometimes"}),
        card.Transaction({"req": "card.wireless.penguin"}),
        note_python_dfu.get(card, length=9000, offset=0),  # the fluent API
    ]
    replies.append(card.Transaction({"req": "dfu.get", "length": 0}))  # and it still works after
    return replies


def check_error_replies(replies: list[Any], card_supports_crc: bool) -> None:
    status, too_long, past_end, bad_mode, unknown, fluent, probe = replies
    assert card_supports_crc and status["mode"] == "ready"
    assert "8192" in too_long["err"] and "beyond" in past_end["err"]
    assert "unknown mode" in bad_mode["err"]
    assert "{not-supported}" in unknown["err"] and "8192" in fluent["err"]
    assert probe == {"payload": "", "crc": probe["crc"]}


async def test_note_python_sees_the_cards_error_replies_over_serial(tmp_path: Path) -> None:
    """Before error replies carried a CRC, each of these raised 'Failed to transact'."""
    card = NotecardEmulator(image=IMAGE)

    def run(path: str) -> tuple[list[Any], bool]:
        port = serial.Serial(path, 115200, timeout=1)
        try:
            client = note_python.OpenSerial(port, lock_path=str(tmp_path / "serial.lock"))
            return error_paths(client), client._card_supports_crc
        finally:
            port.close()

    async with serve_pty(card) as path:
        replies, supports_crc = await asyncio.wait_for(asyncio.to_thread(run, path), 60)
    check_error_replies(replies, supports_crc)
    assert not card.crc_errors and not card.failures
    assert len(card.requests) == 7  # none retried


async def test_note_python_sees_the_cards_error_replies_over_i2c() -> None:
    card = NotecardEmulator(image=IMAGE)
    async with card:
        periphery = PeripheryI2c(notecard_i2c_bus(card), asyncio.get_running_loop())

        def run() -> tuple[list[Any], bool]:
            client = note_python.OpenI2C(periphery, 0x17, 0)
            return error_paths(client), client._card_supports_crc

        replies, supports_crc = await asyncio.wait_for(asyncio.to_thread(run), 60)
    check_error_replies(replies, supports_crc)
    assert len(card.requests) == 7 and not card.failures


async def test_note_python_binary_helpers_raise_the_cards_own_error(tmp_path: Path) -> None:
    """binary_helpers turns an err reply into ``Exception(err)``: the card's text, not a
    transport failure."""
    card = NotecardEmulator(image=IMAGE)
    card.binary_store_supported = False  # card.binary is then an unknown request

    def run(path: str) -> str:
        port = serial.Serial(path, 115200, timeout=1)
        try:
            client = note_python.OpenSerial(port, lock_path=str(tmp_path / "serial.lock"))
            client.Transaction({"req": "dfu.status"})
            try:
                binary_helpers.binary_store_reset(client)
            except Exception as exc:
                return str(exc)
            return "no error"
        finally:
            port.close()

    async with serve_pty(card) as path:
        message = await asyncio.wait_for(asyncio.to_thread(run, path), 60)
    assert message.startswith("Error in response to card.binary delete request: unknown request")
    assert "Failed to transact" not in message
