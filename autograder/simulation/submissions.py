"""Simulated submissions in nbgrader's layout: the reference, the untouched stubs, bugs and variants.

Used by ``rnnkit demo`` and by the tests; a real class arrives through ``nbgrader collect`` instead.
"""
import datetime
import os
import shutil

import nbformat

from autograder import notebooks
from autograder.errors import RnnkitError

MARKER = ".rnnkit-simulated"


def reference_answers(course, assignment):
    """grade_id -> source of the answer cells with the reference inlined (from the source notebook)."""
    return notebooks.answer_cells(notebooks.read(course.source_notebook(assignment)))


def submit(course, student, assignment, answers=None, edit=None):
    """Writes ``submitted/<student>/<assignment>/`` from the released notebook with ``answers`` put in.

    ``edit(notebook)`` may change the notebook further (delete a cell, break its metadata, ...).
    """
    notebook = notebooks.read(os.path.join(course.release_dir(assignment), f"{assignment}.ipynb"))
    for cell in notebook.cells:
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if answers and grade_id in answers and cell.cell_type == "code":
            cell.source = answers[grade_id]
    if edit:
        notebook = edit(notebook) or notebook
    folder = os.path.dirname(course.submitted_notebook(student, assignment))
    os.makedirs(folder, exist_ok=True)
    path = course.submitted_notebook(student, assignment)
    if isinstance(notebook, str):  # an edit may return raw text (a corrupted file)
        with open(path, "w") as f:
            f.write(notebook)
    else:
        nbformat.write(notebook, path)
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    return path


def fresh_course(course):
    """Empties ``course`` for a simulated class (demo, validation); refuses a folder that is not one of ours."""
    if os.path.isdir(course.root) and os.listdir(course.root) and not os.path.exists(course.path(MARKER)):
        raise RnnkitError(f"{course.root} exists and is not a simulated course; refusing to overwrite it "
                          "(use another --course-dir)")
    shutil.rmtree(course.root, ignore_errors=True)
    os.makedirs(course.root)
    open(course.path(MARKER), "w").close()
