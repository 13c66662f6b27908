from pathlib import Path

import pytest

from aiodfu import load_image
from aiodfu.core.errors import (
    CommandRejectedError,
    DfuError,
    DfuTimeoutError,
    ImageError,
    ImageFileNotFoundError,
    LinkLostError,
    RetriesExhaustedError,
)


def test_errors_inherit_the_stdlib_type_that_fits() -> None:
    assert isinstance(DfuTimeoutError("x"), TimeoutError)
    assert isinstance(LinkLostError("x"), ConnectionError)
    assert isinstance(ImageError("x"), ValueError)
    assert all(isinstance(e("x"), DfuError) for e in (DfuTimeoutError, LinkLostError, ImageError))


def test_message_names_operation_offset_and_device_status() -> None:
    error = CommandRejectedError(
        "the device answered 'ERROR'",
        operation="AT#XDFUWRITE=0,4096,4096",
        offset=4096,
        status="ERROR",
    )
    text = str(error)
    assert "AT#XDFUWRITE=0,4096,4096" in text
    assert "offset 4096" in text
    assert "device status ERROR" in text
    assert error.status == "ERROR" and error.offset == 4096


def test_transient_classification() -> None:
    assert DfuTimeoutError("x").transient
    assert LinkLostError("x").transient
    assert not ImageError("x").transient
    assert not CommandRejectedError("x").transient


def _streak(*failures: DfuError) -> list[DfuError]:
    return list(failures)


def test_retries_exhausted_after_timeouts_only_is_also_a_timeout_error() -> None:
    error = RetriesExhaustedError.after(
        _streak(DfuTimeoutError("a", offset=4), DfuTimeoutError("b", operation="AT", offset=8)),
        "update failed",
    )
    assert isinstance(error, TimeoutError) and not isinstance(error, ConnectionError)
    assert (error.operation, error.offset) == ("AT", 8)
    assert isinstance(error.__cause__, DfuTimeoutError)


def test_retries_exhausted_after_link_losses_only_is_also_a_connection_error() -> None:
    error = RetriesExhaustedError.after(_streak(LinkLostError("a"), LinkLostError("b")), "x")
    assert isinstance(error, ConnectionError) and not isinstance(error, TimeoutError)


def test_retries_exhausted_after_mixed_failures_is_neither() -> None:
    error = RetriesExhaustedError.after(_streak(LinkLostError("a"), DfuTimeoutError("b")), "x")
    assert not isinstance(error, TimeoutError | ConnectionError)
    assert isinstance(error, RetriesExhaustedError)


def test_load_image_of_a_missing_file_is_a_dfu_error_and_a_file_not_found_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ImageFileNotFoundError) as info:
        load_image(tmp_path / "missing.bin")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DfuError)
    assert "missing.bin" in str(info.value)
