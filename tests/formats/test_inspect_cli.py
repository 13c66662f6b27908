"""``aiodfu inspect``: one documented JSON object per kind, --force and --keep-trailer honoured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiodfu.cli import main
from aiodfu.nrf5_legacy import Package
from aiodfu.testing.images import (
    build_full_modem_package,
    build_mcuboot_image,
    build_modem_delta,
    random_firmware,
)

from .imgtool_images import Imgtool
from .test_esp_app import esptool_image
from .test_intel_hex import UICR, hex_of
from .test_nrf5_packages import secure_zip

COMMON = {"kind", "size", "sha256", "source", "converted_from", "checks", "details"}


def inspect(path: Path, *options: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(main, ["--json", "inspect", *options, str(path)])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, lines


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inspect")
    tool = Imgtool(d)
    files = {
        "mcuboot": tool.sign("confirmed", "--confirm", "--sha", "384"),
        "esp-app": d / "app.bin",
        "modem-delta": d / "delta.bin",
        "modem-full": d / "full.cbor",
        "nrf5-legacy-package": d / "legacy.zip",
        "nrf5-secure-package": d / "secure.zip",
        "raw": d / "bootloader.hex",
    }
    files["esp-app"].write_bytes(esptool_image())
    files["modem-delta"].write_bytes(build_modem_delta(random_firmware(300, seed=1)))
    files["modem-full"].write_bytes(
        build_full_modem_package(random_firmware(100), [(0x1000, random_firmware(200))])
    )
    files["nrf5-legacy-package"].write_bytes(
        Package.from_images(application=random_firmware(1001, seed=2)).to_zip()
    )
    files["nrf5-secure-package"].write_bytes(secure_zip())
    files["raw"].write_bytes(hex_of((0x3C000, random_firmware(64, seed=3)), UICR))
    return files


KIND_FIELDS = {
    "mcuboot": {"version", "flags", "tlvs", "trailer", "signed_size", "encrypted", "compressed"},
    "esp-app": {"chip", "segments", "app", "image_size", "after_image"},
    "modem-delta": {"patch_size"},
    "modem-full": {"segments", "blob_hash", "version"},
    "nrf5-legacy-package": {"dfu_version", "parts"},
    "nrf5-secure-package": {"supported", "reason", "parts"},
    "raw": {"hex"},
}


@pytest.mark.parametrize("kind", list(KIND_FIELDS))
def test_json_record_per_kind(samples: dict[str, Path], kind: str) -> None:
    code, (record,) = inspect(samples[kind])
    assert code == 0, record
    assert record["event"] == "image"
    assert set(record) - {"event"} == COMMON
    assert record["kind"] == kind
    assert KIND_FIELDS[kind] <= set(record["details"])  # type: ignore[arg-type]
    for check in record["checks"]:  # type: ignore[attr-defined]
        assert set(check) == {"name", "status", "detail"}
        assert check["status"] in ("ok", "not-checked")


def test_mcuboot_trailer_is_reported_and_kept_on_request(samples: dict[str, Path]) -> None:
    _, (stripped,) = inspect(samples["mcuboot"])
    trailer = stripped["details"]["trailer"]  # type: ignore[index]
    assert trailer["state"] == "confirmed" and trailer["kept"] is False
    assert stripped["size"] == stripped["details"]["signed_size"]  # type: ignore[index]
    _, (kept,) = inspect(samples["mcuboot"], "--keep-trailer")
    assert kept["details"]["trailer"]["kept"] is True  # type: ignore[index]
    assert kept["size"] == trailer["slot_size"]


def test_force_shows_a_failed_check_and_still_fails(tmp_path: Path) -> None:
    image = bytearray(build_mcuboot_image(random_firmware(1000, seed=9)))
    image[0x300] ^= 1
    path = tmp_path / "corrupt.bin"
    path.write_bytes(bytes(image))
    code, (error,) = inspect(path)
    assert code == 1 and error["event"] == "error"
    assert error["type"] == "ImageIntegrityError"
    code, (record, error) = inspect(path, "--force")
    assert code == 1
    assert record["checks"][0]["status"] == "mismatch"  # type: ignore[index]
    assert error["type"] == "ImageIntegrityError"
    assert "fails its integrity check: sha256 (stored" in str(error["message"])
    # a malformed file is refused even with --force
    path.write_bytes(bytes(image[:-10]))
    code, (error,) = inspect(path, "--force")
    assert code == 1 and error["type"] == "ImageError"


def test_force_is_explained_in_help() -> None:
    result = CliRunner().invoke(main, ["inspect", "--help"])
    assert "--force" in result.output and "exit status is still 1" in result.output


def test_human_output(samples: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["inspect", str(samples["mcuboot"])])
    assert result.exit_code == 0, result.output
    assert "sha384 check" in result.output
    assert "stripped before sending" in result.output
