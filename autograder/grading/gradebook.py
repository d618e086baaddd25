"""Hands the hidden suite's scores to nbgrader's gradebook, and keeps a person's grades honest across regrades.

Written answers are graded by a person in formgrader. A regrade keeps that grade when the answer's text is the one
that was graded (a digest of it is kept in ``course/.rnnkit/written/``) and asks for a person again when it changed.
A person's grade over an autograded item (formgrader's grade box) is kept, and the regrade says so. What a regrade
kept or cleared is said, by student and item, in ``rnnkit autograde``'s line (:func:`regrade_changes`); what the
grader notes for the TA goes into formgrader's comment box as a :data:`NOTE` line, which the feedback never shows
(:mod:`autograder.nbgrader_feedback`). The autograded notebook is made by :mod:`autograder.grading.merge`, the
gradebook's guard is :mod:`autograder.grading.guard`.
"""
import json
import os

from nbgrader.api import MissingEntry

from autograder import lateness, notebooks
from autograder.grading import feedback_text, merge
from autograder.grading.guard import trusted_writes
from autograder.grading.nbgrader_files import submission_time
from autograder.results import ItemScore

# Callers (batch, workflow, tests) name these here: one place to find what the gradebook gets.
from autograder.grading.merge import autograded_notebook  # noqa: F401
from autograder.grading.nbgrader_files import (_timestamp_text, copy_nbgrader_files,  # noqa: F401
                                                submission_problems)
_report, WRAP = feedback_text.item_report, feedback_text.WRAP

NOTE = "[rnnkit, for the grader only:"   # a comment line that starts so is never shown to the student


def note(text):
    """A one-line note for the TA in formgrader's comment box (see :data:`NOTE`)."""
    return f"{NOTE} {' '.join(str(text).split())}]"


def _state_file(course, kind, student, assignment):
    return course.path(".rnnkit", kind, assignment, f"{student}.json")


def _load_json(path, empty):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, type(empty)) else empty
    except (OSError, ValueError):
        return empty


def _dump_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)


def regrade_changes(course, student, assignment):
    """What the last recording of this submission did to a person's grades, one sentence per item."""
    return [str(line) for line in _load_json(_state_file(course, "regrade", student, assignment), [])]


def _record_written(gb, course, student, assignment, notebook):
    """Written answers: 0 when untouched; otherwise a person grades them. A manual grade is kept while the answer is
    the text that was graded; a changed answer needs a person again, and its old grade and comment become a note for
    the TA (never for the student: the comment was about another text). Returns the sentences that say so."""
    digests = (notebook.metadata.get("rnnkit") or {}).get("written", {})
    state_path = _state_file(course, "written", student, assignment)
    before = _load_json(state_path, {})
    changes = []
    for cell in notebook.cells:
        if notebooks.cell_kind(cell) != notebooks.WRITTEN:
            continue
        grade_id = notebooks.nbgrader_meta(cell)["grade_id"]
        try:
            entry = gb.find_grade(grade_id, assignment, assignment, student)
        except MissingEntry:
            continue
        if grade_id not in digests:  # nothing written (the released text): 0, no person needed
            entry.auto_score, entry.needs_manual_grade = 0.0, False
            continue
        entry.auto_score = None
        changed = before.get(grade_id) != digests[grade_id]
        if changed and entry.manual_score is not None:
            comment = gb.find_comment(grade_id, assignment, assignment, student)
            old = " ".join((comment.manual_comment or "").split())
            comment.manual_comment = note(f"the answer changed after a manual grade of {entry.manual_score:g}"
                                          + (f" with the comment «{old[:300]}»" if old else "")
                                          + "; grade it again and write the comment the student should read")
            changes.append(f"cleared the manual grade {entry.manual_score:g} of {grade_id} (the answer changed: "
                           "grade it again in formgrader)")
            entry.manual_score = None
        elif entry.manual_score is not None:
            changes.append(f"kept the manual grade {entry.manual_score:g} of {grade_id} (the answer is unchanged)")
        entry.needs_manual_grade = entry.manual_score is None
    _dump_json(state_path, digests)
    return changes


