"""Hands the hidden suite's scores to nbgrader: the gradebook, and an autograded notebook for its feedback.

The autograded notebook is the released notebook with the student's answers put back in and, as the output of
each ``test_<item>`` cell, the hidden suite's report for that item. It contains no hidden test code (there is none
in any notebook), so ``nbgrader generate_feedback`` renders it as it is.
"""
import html
import os
import warnings

import sqlalchemy.exc

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader import utils as nbgrader_utils

from autograder import notebooks
from autograder.results import ItemScore, points


def _report(grade_id, results):
    lines = []
    for test in results.item_tests(grade_id):
        lines.append(f"{'✓' if test.passed else '✗'} {test.name} [{points(test.score):g}/{points(test.max_score):g}]")
        lines += ["    " + line for line in test.message.splitlines()] if not test.passed else []
    item = results.items().get(grade_id, ItemScore(0.0, 0.0))
    return f"Hidden tests for {grade_id}: {item.score:g} / {item.max_score:g} points\n" + "\n".join(lines) + "\n"


def _timestamp_text(course, student, assignment):
    """The submission's ``timestamp.txt`` (nbgrader writes it), if it is a small regular file: a symbolic link
    planted there must not copy another file into ``autograded/``."""
    path = os.path.join(os.path.dirname(course.submitted_notebook(student, assignment)), "timestamp.txt")
    try:
        return notebooks.read_bytes(path, limit=256).decode("ascii").strip() or None
    except (notebooks.NotebookError, UnicodeDecodeError):
        return None


def autograded_notebook(course, student, assignment, results):
    """Writes ``autograded/<student>/<assignment>/<assignment>.ipynb`` and returns it."""
    released = notebooks.read(os.path.join(course.release_dir(assignment), f"{assignment}.ipynb"))
    try:
        submitted = notebooks.read(course.submitted_notebook(student, assignment))
        theirs = {notebooks.nbgrader_meta(c).get("grade_id"): c for c in submitted.cells
                  if notebooks.nbgrader_meta(c).get("grade_id")}
    except notebooks.NotebookError:
        theirs = {}
    for index, cell in enumerate(released.cells):
        meta, kind = notebooks.nbgrader_meta(cell), notebooks.cell_kind(cell)
        grade_id = meta.get("grade_id")
        if kind in (notebooks.ANSWER, notebooks.WRITTEN) and grade_id in theirs \
                and theirs[grade_id].get("cell_type") == cell.cell_type:
            answer = nbformat.from_dict(dict(theirs[grade_id]))
            answer.source = notebooks.cell_source(answer)
            if answer.cell_type != "code":  # markdown passes raw HTML through to the feedback page: show it as text
                answer.source = html.escape(answer.source, quote=False)
            answer.metadata["nbgrader"] = meta  # the released metadata, never the student's
            if answer.cell_type == "code":
                answer.outputs, answer.execution_count = [], None
            released.cells[index] = answer
        elif kind == notebooks.CHECK and cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=_report(notebooks.checked_item(cell), results))]
    target = course.autograded_dir(student, assignment)
    os.makedirs(target, exist_ok=True)
    path = os.path.join(target, f"{assignment}.ipynb")
    nbformat.write(released, path)
    stamp = _timestamp_text(course, student, assignment)
    if stamp:
        with open(os.path.join(target, "timestamp.txt"), "w") as f:
            f.write(stamp)
    return released


def record(course, student, assignment, results, notebook):
    """Writes the scores of ``results`` (and the automatic part of written answers) into nbgrader's gradebook."""
    stamp = _timestamp_text(course, student, assignment)
    try:
        timestamp = nbgrader_utils.parse_utc(stamp) if stamp else None
    except (ValueError, OverflowError):
        timestamp = None
    items = results.items()
    with warnings.catch_warnings(), Gradebook(course.db_url) as gb:
        # nbgrader's own submission code trips SQLAlchemy's autoflush notices; they say nothing about our data
        warnings.simplefilter("ignore", category=sqlalchemy.exc.SAWarning)
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        for cell in notebook.cells:
            kind = notebooks.cell_kind(cell)
            if kind not in (notebooks.CHECK, notebooks.WRITTEN):
                continue
            try:
                entry = gb.find_grade(notebooks.nbgrader_meta(cell)["grade_id"], assignment, assignment, student)
            except MissingEntry:
                continue
            if kind == notebooks.WRITTEN:  # 0 if untouched, else waiting for a human
                entry.auto_score, _ = nbgrader_utils.determine_grade(cell)
            else:
                entry.auto_score = items.get(notebooks.checked_item(cell), ItemScore(0.0, 0.0)).score
            entry.needs_manual_grade = entry.manual_score is not None or entry.auto_score is None
        gb.db.commit()
