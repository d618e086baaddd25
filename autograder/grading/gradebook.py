"""Hands the hidden suite's scores to nbgrader: the gradebook, and an autograded notebook for its feedback.

The autograded notebook is the released notebook with the student's answers put back in and, as the output of
each ``test_<item>`` cell, the hidden suite's report for that item. It contains no hidden test code (there is none
in any notebook), so ``nbgrader generate_feedback`` renders it as it is.
"""
import os
import shutil
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
        meta = notebooks.nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id in theirs and theirs[grade_id].get("cell_type") == cell.cell_type:
            answer = nbformat.from_dict(dict(theirs[grade_id]))
            answer.source = notebooks.cell_source(answer)
            answer.metadata["nbgrader"] = meta  # the released metadata, never the student's
            if answer.cell_type == "code":
                answer.outputs, answer.execution_count = [], None
            released.cells[index] = answer
        elif cell.cell_type == "code" and meta.get("grade") and grade_id.startswith("test_"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=_report(grade_id[len("test_"):], results))]
    target = course.autograded_dir(student, assignment)
    os.makedirs(target, exist_ok=True)
    path = os.path.join(target, f"{assignment}.ipynb")
    nbformat.write(released, path)
    stamp = os.path.join(os.path.dirname(course.submitted_notebook(student, assignment)), "timestamp.txt")
    if os.path.exists(stamp):
        shutil.copy(stamp, os.path.join(target, "timestamp.txt"))
    return released


def record(course, student, assignment, results, notebook):
    """Writes the scores of ``results`` (and the automatic part of written answers) into nbgrader's gradebook."""
    stamp = os.path.join(os.path.dirname(course.submitted_notebook(student, assignment)), "timestamp.txt")
    timestamp = None
    if os.path.exists(stamp):
        with open(stamp) as f:
            timestamp = nbgrader_utils.parse_utc(f.read().strip())
    items = results.items()
    with warnings.catch_warnings(), Gradebook(course.db_url) as gb:
        # nbgrader's own submission code trips SQLAlchemy's autoflush notices; they say nothing about our data
        warnings.simplefilter("ignore", category=sqlalchemy.exc.SAWarning)
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        for cell in notebook.cells:
            meta = notebooks.nbgrader_meta(cell)
            if not meta.get("grade"):
                continue
            try:
                entry = gb.find_grade(meta["grade_id"], assignment, assignment, student)
            except MissingEntry:
                continue
            if meta.get("solution"):  # a written answer: 0 if untouched, else waiting for a human
                entry.auto_score, _ = nbgrader_utils.determine_grade(cell)
            else:
                entry.auto_score = items.get(meta["grade_id"][len("test_"):], ItemScore(0.0, 0.0)).score
            entry.needs_manual_grade = entry.manual_score is not None or entry.auto_score is None
        gb.db.commit()
