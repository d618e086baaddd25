"""A submission that cannot be graded gets 0 for what it breaks and a clear message, and never stops the others;
nothing graded is lost or redone when the grader runs again."""
import json
import os

import pytest

from autograder.grading import batch
from autograder.simulation import submissions
from tests.conftest import grade_class

A1 = "01_rnn_cell"


def scores(results):
    return {item: s.score for item, s in results.items().items()}


def delete_cell(grade_id):
    def edit(notebook):
        notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return edit


def rename_cell(grade_id):
    def edit(notebook):
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                cell.metadata["nbgrader"]["grade_id"] = grade_id + "_copy"
    return edit


def corrupt(notebook):
    return json.dumps({"cells": "not a list"})[:-5]  # truncated, invalid JSON


@pytest.fixture(scope="module")
def broken_class(built, level):
    course, answers = built
    reference = answers[A1]
    class_ = {
        "corrupt": (reference, corrupt),
        "deleted": (reference, delete_cell("rnn_forward")),
        "renamed": (reference, rename_cell("output_layer")),
        "importerror": {**reference, "RNNCell": "import a_module_that_does_not_exist\n" + reference["RNNCell"]},
        "fine": reference,
    }
    return course, grade_class(course, A1, class_, level)


def test_invalid_json_scores_zero_with_a_message(broken_class):
    _, results = broken_class
    assert results["corrupt"].score == 0
    assert "not valid JSON" in results["corrupt"].note


def test_deleted_or_renamed_cell_loses_only_its_item(broken_class):
    _, results = broken_class
    deleted, renamed = scores(results["deleted"]), scores(results["renamed"])
    assert deleted["rnn_forward"] == 0 and deleted["rnn_cell_forward"] == 2 and deleted["RNNCell"] == 3
    assert renamed["output_layer"] == 0 and renamed["rnn_backward"] == 4
    assert any("missing from your notebook" in t.message for t in results["deleted"].tests)


def test_import_error_loses_only_its_item(broken_class):
    _, results = broken_class
    got = scores(results["importerror"])
    assert got["RNNCell"] == 0 and got["rnn_backward"] == 4
    assert any("ModuleNotFoundError" in t.message for t in results["importerror"].tests)


def test_others_are_graded_in_the_same_run(broken_class):
    _, results = broken_class
    assert results["fine"].score == results["fine"].max_score


def test_a_second_run_keeps_what_is_graded_and_regrades_what_changed(broken_class, level):
    course, results = broken_class
    before = os.path.getmtime(course.results_file("fine", A1))
    lines = []
    batch.autograde(course, [A1], ["fine", "deleted"], level, echo=lines.append)
    assert all("unchanged, kept" in line for line in lines), lines
    assert os.path.getmtime(course.results_file("fine", A1)) == before
    submissions.submit(course, "deleted", A1, submissions.reference_answers(course, A1))  # resubmitted, now complete
    lines = []
    graded, _ = batch.autograde(course, [A1], ["deleted"], level, echo=lines.append)
    assert "kept" not in lines[0] and graded[("deleted", A1)].score == graded[("deleted", A1)].max_score


def test_a_symlinked_submission_is_refused_not_graded_as_the_linked_work(broken_class, level):
    course, _ = broken_class
    mine = course.submitted_notebook("copycat", A1)
    os.makedirs(os.path.dirname(mine), exist_ok=True)
    os.symlink(course.submitted_notebook("fine", A1), mine)   # points at a full-marks notebook
    graded, failures = batch.autograde(course, [A1], ["copycat"], level, force=True, echo=lambda *_: None)
    results = graded[("copycat", A1)]
    assert failures == 0 and results.score == 0 and "symbolic link" in results.note
