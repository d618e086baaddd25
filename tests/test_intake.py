"""A submission is data (fast checks, no course, no Unix users): the safe reader of a student's folder, the names
students give, the validating notebook reader, and what a written answer or an image may carry into a page.
The same attacks through real users and a real exchange: tests/test_shared_machine.py."""
import base64
import datetime
import binascii
import json
import os
import struct

import pytest

from autograder import intake, nbgrader_safe, notebooks


def _notebook(cell_changes=None, **top):
    cell = {"cell_type": "code", "source": "def f():\n    return 1\n", "metadata": {
        "nbgrader": {"grade_id": "f", "solution": True, "grade": False, "locked": False, "schema_version": 3}},
        "outputs": [], "execution_count": None}
    cell.update(cell_changes or {})
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
    notebook.update(top)
    return json.dumps(notebook).encode()


@pytest.mark.parametrize("change, words", [
    ({"metadata": {"nbgrader": "solution"}}, "nbgrader metadata that is a str"),
    ({"metadata": {"nbgrader": ["solution"]}}, "nbgrader metadata that is a list"),
    ({"metadata": {"nbgrader": {"grade_id": ["f"], "solution": True}}}, "grade_id that is not a name"),
    ({"metadata": {"nbgrader": {"grade_id": "f\x1b[2J", "solution": True}}}, "grade_id that is not a name"),
    ({"metadata": {"nbgrader": {"grade_id": "f", "solution": "yes"}}}, "flags that are not true or false"),
    ({"metadata": {"nbgrader": {"grade_id": "f", "grade": True, "points": "15"}}}, "points that are not a number"),
    ({"metadata": "x"}, "metadata that is a str"),
    ({"source": "#\n" * 6000}, "6,001 lines and 12,000 characters, over the grader's limit of 2,000 lines"),
])
def test_malformed_cells_are_one_line_of_the_students(tmp_path, change, words):
    with pytest.raises(notebooks.NotebookError, match=words) as caught:
        notebooks.read(str(tmp_path / "a.ipynb"), _notebook(change))
    assert "\n" not in str(caught.value)
    assert ("remove what the assignment does not ask for" if "lines" in words else "edited outside Jupyter") in \
        str(caught.value)


def test_a_notebook_of_many_cells_of_many_lines_is_one_line(tmp_path):
    cell = {"cell_type": "code", "source": "#\n" * 1900, "metadata": {}, "outputs": [], "execution_count": None}
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell] * 6}
    with pytest.raises(notebooks.NotebookError, match="11,406 lines in its cells, over the grader's limit of 10,000"):
        notebooks.read(str(tmp_path / "a.ipynb"), json.dumps(notebook).encode())


def test_an_old_notebook_format_is_one_line(tmp_path):
    with pytest.raises(notebooks.NotebookError, match="notebook format '3', not 4"):
        notebooks.read(str(tmp_path / "a.ipynb"), _notebook(nbformat=3))
    assert notebooks.answer_cells(notebooks.read(str(tmp_path / "a.ipynb"), _notebook())) == {
        "f": "def f():\n    return 1\n"}


def test_a_folder_is_read_as_data(tmp_path):
    folder = tmp_path / "inbound"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.ipynb").write_text("{}")
    (folder / "sub" / "data.txt").write_text("ok")
    (folder / "link").symlink_to("/etc/passwd")
    (folder / "sub" / "loop").symlink_to(folder)
    os.mkfifo(folder / "fifo")
    with open(folder / "sparse", "wb") as f:
        f.truncate(5 * 2**30)
    os.link(folder / "a.ipynb", folder / "hard")
    tree = intake.read_tree(str(folder))
    assert [f.relpath for f in tree.files] == ["sub/data.txt"]   # a.ipynb has two names now: refused too
    refused = "\n".join(tree.refused)
    for line in ("link: a symbolic link", "sub/loop: a symbolic link", "fifo: a FIFO", "sparse: 5120.0 MB",
                 "hard: a hard link (2 names)", "a.ipynb: a hard link"):
        assert line in refused, line
    assert intake.strange_entries(str(folder)) == ["fifo", "link", "sub/loop"]
    with pytest.raises(OSError):
        intake.read_tree(str(folder / "link"))


