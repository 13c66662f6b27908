"""The emulated module byte for byte, per the reference's emulator checklist."""

from __future__ import annotations

import asyncio

import pytest

from aiodfu.testing.rainmaker import FirmwareServer, FirmwareVersions, RainMakerEmulator
from aiodfu.transports.base import ByteStream

from .conftest import offer


async def read_until(stream: ByteStream, end: bytes, timeout: float = 2.0) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while not data.endswith(end):
            data += await stream.read(1)
    return data


async def ask(stream: ByteStream, command: bytes, end: bytes = b"OK\r\n") -> bytes:
    await stream.write(command + b"\r\n")
    return await read_until(stream, end)


def parse_chunks(raw: bytes) -> tuple[bytes, list[int]]:
    """The body and chunk sizes of a complete ``+HTTPCGET`` answer ending in ``OK``."""
    sizes, body, position = [], b"", 0
    while raw.startswith(b"+HTTPCGET:", position):
        comma = raw.index(b",", position)
        size = int(raw[position + 10 : comma])
        sizes.append(size)
        body += raw[comma + 1 : comma + 1 + size]
        assert raw[comma + 1 + size : comma + 3 + size] == b"\r\n"
        position = comma + 3 + size
    assert raw[position:] == b"\r\nOK\r\n"
    return body, sizes


async def test_echo_by_default_then_off(module: RainMakerEmulator) -> None:
    host = module.connect()
    assert await ask(host, b"AT") == b"AT\r\n\r\nOK\r\n"
    assert await ask(host, b"ATE0") == b"ATE0\r\n\r\nOK\r\n"
    assert await ask(host, b"AT") == b"\r\nOK\r\n"


async def test_error_rules_and_err_codes(module: RainMakerEmulator) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    assert await ask(host, b"AT+NOPE", b"ERROR\r\n") == b"\r\nERROR\r\n"
    await ask(host, b"AT+SYSLOG=1")
    assert await ask(host, b"AT+NOPE", b"ERROR\r\n") == b"ERR CODE:0x01090000\r\n\r\nERROR\r\n"
    assert await ask(host, b"XYZ", b"ERROR\r\n") == b"ERR CODE:0x01030000\r\n\r\nERROR\r\n"
    too_long = b'AT+HTTPCGET="' + b"x" * 250 + b'"'
    assert (await ask(host, too_long, b"ERROR\r\n")).startswith(b"ERR CODE:0x01040000")


async def test_busy_while_a_command_runs(server: FirmwareServer) -> None:
    async with RainMakerEmulator(echo=False, command_latency=0.05) as module:
        host = module.connect()
        await host.write(b"AT\r\nAT\r\n")
        assert await read_until(host, b"OK\r\n") == b"busy p...\r\n\r\nOK\r\n"


async def test_url_prompt_flow_exact_count_and_query(module: RainMakerEmulator) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    assert await ask(host, b"AT+HTTPURLCFG=7", b"ERROR\r\n") == b"\r\nERROR\r\n"  # < 8
    await host.write(b"AT+HTTPURLCFG=12\r\n")
    assert await read_until(host, b">") == b"\r\nOK\r\n\r\n>"
    await host.write(b"http://h/p?aAT\r\n")  # 12 bytes of URL, then "AT\r\n" is a command
    assert await read_until(host, b"OK\r\n") == b"\r\nSET OK\r\n"
    assert await read_until(host, b"OK\r\n") == b"\r\nOK\r\n"
    assert module.stored_url == "http://h/p?a"
    # the real module prints no CR LF of its own between the URL and "\r\nOK\r\n"
    assert await ask(host, b"AT+HTTPURLCFG?") == b"+HTTPURLCFG:12,http://h/p?a\r\nOK\r\n"
    await ask(host, b"AT+HTTPURLCFG=0")
    assert module.stored_url is None
    assert await ask(host, b"AT+HTTPURLCFG?") == b"\r\nOK\r\n"  # no URL: only OK


