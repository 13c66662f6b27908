"""``aiodfu ports`` and the shared ``--port`` option: identification, AIODFU_PORT,
auto-detection of the one fitting port, globs and several ports."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from serial.tools.list_ports_common import ListPortInfo

from aiodfu.cli import main
from aiodfu.cli import ports as port_list
from aiodfu.cli.options import ports_option, resolve_ports
from tests.cli.conftest import assert_valid, json_lines


def usb_port(device: str, vid: int | None, pid: int | None, **strings: str) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    info.manufacturer = strings.get("manufacturer")
    info.product = strings.get("product")
    info.serial_number = strings.get("serial_number")
    info.description = strings.get("description", "n/a")
    return info


NORDIC = usb_port(
    "/dev/ttyACM0", 0x1915, 0x9100, manufacturer="Nordic Semiconductor", product="Thingy:91"
)
JLINK = usb_port("/dev/ttyACM1", 0x1366, 0x1015, manufacturer="SEGGER", serial_number="1050")
BLUES = usb_port("/dev/ttyACM2", 0x30A4, 0x0001, manufacturer="Blues Inc.", product="Notecard")
BLUES_BY_NAME = usb_port("/dev/ttyACM5", 0x1234, 0x0001, product="Blues Notecard")
ESPRESSIF = usb_port("/dev/ttyACM3", 0x303A, 0x1001, manufacturer="Espressif")
CP210X = usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60, product="CP2102 USB to UART Bridge")
LEGACY = usb_port("/dev/ttyS0", None, None)


@pytest.fixture
def fake_ports(monkeypatch: pytest.MonkeyPatch) -> list[ListPortInfo]:
    found: list[ListPortInfo] = []
    monkeypatch.setattr(port_list, "comports", lambda: list(found))
    monkeypatch.delenv("AIODFU_PORT", raising=False)
    return found


def test_identify_names_the_backends_each_maker_runs() -> None:
    assert port_list.identify(NORDIC).backends == ("serial-modem", "drogue")
    assert port_list.identify(JLINK).match is port_list.Match.MAKER
    assert port_list.identify(BLUES).backends == ("notecard",)
    assert port_list.identify(BLUES_BY_NAME).backends == ("notecard",)  # by its USB strings
    assert port_list.identify(ESPRESSIF).backends == ("rainmaker",)
    bridge = port_list.identify(CP210X)
    assert bridge.match is port_list.Match.BRIDGE
    assert set(bridge.backends) == {
        "serial-modem",
        "notecard",
        "drogue",
        "rainmaker",
        "nrf5-legacy-serial",
    }
    unknown = port_list.identify(LEGACY)
    assert unknown.match is port_list.Match.UNKNOWN and unknown.backends == ()
    assert port_list.identify(NORDIC).usb_id == "1915:9100"


def test_candidates_prefer_a_makers_port_to_a_bridge() -> None:
    infos = [port_list.identify(p) for p in (NORDIC, CP210X, BLUES)]
    assert [i.device for i in port_list.candidates("serial-modem", infos)] == ["/dev/ttyACM0"]
    assert [i.device for i in port_list.candidates("rainmaker", infos)] == ["/dev/ttyUSB0"]
    assert [i.device for i in port_list.candidates("notecard", infos)] == ["/dev/ttyACM2"]


def test_ports_lists_every_port_with_ids_names_and_backends(
    fake_ports: list[ListPortInfo], runner: CliRunner
) -> None:
    fake_ports.extend([NORDIC, BLUES, CP210X, LEGACY])
    result = runner.invoke(main, ["ports"], terminal_width=80)
    assert result.exit_code == 0, result.output
    for text in ("/dev/ttyACM0", "1915:9100", "Nordic Semiconductor", "Thingy:91", "notecard"):
        assert text in result.stdout
    assert "any serial" in result.stdout  # the CP210x bridge
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


def test_ports_json_is_typed_and_valid(fake_ports: list[ListPortInfo], runner: CliRunner) -> None:
    fake_ports.extend([NORDIC, JLINK, LEGACY])
    result = runner.invoke(main, ["--json", "ports"])
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert_valid(records)
    first = records[0]
    assert first["event"] == "port" and first["vid"] == 0x1915 and first["pid"] == 0x9100
    assert first["backends"] == ["serial-modem", "drogue"]
    assert first["accessible"] is None  # no such file here: nothing to tell
    assert records[-1] == {"event": "ports", "count": 3, "backend": None}


def test_ports_marks_a_port_this_user_may_not_open(
    fake_ports: list[ListPortInfo], runner: CliRunner, tmp_path: Path
) -> None:
    locked = tmp_path / "ttyACM9"
    locked.touch(mode=0o000)
    fake_ports.append(usb_port(str(locked), 0x1915, 0x9100))
    result = runner.invoke(main, ["--json", "ports"])
    expected = os.access(locked, os.R_OK | os.W_OK)  # root may open anything
    assert json_lines(result.stdout)[0]["accessible"] is expected
    human = runner.invoke(main, ["ports"])
    assert ("dialout" in human.stdout) is not expected


def test_ports_for_one_backend(fake_ports: list[ListPortInfo], runner: CliRunner) -> None:
    fake_ports.extend([NORDIC, BLUES, CP210X])
    result = runner.invoke(main, ["--json", "ports", "--backend", "notecard"])
    assert [r["device"] for r in json_lines(result.stdout) if r["event"] == "port"] == [
        "/dev/ttyACM2"
    ]


def test_port_comes_from_the_option_then_the_environment_then_detection(
    fake_ports: list[ListPortInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ports.extend([NORDIC, BLUES])
    assert resolve_ports("serial-modem", ["/dev/given"]) == ("/dev/given",)
    assert resolve_ports("serial-modem", []) == ("/dev/ttyACM0",)  # the only Nordic port
    assert resolve_ports("notecard", []) == ("/dev/ttyACM2",)
    assert resolve_ports("serial-modem", ["socket://127.0.0.1:9", "/dev/a"]) == (
        "socket://127.0.0.1:9",
        "/dev/a",
    )


def test_no_fitting_port_is_a_usage_error_that_says_what_to_do(
    fake_ports: list[ListPortInfo], runner: CliRunner, with_testonly: None
) -> None:
    fake_ports.append(BLUES)
    result = runner.invoke(main, ["--json", "testonly", "ping"])
    assert result.exit_code == 2
    (record,) = json_lines(result.stdout)
    assert_valid([record])
    assert record["type"] == "UsageError" and "--port" in record["message"]
    assert "aiodfu ports" in record["message"]


def test_several_fitting_ports_are_listed(
    fake_ports: list[ListPortInfo], runner: CliRunner, with_testonly: None
) -> None:
    fake_ports.extend([NORDIC, JLINK])
    result = runner.invoke(main, ["testonly", "ping"])
    assert result.exit_code == 2
    assert "/dev/ttyACM0" in result.stderr and "/dev/ttyACM1" in result.stderr
    assert result.stdout == ""  # usage errors go to stderr


def test_a_glob_expands_to_the_matching_ports(tmp_path: Path) -> None:
    for name in ("ttyACM0", "ttyACM1", "ttyUSB0"):
        (tmp_path / name).touch()

    @click.command()
    @ports_option("serial-modem")
    def show(ports: tuple[str, ...]) -> None:
        click.echo(" ".join(ports))

    result = CliRunner().invoke(show, ["--port", str(tmp_path / "ttyACM*")])
    assert result.output.split() == [str(tmp_path / "ttyACM0"), str(tmp_path / "ttyACM1")]
    result = CliRunner().invoke(show, ["--port", "/dev/a", "--port", "/dev/b", "--port", "/dev/a"])
    assert result.output.split() == ["/dev/a", "/dev/b"]
    result = CliRunner().invoke(show, ["--port", str(tmp_path / "nothing*")])
    assert result.exit_code == 2 and "no port matches" in result.output
    result = CliRunner().invoke(show, [], env={"AIODFU_PORT": f"{tmp_path}/ttyUSB0 /dev/b"})
    assert result.output.split() == [str(tmp_path / "ttyUSB0"), "/dev/b"]


def test_a_single_port_command_refuses_a_glob_that_matches_several(
    tmp_path: Path, runner: CliRunner, with_testonly: None
) -> None:
    for name in ("ttyACM0", "ttyACM1"):
        (tmp_path / name).touch()
    result = runner.invoke(main, ["testonly", "ping", "--port", str(tmp_path / "ttyACM*")])
    assert result.exit_code == 2 and "this command takes one" in result.stderr


def test_the_one_recognised_port_is_used_without_port(
    fake_ports: list[ListPortInfo], emulated_pty: str, runner: CliRunner, with_testonly: None
) -> None:
    """A Nordic device that happens to be the pty: ping it with no --port at all."""
    fake_ports.extend([usb_port(emulated_pty, 0x1915, 0x9100), BLUES, LEGACY])
    result = runner.invoke(main, ["--json", "testonly", "ping"])
    assert result.exit_code == 0, result.output
    (record,) = json_lines(result.stdout)
    assert record == {"event": "ping", "port": emulated_pty, "mode": "normal"}


def test_aiodfu_port_names_the_device(
    fake_ports: list[ListPortInfo], emulated_pty: str, runner: CliRunner, with_testonly: None
) -> None:
    fake_ports.extend([NORDIC, JLINK])  # ambiguous, but the environment says which
    result = runner.invoke(main, ["--json", "testonly", "ping"], env={"AIODFU_PORT": emulated_pty})
    assert result.exit_code == 0, result.output
    assert json_lines(result.stdout)[-1]["port"] == emulated_pty
