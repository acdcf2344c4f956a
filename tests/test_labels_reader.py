"""The labels reader's fast column-wise path accepts and rejects exactly what the row-by-row
(csv module) path does, and unusual files (huge fields, pipes, unreadable) give one line."""

from __future__ import annotations

import os

import pytest

from r2etl_core.errors import InputError
from r2etl_core.io import labels as labels_module
from r2etl_core.io.labels import MAX_LABEL_CHARS, LabelSegment, read_labels

H = "start_us,end_us,label\n"
TEXTS = [
    H + "1,2,a\n3,4,b\n",
    H + "3,4,b\n1,2,a\n\n\n5,9, c \n",  # unsorted, blank lines, padded label
    H + " 1 , 2 ,a\n+3,4_0,b\n",  # what int() accepts, the fast path must accept too
    "\n\n" + H + "1,2,a",  # blank lines before the header, no final newline
    " start_us , end_us ,label \n1,2,a\n",  # header fields are stripped
    H + "1,2,a\r\n3,4,b\r\n",  # CRLF
    H + '1,2,"a,b"\n3,4,"say ""hi"""\n',  # quoted labels: csv path
    H + "1,2,a,b\n3,4\n",  # 4 fields then 2: must not be re-aligned into two good rows
    H + "1,2,3,4\n5,6\n",
    H + "1,2\n",
    H + "1,2,a\n0.5,3,b\n",
    H + "1,2,a\nx,3,b\n",
    H + "1,2,a\n5,5,b\n",
    H + "1,2, \n",
    H + "1,50,a\n40,60,b\n",
    H + "40,60,b\n1,50,a\n",
    H + "9223372036854775808,9223372036854775809,a\n",  # past int64
    H + "-5,-1,a\n",
    H + f"1,2,{'x' * (MAX_LABEL_CHARS + 1)}\n",
    H + "1," + "9" * 5000 + ",a\n",  # more digits than int() parses
    H + "1,2,a\x00b\n",
    H + "1,2,a\x0b3,4,b\n",  # vertical tab: a line break for str.splitlines
    H + "1,2,Zürich\n3,4, 数字 \n5,6,a b\n7,8,\ta\t\n",  # UTF-8, inner and outer whitespace
    H + "1,2,a-label-wider-than-sixteen-bytes\n3,4,b\n",
    H + "007,008,a\n999999999999999999,1000000000000000000,b\n",  # leading zeros, 18 and 19 digits
    H + "1,2,\u00a0\n",  # a label of Unicode whitespace only is empty
    H + "1,2,-\n-3,-2,a\n-,1,b\n",
    H + " \n",  # a line of one space is a row of one field
    H,  # header only: no segments
    "start_us,end_us,label,\n1,2,a\n",
    "start,end,label\n1,2,a\n",
    "",
    "\n \n",
]


def outcome(path):
    try:
        return read_labels(path)
    except InputError as exc:
        return f"InputError: {exc}"


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_fast_path_agrees_with_the_row_by_row_reader(tmp_path, monkeypatch, index):
    path = tmp_path / "r.labels.csv"
    path.write_bytes(TEXTS[index].encode())
    fast = outcome(path)
    monkeypatch.setattr(labels_module, "_fast_columns", lambda text: None)
    assert fast == outcome(path)
    assert isinstance(fast, str) or all(type(s.start_us) is int for s in fast)


def test_plain_files_take_the_fast_path_and_sort_like_sorted(tmp_path):
    text = H + "30,40,c\n10,20,a\n\n20,30,b\n"
    assert labels_module._fast_columns(text) is not None
    assert labels_module._fast_columns(H + '1,2,"a"\n') is None
    for plain in ("1,2,Zürich\n", "1,2,a-label-wider-than-sixteen-bytes\n", "-5,-1,a\n", ""):
        assert labels_module._fast_columns(H + plain) is not None, plain
    assert labels_module._fast_columns(H + "1,1000000000000000000,a\n") is None  # 19 digits: csv path
    path = tmp_path / "r.labels.csv"
    path.write_text(text)
    segments = read_labels(path)
    expected = [LabelSegment(10, 20, "a"), LabelSegment(20, 30, "b"), LabelSegment(30, 40, "c")]
    assert segments == expected and [hash(s) for s in segments] == [hash(s) for s in expected]
    assert [vars(s) for s in segments] == [vars(s) for s in expected]
    with pytest.raises(AttributeError):  # still frozen
        segments[0].label = "z"


def test_a_200000_character_field_is_one_line_naming_file_and_line(tmp_path):
    for text in (H + "1,2,a\n3,4," + "x" * 200_000 + "\n", H + '1,2,a\n3,4,"' + "x" * 200_000 + '"\n'):
        path = tmp_path / "huge.labels.csv"
        path.write_text(text)
        with pytest.raises(InputError) as err:
            read_labels(path)
        message = str(err.value)
        assert message.startswith(str(path)) and "line 3" in message and len(message) < 300


def test_pipe_folder_and_unreadable_files_are_named_not_read(tmp_path, monkeypatch):
    fifo = tmp_path / "p.labels.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_labels(fifo)  # would block forever if it were opened
    with pytest.raises(InputError, match="is a folder"):
        read_labels(tmp_path)
    path = tmp_path / "r.labels.csv"
    path.write_text(H)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(path) else real_access(p, mode))
    with pytest.raises(InputError, match="permission denied"):
        read_labels(path)
