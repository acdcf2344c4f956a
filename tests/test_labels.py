"""The labels sidecar: absolute timestamps, strict rows, lookups at segment edges."""

from __future__ import annotations

import pytest

from r2etl_core.errors import InputError
from r2etl_core.io.labels import LabelSegment, label_at, labels_path_for, read_labels, write_labels


def write(tmp_path, text: str, name: str = "rec.labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_absolute_segments_sorted(tmp_path):
    path = write(tmp_path, "start_us,end_us,label\n"
                           "1633953691050000,1633953691105950,7\n\n"
                           "1633953690975950,1633953691050000,3\n")
    assert read_labels(path) == [LabelSegment(1633953690975950, 1633953691050000, "3"),
                                 LabelSegment(1633953691050000, 1633953691105950, "7")]


def test_label_at_uses_half_open_segments():
    segs = [LabelSegment(100, 200, "a"), LabelSegment(200, 300, "b"), LabelSegment(400, 500, "c")]
    assert [label_at(segs, t) for t in (99, 100, 199, 200, 299, 300, 399, 400, 499, 500)] == \
        [None, "a", "a", "b", "b", None, None, "c", "c", None]
    assert label_at([], 5) is None


@pytest.mark.parametrize("text,message", [
    ("start,end,label\n1,2,a\n", "must start with the header line start_us,end_us,label"),
    ("", "must start with the header"),
    ("start_us,end_us,label\n1,2\n", "line 2: expected 3 fields"),
    ("start_us,end_us,label\n1,2,a\n0.5,3,b\n", "line 3: start_us and end_us must be whole microseconds"),
    ("start_us,end_us,label\n5,5,a\n", "line 2: end_us 5 is not after start_us 5"),
    ("start_us,end_us,label\n1,5, \n", "line 2: empty label"),
    ("start_us,end_us,label\n1,50,a\n40,60,b\n", "segments overlap: a [1, 50) and b starting at 40"),
])
def test_malformed_files_name_the_problem(tmp_path, text, message):
    with pytest.raises(InputError) as err:
        read_labels(write(tmp_path, text))
    assert message in str(err.value)
    assert err.value.where.endswith("rec.labels.csv")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="labels file not found"):
        read_labels(tmp_path / "none.labels.csv")


def test_sidecar_lookup(tmp_path):
    rec = tmp_path / "take1.aedat4"
    assert labels_path_for(rec) is None
    sidecar = write(tmp_path, "start_us,end_us,label\n", "take1.labels.csv")
    assert labels_path_for(rec) == sidecar
    assert labels_path_for(str(rec)) == sidecar
    assert labels_path_for("camera") is None and labels_path_for("127.0.0.1:7777") is None


def test_write_then_read(tmp_path):
    segs = [LabelSegment(400_000, 720_000, "0"), LabelSegment(0, 320_000, "5")]
    path = write_labels(tmp_path / "x.labels.csv", segs)
    assert read_labels(path) == sorted(segs, key=lambda s: s.start_us)


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_a_utf8_bom_is_accepted(tmp_path, quoted):
    """Spreadsheet programs save "CSV UTF-8" with a byte-order mark before the header."""
    path = tmp_path / "x.labels.csv"
    label = '"3"' if quoted else "3"
    path.write_bytes(b"\xef\xbb\xbf" + f"start_us,end_us,label\n10,20,{label}\n".encode())
    assert read_labels(path) == [LabelSegment(10, 20, "3")]