async def test_fetch_needs_the_cloud_and_result_needs_a_pending_job(
    server: FirmwareServer,
) -> None:
    async with RainMakerEmulator(echo=False, cloud_connected=False) as module:
        job = offer(module, server)
        host = module.connect()
        assert await ask(host, b"AT+RMOTAFETCH", b"ERROR\r\n") == b"\r\nERROR\r\n"
        assert await ask(host, b"AT+RMCONN") == b"\r\nOK\r\n"
        assert await read_until(host, b"+RMCONNECTED\r\n") == b"+RMCONNECTED\r\n"
        result = b'AT+RMOTARESULT=0,"' + job.job_id.encode() + b'",2,"done"'
        assert await ask(host, result, b"ERROR\r\n") == b"\r\nERROR\r\n"  # nothing pending
        assert await ask(host, b"AT+RMOTAFETCH") == b"\r\nOK\r\n"
        notify = await read_until(host, b"\r\n")
        assert notify.startswith(b"+RMFWNOTIFY:0,40000,http://127.0.0.1:")
        assert notify.endswith(b",2.0.1," + job.job_id.encode() + b"\r\n")
        for bad in (
            b'AT+RMOTARESULT=0,"' + job.job_id.encode() + b'",6,"x"',  # status out of range
            b'AT+RMOTARESULT=0,"' + job.job_id.encode() + b'",2',  # three parameters
            b"AT+RMOTARESULT=0," + job.job_id.encode() + b',2,"x"',  # job not quoted
        ):
            assert await ask(host, bad, b"ERROR\r\n") == b"\r\nERROR\r\n"
        assert await ask(host, result[:-6] + b'"a\\,b\\"c"') == b"\r\nOK\r\n"
        assert module.results[-1].info == 'a,b"c'
        assert not module.host_ota_pending
        assert await ask(host, result, b"ERROR\r\n") == b"\r\nERROR\r\n"  # cleared by 2


async def test_reset_prints_ready_and_forgets_ram_state(server: FirmwareServer) -> None:
    async with RainMakerEmulator() as module:
        host = module.connect()
        await ask(host, b"ATE0")
        await ask(host, b"AT+SYSLOG=1")
        assert await ask(host, b"AT+RST", b"ready\r\n") == b"\r\nOK\r\nready\r\n"
        assert module.echo and not module.syslog


