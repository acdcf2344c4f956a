"""Labelling by hand (r2etl_core.io.label_editing): marks, cuts, undo, valid sidecars."""

from __future__ import annotations

import os

import pytest

from r2etl_core.errors import InputError
from r2etl_core.io.label_editing import (
    OPEN_END_US,
    LabelEditor,
    OpenSegment,
    cut,
    insert,
    label_keys,
    parse_class_names,
    segment_problem,
    sidecar_path,
    write_sidecar,
)
from r2etl_core.io.labels import LabelSegment as Seg
from r2etl_core.io.labels import read_labels


def test_marks_open_close_and_switch_segments():
    ed = LabelEditor()
    assert ed.mark("3", 100) and ed.open == OpenSegment(100, "3") and ed.segments == ()
    assert not ed.mark("3", 150)  # the same key again does not split the segment
    assert ed.mark("5", 200)  # another label ends the open one where it starts
    assert ed.segments == (Seg(100, 200, "3"),) and ed.open == OpenSegment(200, "5")
    assert ed.mark(None, 260)  # "none" only ends it
    assert ed.segments == (Seg(100, 200, "3"), Seg(200, 260, "5")) and ed.open is None
    assert not ed.mark(None, 300)  # nothing open: nothing to do


def test_an_empty_segment_is_dropped_not_saved():
    ed = LabelEditor()
    ed.mark("a", 100)
    ed.mark("b", 100)  # two keys within the same slice
    assert ed.segments == () and ed.open == OpenSegment(100, "b")
    ed.mark(None, 90)  # time went back (a seek): no segment that ends before it starts
    assert ed.segments == () and ed.open is None


def test_a_new_segment_cuts_what_it_overlaps():
    old = (Seg(0, 100, "a"), Seg(100, 200, "b"), Seg(200, 300, "c"), Seg(400, 500, "d"))
    assert cut(old, 50, 250) == (Seg(0, 50, "a"), Seg(250, 300, "c"), Seg(400, 500, "d"))
    assert cut(old, 120, 150) == (Seg(0, 100, "a"), Seg(100, 120, "b"), Seg(150, 200, "b"),
                                  Seg(200, 300, "c"), Seg(400, 500, "d"))
    assert insert(old, Seg(50, 250, "x")) == (Seg(0, 50, "a"), Seg(50, 250, "x"), Seg(250, 300, "c"),
                                              Seg(400, 500, "d"))
    ed = LabelEditor(reversed(old))  # any order in, sorted inside
    ed.mark("x", 350)
    ed.mark(None, 450)
    assert ed.segments == (*old[:3], Seg(350, 450, "x"), Seg(450, 500, "d"))
    assert segment_problem(ed.segments) is None


def test_undo_restores_the_state_before_each_mark():
    old = (Seg(0, 100, "a"),)
    ed = LabelEditor(old)
    ed.mark("x", 50)
    ed.mark("y", 80)
    ed.mark(None, 120)
    assert ed.segments == (Seg(0, 50, "a"), Seg(50, 80, "x"), Seg(80, 120, "y"))
    # back to "y" still open: the rest of "a" is only cut once "y" ends
    assert ed.undo() and ed.open == OpenSegment(80, "y")
    assert ed.segments == (Seg(0, 50, "a"), Seg(50, 80, "x"), Seg(80, 100, "a"))
    assert ed.undo() and ed.segments == old and ed.open == OpenSegment(50, "x")
    assert ed.undo() and ed.segments == old and ed.open is None
    assert not ed.undo() and not ed.can_undo


def test_what_is_saved_and_what_is_shown_while_a_segment_is_open():
    ed = LabelEditor((Seg(0, 100, "a"), Seg(300, 400, "b")))
    ed.mark("x", 50)
    assert ed.segments_until(200) == (Seg(0, 50, "a"), Seg(50, 200, "x"), Seg(300, 400, "b"))
    assert ed.segments == (Seg(0, 100, "a"), Seg(300, 400, "b"))  # nothing committed yet
    assert ed.view_segments() == (Seg(0, 50, "a"), Seg(50, OPEN_END_US, "x"))


def test_invalid_segments_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        LabelEditor((Seg(0, 100, "a"), Seg(50, 150, "b")))
    assert "not after its start" in segment_problem((Seg(10, 10, "a"),))
    assert "unusable label" in segment_problem((Seg(0, 1, " a"),))


def test_sidecar_is_written_atomically_and_reads_back(tmp_path):
    rec = tmp_path / "take1.aedat4"
    path = sidecar_path(rec)
    assert path == tmp_path / "take1.labels.csv"
    segs = (Seg(1_633_953_690_975_950, 1_633_953_691_000_000, "cat"),
            Seg(1_633_953_691_000_000, 1_633_953_691_050_000, "a,b"))
    write_sidecar(path, segs)
    assert path.read_text().splitlines()[:2] == ["start_us,end_us,label", "1633953690975950,1633953691000000,cat"]
    assert tuple(read_labels(path)) == segs
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    before = path.read_text()
    with pytest.raises(InputError, match="labels not saved"):
        write_sidecar(path, (Seg(5, 1, "x"),))
    assert path.read_text() == before and os.listdir(tmp_path) == ["take1.labels.csv"]


def test_unwritable_folder_is_one_line_error(tmp_path):
    with pytest.raises(InputError, match="cannot write labels"):
        write_sidecar(tmp_path / "missing" / "x.labels.csv", (Seg(0, 1, "a"),))


def test_class_names_and_their_keys():
    assert parse_class_names(" cat, dog,,cat , bird ") == ("cat", "dog", "bird")
    with pytest.raises(InputError, match="longer than"):
        parse_class_names("x" * 100)
    digits = tuple(str(i) for i in range(10))
    assert label_keys(digits) == digits  # digit classes keep their own key
    assert label_keys(("cat", "dog", "3")) == ("1", "2", "3")
    keys = label_keys(tuple(f"class{i}" for i in range(40)))
    assert keys[:11] == tuple("1234567890a") and keys[11] == "b" and keys[12] == "d"  # no "c"
    assert keys[-1] is None and len(set(keys[:35])) == 35
