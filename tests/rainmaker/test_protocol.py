"""The sans-IO codec: +RMFWNOTIFY parsing (hypothesis), ERR CODE decoding, quoting, redaction."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodfu.rainmaker import FirmwareNotification, parse_err_code, parse_fw_notify, redact
from aiodfu.rainmaker.protocol import (
    NotificationError,
    OtaStatus,
    format_fw_notify,
    parse_rmota,
    quote,
    result_command,
    unquote,
)

EXAMPLE = (
    "+RMFWNOTIFY:0,1740880,https://esp-rainmaker-ota.s3.us-east-1.amazonaws.com/u/X.bin"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20221114&X-Amz-Signature=fa5e04,"
    "d486921-dirty,cpuJraj3cxmAXuw8ER2GAe"
)

url_text = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"'),
    min_size=1,
    max_size=80,
)
job_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=24,
)
versions = st.one_of(st.none(), st.text(alphabet="0123456789.-abcdef", min_size=1, max_size=16))


def test_the_reference_example_parses() -> None:
    job = parse_fw_notify(EXAMPLE)
    assert (job.type, job.size, job.version, job.job_id) == (
        0,
        1740880,
        "d486921-dirty",
        "cpuJraj3cxmAXuw8ER2GAe",
    )
    assert job.url.endswith("X-Amz-Signature=fa5e04")
    assert "Signature" not in repr(job)


@given(
    scheme=st.sampled_from(["http://", "https://"]),
    url=url_text,
    size=st.integers(0, 10**9),
    version=versions,
    job=job_ids,
)
def test_urls_with_commas_round_trip(
    scheme: str, url: str, size: int, version: str | None, job: str
) -> None:
    original = FirmwareNotification(0, size, scheme + url, version, job)
    assert parse_fw_notify(format_fw_notify(original)) == original


def test_the_normative_split_gives_commas_to_the_url() -> None:
    # A comma in the version is ambiguous; the reference's rule keeps the last two fields.
    job = parse_fw_notify("+RMFWNOTIFY:0,10,https://h/p?q=1,1.0,beta,job1")
    assert (job.url, job.version, job.job_id) == ("https://h/p?q=1,1.0", "beta", "job1")
    assert parse_fw_notify("+RMFWNOTIFY:0,10,https://h/p,null,job1").version is None


@pytest.mark.parametrize(
    "line",
    [
        "+RMFWNOTIFY:0,10,https://h/p,1.0",  # four fields
        "+RMFWNOTIFY:x,10,https://h/p,1.0,job",  # type not decimal
        "+RMFWNOTIFY:0,-1,https://h/p,1.0,job",  # size not decimal
        "+RMFWNOTIFY:0,10,ftp://h/p?X-Amz-Signature=secret,1.0,job",  # not http(s)
        "+RMFWNOTIFY:0,10,https://h/p?X-Amz-Signature=secret,1.0,",  # empty job
        "+RMOTA:2",
    ],
)
def test_bad_notifications_fail_loudly_without_the_url(line: str) -> None:
    with pytest.raises(NotificationError) as info:
        parse_fw_notify(line)
    assert "secret" not in str(info.value)


@given(st.text(max_size=200))
def test_the_parser_only_ever_raises_its_own_error(line: str) -> None:
    with contextlib.suppress(NotificationError):
        job = parse_fw_notify("+RMFWNOTIFY:" + line)
        assert job.url.startswith(("http://", "https://")) and " " not in job.job_id


def test_err_codes_decode_http_statuses() -> None:
    code = parse_err_code("ERR CODE:0x010a7194")
    assert code is not None and code.http_status == 404 and str(code) == "0x010a7194"
    expired = parse_err_code("ERR CODE:0x010a7193")
    assert expired is not None and expired.http_status == 403
    failed = parse_err_code("ERR CODE:0x010a7000")
    assert failed is not None and failed.connection_failed and failed.http_status is None
    busy = parse_err_code("ERR CODE:0x010b0000")
    assert busy is not None and busy.subcategory == 0x0B and busy.http_status is None
    assert parse_err_code("ERR CODE:zz") is None
    assert parse_err_code("ERROR") is None


@given(st.text(max_size=60))
def test_quoting_round_trips(text: str) -> None:
    assert unquote(quote(text)) == text


def test_result_command_escapes_the_info() -> None:
    assert (
        result_command("job1", OtaStatus.FAILED, 'bad "crc", see \\log')
        == 'AT+RMOTARESULT=0,"job1",3,"bad \\"crc\\"\\, see \\\\log"'
    )
    assert OtaStatus.SUCCEEDED.closes_job and OtaStatus.REJECTED.closes_job
    assert not OtaStatus.FAILED.closes_job


def test_rmota_lines() -> None:
    assert parse_rmota("+RMOTA:2") == 2
    assert parse_rmota("+RMOTA:x") is None
    assert parse_rmota("+RMFWNOTIFY:0") is None


def test_redaction_keeps_host_and_path_only() -> None:
    text = redact(EXAMPLE)
    assert "X-Amz" not in text
    assert "https://esp-rainmaker-ota.s3.us-east-1.amazonaws.com/u/X.bin?<redacted>" in text
    assert redact("+HTTPURLCFG:20,http://h/p?token=abc") == "+HTTPURLCFG:20,http://h/p?<redacted>"
    assert redact("ftp://h/p?X-Amz-Signature=1") == "ftp://h/p?<redacted>"
    assert "secret" not in redact("junk X-Amz-Signature=secret tail")


def test_one_error_for_notifications_and_the_old_name_warns() -> None:
    from aiodfu import rainmaker
    from aiodfu.core.errors import DfuError, ProtocolError
    from aiodfu.rainmaker import NotificationError as exported
    from aiodfu.rainmaker import errors

    assert exported is NotificationError
    assert issubclass(NotificationError, ProtocolError)
    assert issubclass(NotificationError, ValueError)
    assert not NotificationError.transient
    with pytest.raises(NotificationError) as info:
        parse_fw_notify("+RMFWNOTIFY:x")
    assert isinstance(info.value, DfuError)
    with pytest.warns(DeprecationWarning, match="NotificationError"):
        assert rainmaker.NotificationFormatError is NotificationError
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert errors.NotificationFormatError is NotificationError
    with pytest.raises(AttributeError):
        _ = rainmaker.NoSuchName


def test_timeouts_are_validated_and_scale() -> None:
    import attrs

    from aiodfu.rainmaker import Timeouts

    with pytest.raises(ValueError, match="chunk_gap"):
        attrs.evolve(Timeouts(), chunk_gap=10.0)  # below the module's own 30 s
    with pytest.raises(ValueError, match="positive"):
        attrs.evolve(Timeouts(), command=0)
    with pytest.raises(ValueError, match="180000"):
        attrs.evolve(Timeouts(), http_timeout_ms=200_000, first_chunk=300, chunk_gap=300)
    fast = Timeouts().scaled(0.01)
    assert fast.command == pytest.approx(0.05)
    assert fast.http_timeout_parameter == 300  # a whole number of milliseconds on the wire