async def test_rmota_changes_only_with_suppression_and_the_delayed_bug(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    module.module_ota(1)
    module.module_ota(1)  # unchanged: not printed again
    module.module_ota(4)
    assert await read_until(host, b"+RMOTA:5\r\n") == b"+RMOTA:1\r\n+RMOTA:5\r\n"
    offer(module, server)
    await ask(host, b"AT+RMOTAFETCH")
    await read_until(host, b"\r\n")  # +RMFWNOTIFY: host OTA now pending
    module.module_ota(2)  # suppressed
    assert await ask(host, b"AT") == b"\r\nOK\r\n"


async def test_download_chunks_vary_and_stay_within_rx_size(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    image = bytes(range(256)) * 40
    url = server.add("x.bin", image)
    host = module.connect()
    await ask(host, b"ATE0")
    command = f"AT+HTTPURLCFG={len(url)}".encode()
    await host.write(command + b"\r\n")
    await read_until(host, b">")
    await host.write(url.encode())
    await read_until(host, b"SET OK\r\n")
    await host.write(b'AT+HTTPCGET="",2048,700,2000\r\n')
    body, sizes = parse_chunks(await read_until(host, b"\r\nOK\r\n"))
    assert body == image
    assert max(sizes) <= 700 and len(set(sizes)) > 1


@pytest.mark.parametrize("honour", [True, False])
async def test_range_header_is_sent_and_honoured_or_not(
    module: RainMakerEmulator, server: FirmwareServer, honour: bool
) -> None:
    server.faults.honour_range = honour
    image = bytes(range(256)) * 4
    url = server.add("x.bin", image)
    host = module.connect()
    await ask(host, b"ATE0")
    header = b"Range: bytes=1000-"
    await host.write(b"AT+HTTPCHEAD=%d\r\n" % len(header))
    await read_until(host, b">")
    await host.write(header)
    await read_until(host, b"OK\r\n")
    assert await ask(host, b"AT+HTTPCHEAD?") == b'+HTTPCHEAD:0,"Range: bytes=1000-"\r\n\r\nOK\r\n'
    await host.write(b"AT+HTTPURLCFG=%d\r\n" % len(url))
    await read_until(host, b">")
    await host.write(url.encode())
    await read_until(host, b"SET OK\r\n")
    await host.write(b'AT+HTTPCGET=""\r\n')
    body, _ = parse_chunks(await read_until(host, b"\r\nOK\r\n"))
    assert body == (image[1000:] if honour else image)
    assert server.requests[-1].headers["range"] == "bytes=1000-"


# --- behaviour confirmed against the esp-at sources and the released AT core (issue 11) ---------


async def configure_download(host: ByteStream, url: str) -> None:
    await ask(host, b"ATE0")
    await ask(host, b"AT+SYSLOG=1")
    await host.write(b"AT+HTTPURLCFG=%d\r\n" % len(url))
    await read_until(host, b">")
    await host.write(url.encode())
    await read_until(host, b"SET OK\r\n")


def parse_error_answer(raw: bytes) -> tuple[bytes, str]:
    """The body and ERR CODE of a ``+HTTPCGET`` answer ending in ``ERROR``."""
    body, position = b"", 0
    while raw.startswith(b"+HTTPCGET:", position):
        comma = raw.index(b",", position)
        size = int(raw[position + 10 : comma])
        body += raw[comma + 1 : comma + 1 + size]
        position = comma + 3 + size
    tail = raw[position:].decode()
    assert tail.startswith("ERR CODE:") and tail.endswith("\r\n\r\nERROR\r\n"), tail
    return body, tail[len("ERR CODE:") : tail.index("\r\n")]


async def test_httpcget_zero_rx_size_means_2048(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    image = bytes(range(256)) * 64
    host = module.connect()
    await configure_download(host, server.add("x.bin", image))
    await host.write(b'AT+HTTPCGET="",0,0,0\r\n')
    body, sizes = parse_chunks(await read_until(host, b"\r\nOK\r\n"))
    assert body == image
    assert max(sizes) <= 2048 and len(set(sizes)) > 1 and max(sizes) > 1


async def test_httpcget_zero_timeout_means_5000_ms(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    server.faults.silent = True  # the server takes the request and never answers
    host = module.connect()
    await configure_download(host, server.add("x.bin", b"x" * 100))
    await host.write(b'AT+HTTPCGET="",2048,2048,0\r\n')
    # 5 s, not the 180 s the range allows: the answer comes well within 15 s
    answer = await read_until(host, b"ERROR\r\n", timeout=15.0)
    assert answer == b"ERR CODE:0x010a7000\r\n\r\nERROR\r\n"


@pytest.mark.parametrize(
    ("status", "body"), [(204, b""), (302, b"<html><body>Moved</body></html>")]
)
async def test_any_status_up_to_399_is_success(
    module: RainMakerEmulator, server: FirmwareServer, status: int, body: bytes
) -> None:
    url = server.add("x.bin", b"x" * 100)
    server.faults.status = status
    host = module.connect()
    await configure_download(host, url)
    await host.write(b'AT+HTTPCGET=""\r\n')
    received, _ = parse_chunks(await read_until(host, b"\r\nOK\r\n"))
    assert received == body


@pytest.mark.parametrize(("status", "code"), [(403, "0x010a7193"), (404, "0x010a7194")])
async def test_error_status_body_is_printed_before_error(
    module: RainMakerEmulator, server: FirmwareServer, status: int, code: str
) -> None:
    url = server.add("x.bin", b"x" * 100)
    if status == 403:
        server.revoke(url)
    else:
        server.faults.status = 404
    host = module.connect()
    await configure_download(host, url)
    await host.write(b'AT+HTTPCGET=""\r\n')
    body, err_code = parse_error_answer(await read_until(host, b"\r\nERROR\r\n"))
    assert body.startswith(b'<?xml version="1.0"') and b"<Error><Code>" in body
    assert err_code == code


async def test_httpchead_needs_a_colon_and_takes_more_than_2048_bytes(
    module: RainMakerEmulator,
) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    await host.write(b"AT+HTTPCHEAD=5\r\n")
    await read_until(host, b">")
    await host.write(b"abcde")
    assert await read_until(host, b"ERROR\r\n") == b"\r\nERROR\r\n"
    assert module.headers == []
    long_header = b"X-Long: " + b"v" * 3000
    await host.write(b"AT+HTTPCHEAD=%d\r\n" % len(long_header))
    assert await read_until(host, b">") == b"\r\nOK\r\n\r\n>"
    await host.write(long_header)
    assert await read_until(host, b"OK\r\n") == b"\r\nOK\r\n"
    assert module.headers == [long_header.decode()]


async def test_rmotaresult_checks_the_cloud_first_and_takes_any_type(
    server: FirmwareServer,
) -> None:
    async with RainMakerEmulator(echo=False, cloud_connected=False) as module:
        job = offer(module, server)
        host = module.connect()
        await ask(host, b"AT+SYSLOG=1")
        # malformed *and* no cloud: refused for the cloud (execution failed), not the parameters
        assert (
            await ask(host, b"AT+RMOTARESULT=x", b"ERROR\r\n")
            == b"ERR CODE:0x010a0000\r\n\r\nERROR\r\n"
        )
        module.cloud_connected = True
        await ask(host, b"AT+RMOTAFETCH")
        await read_until(host, b"\r\n")  # +RMFWNOTIFY: the job is pending
        for kind in (b"300", b"-1", b"2147483647"):
            command = b"AT+RMOTARESULT=" + kind + b',"' + job.job_id.encode() + b'",1,"x"'
            assert await ask(host, command) == b"\r\nOK\r\n"
        assert [result.status for result in module.results] == [1, 1, 1]


async def test_rmota_is_not_recorded_while_suppressed(
    module: RainMakerEmulator, server: FirmwareServer
) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    module.module_ota(1)
    assert await read_until(host, b"\r\n") == b"+RMOTA:1\r\n"
    job = offer(module, server)
    await ask(host, b"AT+RMOTAFETCH")
    await read_until(host, b"\r\n")  # +RMFWNOTIFY: host OTA pending, +RMOTA suppressed
    module.module_ota(2)  # neither printed nor recorded
    assert module.module_ota_status == 1
    done = b'AT+RMOTARESULT=0,"' + job.job_id.encode() + b'",2,"ok"'
    assert await ask(host, done) == b"\r\nOK\r\n"
    module.module_ota(2)  # 1 is what the module recorded: 2 is a change, printed now
    assert await read_until(host, b"\r\n") == b"+RMOTA:2\r\n"


async def test_rmota_after_delayed_records_rejected(module: RainMakerEmulator) -> None:
    host = module.connect()
    await ask(host, b"ATE0")
    module.module_ota(2)  # the module boots with "succeeded" recorded: not printed
    module.module_ota(4)  # delayed: printed as 5 and recorded as rejected
    module.module_ota(5)  # rejected: equal to what is recorded, not printed
    module.module_ota(4)  # delayed again: differs from "delayed", printed again
    module.module_ota(1)
    assert await read_until(host, b"+RMOTA:1\r\n") == b"+RMOTA:5\r\n+RMOTA:5\r\n+RMOTA:1\r\n"


async def test_server_answers_403_to_a_non_ascii_signature(server: FirmwareServer) -> None:
    url = server.add("x.bin", b"x" * 10)
    target = url.split(f":{server.port}", 1)[1].rpartition("=")[0] + "=\u00e9"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"))
    async with asyncio.timeout(2.0):
        answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer


def test_public_import_paths_keep_working() -> None:
    import aiodfu.testing as testing
    from aiodfu.testing import rainmaker, rainmaker_http

    assert testing.RainMakerEmulator is rainmaker.RainMakerEmulator
    assert testing.FirmwareServer is rainmaker.FirmwareServer is rainmaker_http.FirmwareServer
    assert testing.HttpFaults is rainmaker_http.HttpFaults
    assert testing.HostJob is rainmaker.HostJob
    assert testing.RainMakerFaults is rainmaker.RainMakerFaults
    assert rainmaker_http.http_get is rainmaker.http_get
    assert rainmaker.ReportedResult.__module__ == "aiodfu.testing.rainmaker.cloud"


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("127.0.0.1:4x", "127.0.0.1:"),  # the port is not a number
        ("[127.0.0.1", "127.0.0.1"),  # an unclosed IPv6 bracket
        ("127.0.0.1:999999", "127.0.0.1:"),  # the port is out of range
        ("htxp://", "http://"),  # no scheme the client knows
    ],
)
async def test_a_url_that_does_not_parse_is_answered_error(
    module: RainMakerEmulator, server: FirmwareServer, wrong: str, right: str
) -> None:
    """Campaign seed 89: a URL corrupted on the UART made the emulator's HTTP client raise
    ValueError in its command task, and the command was never answered. The real module's
    ``esp_http_client_init`` refuses a URL it cannot parse and the command ends in ERROR."""
    url = server.add("x.bin", b"x" * 100).replace(right, wrong, 1)
    host = module.connect()
    await configure_download(host, url)
    await host.write(b'AT+HTTPCGET=""\r\n')
    assert await read_until(host, b"\r\nERROR\r\n") == b"ERR CODE:0x010a7000\r\n\r\nERROR\r\n"
    assert await ask(host, b"AT") == b"\r\nOK\r\n"  # and the module takes the next command
    assert module.downloads == 1 and not module.failures


async def test_gmr_prints_the_version_lines_then_ok() -> None:
    """AT+GMR as the esp-at docs show it: four lines without a +GMR: prefix, an empty line, OK."""
    versions = FirmwareVersions(
        at="2.2.0.0(c6fa6bf - ESP32 - Jul  2 2021 06:44:05)",
        sdk="v4.2.2-76-gefa6eca",
        compile_time="(3a696ba):Jul  2 2021 11:54:43",
        bin="2.2.0(WROOM-32)",
    )
    async with RainMakerEmulator(versions=versions) as module:
        host = module.connect()
        await ask(host, b"ATE0")
        assert await ask(host, b"AT+GMR") == (
            b"AT version:2.2.0.0(c6fa6bf - ESP32 - Jul  2 2021 06:44:05)\r\n"
            b"SDK version:v4.2.2-76-gefa6eca\r\n"
            b"compile time(3a696ba):Jul  2 2021 11:54:43\r\n"
            b"Bin version:2.2.0(WROOM-32)\r\n"
            b"\r\nOK\r\n"
        )
        assert await ask(host, b"AT+GMR?", b"ERROR\r\n") == b"\r\nERROR\r\n"  # execute only
    async with RainMakerEmulator(versions=None) as module:
        host = module.connect()
        await ask(host, b"ATE0")
        assert await ask(host, b"AT+GMR", b"ERROR\r\n") == b"\r\nERROR\r\n"
