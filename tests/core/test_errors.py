from aiodfu.core.errors import (
    CommandRejectedError,
    DfuError,
    DfuTimeoutError,
    ImageError,
    LinkLostError,
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
