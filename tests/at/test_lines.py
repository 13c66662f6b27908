from hypothesis import given
from hypothesis import strategies as st

from aiodfu.at.lines import LineSplitter

lines_st = st.lists(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    max_size=20,
)


@given(lines_st, st.data())
def test_any_split_of_the_stream_gives_the_same_lines(
    lines: list[str], data: st.DataObject
) -> None:
    wire = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    splitter = LineSplitter()
    got: list[str] = []
    previous = 0
    for cut in [*cuts, len(wire)]:
        got += splitter.feed(wire[previous:cut])
        previous = cut
    assert got == lines


def test_garbage_never_raises_and_empty_lines_vanish() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\x00\xff\xfe\r\n\r\n\n  OK \r\n") == ["\x00\xff\xfe", "OK"]


def test_overlong_line_is_cut_not_buffered_forever() -> None:
    splitter = LineSplitter(max_line=16)
    out = splitter.feed(b"x" * 40)
    assert out == ["x" * 40]
    assert splitter.feed(b"OK\r\n") == ["OK"]