def _submission(gb, course, student, assignment):
    """The gradebook's submission row, its time the trusted arrival time: what ``collect`` recorded stands, and the
    student's own ``timestamp.txt`` (or the notebook's time) is used only where nothing was recorded or where it
    says later (a newer submission); a student's file can never make a submission earlier. A per-student extension
    (:mod:`autograder.lateness`) is applied here."""
    gb.update_or_create_student(student)
    try:
        recorded = gb.find_submission(assignment, student).timestamp
    except MissingEntry:
        recorded = None
    stamp = submission_time(course, student, assignment)
    if recorded is not None and (stamp is None or stamp <= recorded):
        stamp = recorded
    submission = gb.update_or_create_submission(assignment, student, timestamp=stamp)
    lateness.apply_extension(gb, course, submission)
    return submission


def _check_grades(gb, student, assignment, notebook):
    """(check cell, its gradebook entry) for every autograded check cell of ``notebook`` the gradebook knows."""
    for cell in notebook.cells:
        if notebooks.cell_kind(cell) != notebooks.CHECK:
            continue
        try:
            yield cell, gb.find_grade(notebooks.nbgrader_meta(cell)["grade_id"], assignment, assignment, student)
        except MissingEntry:
            continue


def _finish(gb, course, student, assignment, notebook, changes):
    changes += _record_written(gb, course, student, assignment, notebook)
    lateness.penalise(gb, course, student, assignment)
    _dump_json(_state_file(course, "regrade", student, assignment), changes)


def record(course, student, assignment, results, notebook):
    """Writes the scores of ``results`` (and the automatic part of written answers) into nbgrader's gradebook, then
    the late penalty. A person's grade over an autograded item stays (and is said). A notebook with repeated answer
    cells is flagged in formgrader (the first copy was graded)."""
    items = results.items()
    changes = []
    with trusted_writes(course) as gb:
        _submission(gb, course, student, assignment)   # nbgrader's API: commits
        gb.allow_rnnkit_scores()
        for cell, entry in _check_grades(gb, student, assignment, notebook):
            item = notebooks.checked_item(cell)
            score = items.get(item, ItemScore(0.0, 0.0)).score
            if entry.manual_score is not None:
                changes.append(f"kept the manual grade {entry.manual_score:g} of {item} (the hidden tests give "
                               f"{score:g}: clear it in formgrader to use theirs)")
            entry.auto_score, entry.needs_manual_grade = score, False
        if (notebook.metadata.get("rnnkit") or {}).get("duplicates"):
            gb.find_submission_notebook(assignment, assignment, student).flagged = True
        _finish(gb, course, student, assignment, notebook, changes)


def record_not_graded(course, student, assignment, reason):
    """Shows a submission the grader could not grade as NOT graded: every autograded item has no score
    (``auto_score`` None, which nbgrader shows as needing a manual grade, never as a 0 or as an earlier score),
    the submission is flagged in formgrader, and the autograded notebook says why under every check cell. Written
    answers are handled as in :func:`record`. ``rnnkit autograde`` grades it again on its next run."""
    reason = " ".join(str(reason).split())[:300] or "no reason given"
    notebook = merge.write(course, student, assignment,
                           lambda item, copies: feedback_text.not_graded_report(item, reason), not_graded=reason)
    with trusted_writes(course) as gb:
        _submission(gb, course, student, assignment)   # nbgrader's API: commits
        gb.allow_rnnkit_scores()
        for _, entry in _check_grades(gb, student, assignment, notebook):
            entry.auto_score, entry.needs_manual_grade = None, True
        gb.find_submission_notebook(assignment, assignment, student).flagged = True
        _finish(gb, course, student, assignment, notebook, [])
    return notebook