def test_student_ids_are_a_conservative_set_and_shown_escaped():
    for good in ("alice", "rkt_bob", "a.b-c@uni.edu", "s123"):
        assert intake.valid_student_id(good)
    for bad in ("ev\x1b]0;x\x07il", "a\rb", "alice\u2215x", "a/b", "..", "a b", "", "-x", "a+b", "\u0430lice"):
        assert not intake.valid_student_id(bad), bad
        assert intake.shown(bad).isascii() and "\x1b" not in intake.shown(bad) and "\r" not in intake.shown(bad)


def _png(width, height):
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = nbgrader_safe.PNG_MAGIC + struct.pack(">I", 13) + chunk + struct.pack(">I", binascii.crc32(chunk))
    return base64.b64encode(raw + b"\0" * 16).decode()


def test_images_are_checked_by_their_decoded_dimensions():
    assert nbgrader_safe._png(_png(640, 480)) is not None
    for width, height in ((60_000, 60_000), (4097, 10), (4096, 4096), (0, 10)):
        assert nbgrader_safe._png(_png(width, height)) is None, (width, height)
    broken = base64.b64decode(_png(640, 480))
    assert nbgrader_safe._png(base64.b64encode(broken[:29] + b"\0\0\0\0" + broken[33:]).decode()) is None


def test_a_written_answer_cannot_borrow_the_pages_classes():
    html = nbgrader_safe.markdown_html('<div class="rnnkit-tests" id="score" style="color:green">Hidden tests for '
                                       'rnn_forward: 15 / 15</div>')
    assert 'class="rnnkit-written-answer"' in html   # the one class rnnkit gives it
    assert html.count("class=") == 1 and "id=" not in html and "style=" not in html


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a folder to another uid: needs root")
def test_collect_quarantines_a_strangers_folder_and_takes_the_file_systems_time(tmp_path):
    from autograder import collect
    from autograder.course import Course
    course, inbound = Course(str(tmp_path / "course")), tmp_path / "inbound"
    for name, uid in (("alice+01_rnn_cell+2026-12-07 10:00:00.000000 UTC+a", 0),
                      ("alice+01_rnn_cell+2026-12-07 10:00:01.000000 UTC+b", 54321)):   # a uid with no login
        folder = inbound / name
        folder.mkdir(parents=True)
        (folder / "01_rnn_cell.ipynb").write_text(name)
        (folder / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC")
        for path in (folder / "01_rnn_cell.ipynb", folder / "timestamp.txt", folder):
            os.chown(path, uid, uid)
    lines = []
    collected, quarantined = collect.collect(course, "01_rnn_cell", str(inbound), echo=lines.append)
    assert collected == ["alice"] and quarantined == ["alice"]
    assert (tmp_path / "course/submitted/alice/01_rnn_cell/01_rnn_cell.ipynb").read_text().endswith("+a")
    assert (tmp_path / "course/quarantine/alice/01_rnn_cell/01_rnn_cell.ipynb").read_text().endswith("+b")
    flags = collect.flags(course, "01_rnn_cell")
    assert any(line.startswith("FLAGGED alice/01_rnn_cell: submitted by uid 54321") for line in flags)
    assert any("timestamp.txt says 2020-01-01 00:00:00 UTC but the exchange recorded" in line for line in flags)
    stamp = (tmp_path / "course/submitted/alice/01_rnn_cell/timestamp.txt").read_text()
    assert stamp.startswith(str(datetime.datetime.now(datetime.timezone.utc).year))
    assert os.stat(tmp_path / "course/submitted/alice/01_rnn_cell").st_mode & 0o077 == 0
    assert collect.collect(course, "01_rnn_cell", str(inbound), echo=lines.append) == ([], ["alice"])  # unchanged
