"""The autograded notebook: the released notebook with the student's answers put back in (the first copy of a
repeated grade_id: :func:`notebooks.first_copies`, the same rule grading uses), the student's own outputs of safe
kinds (:mod:`autograder.nbgrader_safe`), written answers rendered from markdown and sanitised, and, as the output of
each ``test_<item>`` cell, the hidden suite's report for that item (:mod:`autograder.grading.feedback_text`). It
contains no hidden test code (there is none in any notebook), so ``nbgrader generate_feedback`` renders it as it is.
"""
import hashlib
import os
import tempfile

import nbformat
from nbgrader import utils as nbgrader_utils

from autograder import diagnosis, notebooks, nbgrader_safe
from autograder.grading import feedback_text
from autograder.grading.nbgrader_files import copy_nbgrader_files


def _write_notebook(notebook, path):
    """Atomically, and whatever the mode nbgrader left on the old file (it makes autograded files read-only)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".autograded-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(notebook, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _student_notebook(course, student, assignment):
    try:
        return notebooks.read(course.submitted_notebook(student, assignment))
    except notebooks.NotebookError:
        return None


def merge(course, student, assignment, check_output):
    """The released notebook with the student's answers and safe outputs; ``check_output(grade_id, copies)`` gives
    each check cell's text. Returns ``(notebook, {grade_id: raw written answer}, duplicates)``."""
    released = notebooks.read(os.path.join(course.release_dir(assignment), f"{assignment}.ipynb"))
    submitted = _student_notebook(course, student, assignment)
    theirs, duplicates = notebooks.first_copies(submitted) if submitted is not None else ({}, {})
    by_id = {}
    for cell in submitted.cells if submitted is not None else []:
        if isinstance(cell.get("id"), str):
            by_id.setdefault(cell["id"], cell)
    budget = nbgrader_safe.OutputBudget()
    written = {}
    for index, cell in enumerate(released.cells):
        meta, kind = notebooks.nbgrader_meta(cell), notebooks.cell_kind(cell)
        grade_id = meta.get("grade_id")
        if kind in (notebooks.ANSWER, notebooks.WRITTEN) and grade_id in theirs \
                and theirs[grade_id].get("cell_type") == cell.cell_type:
            mine = theirs[grade_id]
            answer = nbformat.from_dict({k: v for k, v in dict(mine).items() if k in ("cell_type", "id")})
            answer.source = notebooks.cell_source(mine)
            answer.metadata = {"nbgrader": meta}   # the released metadata, never the student's
            if answer.cell_type == "code":
                answer.outputs = nbgrader_safe.safe_outputs(mine.get("outputs"), budget)
                answer.execution_count = None
            else:
                raw = nbformat.from_dict({"cell_type": cell.cell_type, "source": answer.source,
                                          "metadata": {"nbgrader": meta}})
                if nbgrader_utils.determine_grade(raw)[0] != 0:  # not the released text: a person grades it
                    written[grade_id] = answer.source
                answer.source = nbgrader_safe.markdown_html(answer.source)
            if "id" in cell:
                answer.id = cell.id
            released.cells[index] = answer
        elif kind == notebooks.CHECK and cell.cell_type == "code":
            item = notebooks.checked_item(cell)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=check_output(item, duplicates.get(item, 0)))]
        elif cell.cell_type == "code" and kind != notebooks.CHECK:
            mine = by_id.get(cell.get("id"))
            if mine is not None and mine.get("cell_type") == "code":
                if not meta.get("locked") and kind == notebooks.OTHER:
                    cell.source = notebooks.cell_source(mine)  # their demo cell as they ran it
                cell.outputs = nbgrader_safe.safe_outputs(mine.get("outputs"), budget)
    return released, written, duplicates


def save(course, student, assignment, notebook):
    target = course.autograded_dir(student, assignment)
    os.makedirs(target, exist_ok=True)
    _write_notebook(notebook, os.path.join(target, f"{assignment}.ipynb"))
    copy_nbgrader_files(course, student, assignment, target)


def write(course, student, assignment, check_output, **meta):
    """Merges (:func:`merge`) and writes ``autograded/<student>/<assignment>/<assignment>.ipynb`` (and nbgrader's
    ``timestamp.txt`` and ``submission_secret.txt``), with rnnkit's metadata (digests of the written answers, the
    repeated cells, ``meta``); returns the notebook."""
    notebook, written, duplicates = merge(course, student, assignment, check_output)
    notebook.metadata["rnnkit"] = {"written": {g: digest(s) for g, s in written.items()}, "duplicates": duplicates,
                                   **meta}
    save(course, student, assignment, notebook)
    return notebook


def autograded_notebook(course, student, assignment, results):
    """The autograded notebook of a graded submission (see :func:`write`): each check cell shows the item's report
    and the known mistakes its failures match."""
    known = diagnosis.hints(assignment, results)
    return write(course, student, assignment,
                 lambda item, copies: feedback_text.item_report(item, results, copies, known.get(item, ())))


def digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
