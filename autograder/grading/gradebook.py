"""Hands the hidden suite's scores to nbgrader: the gradebook, and an autograded notebook for formgrader and the
feedback.

The autograded notebook is the released notebook with the student's answers put back in (the first copy of a
repeated grade_id: :func:`notebooks.first_copies`, the same rule grading uses), the student's own outputs of safe
kinds (:mod:`autograder.nbgrader_safe`), written answers rendered from markdown and sanitised, and, as the output of
each ``test_<item>`` cell, the hidden suite's report for that item. It contains no hidden test code (there is none
in any notebook), so ``nbgrader generate_feedback`` renders it as it is.

Written answers are graded by a person in formgrader. A regrade keeps that grade when the answer's text is the one
that was graded (a digest of it is kept in ``course/.rnnkit/written/``) and asks for a person again when it changed.
"""
import contextlib
import hashlib
import json
import os
import tempfile
import textwrap
import warnings

import sqlalchemy.exc

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader import utils as nbgrader_utils

from autograder import diagnosis, notebooks, nbgrader_safe
from autograder.results import ItemScore, points

WRAP = 100   # characters per line of a report: the feedback page wraps too, but plain text should read on its own


def _wrapped(text, indent):
    lines = []
    for line in str(text).splitlines() or [""]:
        lines += textwrap.wrap(line, WRAP - len(indent), break_long_words=True, break_on_hyphens=False,
                               replace_whitespace=False, drop_whitespace=True) or [""]
    return [indent + line for line in lines]


def _report(grade_id, results, copies=0, hints=()):
    """The text under an item's check cell: every hidden test's short name, its description, points, and for a
    failed test the message, wrapped at :data:`WRAP` characters; then ``hints`` (:mod:`autograder.diagnosis`: the
    known mistake this item's failures usually come from)."""
    item = results.items().get(grade_id, ItemScore(0.0, 0.0))
    lines = [f"Hidden tests for {grade_id}: {item.score:g} / {item.max_score:g} points"]
    if copies > 1:
        lines += _wrapped(f"Note: your notebook has {copies} cells for {grade_id}; the first one was graded "
                          "(and is the one shown here).", "")
    for test in results.item_tests(grade_id):
        name = test.name.split(": ", 1)[1] if test.name.startswith(f"{grade_id}: ") else test.name
        lines += _wrapped(f"{'✓' if test.passed else '✗'} {name} [{points(test.score):g}/{points(test.max_score):g}]",
                          "")
        description = getattr(test, "description", "") or ""
        if description and description.strip() != name.strip():
            lines += _wrapped(description, "    ")
        if not test.passed and test.message:
            lines += _wrapped(test.message, "      ")
    for hint in hints:
        lines += _wrapped(hint, "")
    return "\n".join(lines) + "\n"


def _not_graded_report(grade_id, reason):
    return "\n".join([f"Hidden tests for {grade_id}: NOT GRADED",
                      *_wrapped(f"The grader could not grade this submission ({reason}). This is not a grade and "
                                "not a fault of your code: your instructor will grade it again.", "")]) + "\n"


def _timestamp_text(course, student, assignment):
    """The submission's ``timestamp.txt`` (nbgrader writes it), if it is a small regular file: a symbolic link
    planted there must not copy another file into ``autograded/``."""
    return _small_text(course, student, assignment, "timestamp.txt")


def _small_text(course, student, assignment, name):
    path = os.path.join(os.path.dirname(course.submitted_notebook(student, assignment)), name)
    try:
        return notebooks.read_bytes(path, limit=256).decode("ascii").strip() or None
    except (notebooks.NotebookError, UnicodeDecodeError):
        return None


def submission_problems(course, student, assignment):
    """One line per problem with a submission's nbgrader files (what nbgrader's own collect writes beside the
    notebook), or an empty list. None of them stops grading; each is said once."""
    folder = os.path.dirname(course.submitted_notebook(student, assignment))
    problems = []
    consequences = {"timestamp.txt": "no submission time: the notebook's modification time is used",
                    "submission_secret.txt": "not submitted through nbgrader's exchange: its feedback cannot be "
                                             "released, only generated"}
    for name, what in consequences.items():
        path = os.path.join(folder, name)
        if not os.path.lexists(path):
            problems.append(f"{name} is missing ({what})")
        elif _small_text(course, student, assignment, name) is None:
            problems.append(f"{name} is not a small regular text file ({what})")
    stamp = _timestamp_text(course, student, assignment)
    if stamp:
        try:
            nbgrader_utils.parse_utc(stamp)
        except (ValueError, OverflowError):
            problems.append(f"timestamp.txt does not hold a time ({stamp[:40]!r}); the notebook's modification "
                            "time is used")
    return problems


def _write_notebook(notebook, path):
    """Atomically, and whatever the mode nbgrader left on the old file (it makes autograded files read-only)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".autograded-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(notebook, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def copy_nbgrader_files(course, student, assignment, target=None):
    """``timestamp.txt`` and ``submission_secret.txt`` into ``autograded/``, as nbgrader's autograde does: its
    ``release_feedback`` needs the secret (students fetch their feedback with it). Only small regular files."""
    target = target or course.autograded_dir(student, assignment)
    folder = os.path.dirname(course.submitted_notebook(student, assignment))
    for name in ("timestamp.txt", "submission_secret.txt"):
        try:   # byte for byte: the student's nbgrader hashes the secret exactly as it wrote it
            data = notebooks.read_bytes(os.path.join(folder, name), limit=256)
            data.decode("ascii")
        except (notebooks.NotebookError, UnicodeDecodeError):
            data = None
        path = os.path.join(target, name)
        if os.path.lexists(path):
            os.unlink(path)
        if data and data.strip():
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as f:
                f.write(data)


def _student_notebook(course, student, assignment):
    try:
        return notebooks.read(course.submitted_notebook(student, assignment))
    except notebooks.NotebookError:
        return None


def _merge(course, student, assignment, check_output):
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


def _save(course, student, assignment, notebook):
    target = course.autograded_dir(student, assignment)
    os.makedirs(target, exist_ok=True)
    _write_notebook(notebook, os.path.join(target, f"{assignment}.ipynb"))
    copy_nbgrader_files(course, student, assignment, target)


def autograded_notebook(course, student, assignment, results):
    """Writes ``autograded/<student>/<assignment>/<assignment>.ipynb`` (and nbgrader's ``timestamp.txt`` and
    ``submission_secret.txt``) and returns the notebook."""
    known = diagnosis.hints(assignment, results)
    notebook, written, duplicates = _merge(course, student, assignment,
                                           lambda item, copies: _report(item, results, copies, known.get(item, ())))
    notebook.metadata["rnnkit"] = {"written": {g: _digest(s) for g, s in written.items()},
                                   "duplicates": duplicates}
    _save(course, student, assignment, notebook)
    return notebook


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _written_state(course, student, assignment):
    return course.path(".rnnkit", "written", assignment, f"{student}.json")


def _load_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _record_written(gb, course, student, assignment, notebook):
    """Written answers: 0 when untouched; otherwise a person grades them. A manual grade (and its flag) is kept
    while the answer is the text that was graded; a changed answer needs a person again (the old grade goes into
    the grader's comment, for the record)."""
    digests = (notebook.metadata.get("rnnkit") or {}).get("written", {})
    state_path = _written_state(course, student, assignment)
    before = _load_json(state_path)
    for cell in notebook.cells:
        if notebooks.cell_kind(cell) != notebooks.WRITTEN:
            continue
        grade_id = notebooks.nbgrader_meta(cell)["grade_id"]
        try:
            entry = gb.find_grade(grade_id, assignment, assignment, student)
        except MissingEntry:
            continue
        untouched = grade_id not in digests
        if untouched:  # nothing written (the released text): 0, no person needed
            entry.auto_score, entry.needs_manual_grade = 0.0, False
            continue
        entry.auto_score = None
        changed = before.get(grade_id) != digests[grade_id]
        if changed and entry.manual_score is not None:
            comment = gb.find_comment(grade_id, assignment, assignment, student)
            comment.manual_comment = ((comment.manual_comment or "") +
                                      f"\n[rnnkit: the answer changed after a manual grade of "
                                      f"{entry.manual_score:g}; grade it again]").strip()
            entry.manual_score = None
        if changed or entry.manual_score is None:
            entry.needs_manual_grade = True
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    with open(state_path, "w") as f:
        json.dump(digests, f)


def submission_time(course, student, assignment):
    """When the submission was handed in: nbgrader's ``timestamp.txt``, else (missing or malformed; said once by
    ``rnnkit collect``) the notebook's modification time, so that it never shows as missing."""
    stamp = _timestamp_text(course, student, assignment)
    try:
        return nbgrader_utils.parse_utc(stamp) if stamp else _mtime(course, student, assignment)
    except (ValueError, OverflowError):
        return _mtime(course, student, assignment)


def _mtime(course, student, assignment):
    import datetime
    try:
        seconds = os.lstat(course.submitted_notebook(student, assignment)).st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


def _submission(gb, course, student, assignment):
    timestamp = submission_time(course, student, assignment)
    gb.update_or_create_student(student)
    return gb.update_or_create_submission(assignment, student, timestamp=timestamp)


# The gradebook's own guard: autograded scores change only inside rnnkit's writes. rnnkit's transaction adds a row to
# ``rnnkit_writer`` and removes it before committing, so no other connection ever sees one (SQLite has one writer at
# a time and never shows uncommitted rows); any other update of ``grade.auto_score`` (nbgrader's SaveAutoGrades run
# by a config without rnnkit's block, a script) is refused with this sentence. Manual grades are not touched.
REFUSAL = ("rnnkit: autograded scores in this gradebook are written by the trusted rnnkit grader only, so "
           "nothing was changed; run rnnkit autograde, or nbgrader with the nbgrader_config.py of the course")
GUARD = [
    "CREATE TABLE IF NOT EXISTS rnnkit_writer (since TEXT)",
    "CREATE TRIGGER IF NOT EXISTS rnnkit_trusted_auto_score BEFORE UPDATE OF auto_score ON grade "
    "WHEN NEW.auto_score IS NOT OLD.auto_score AND NOT EXISTS (SELECT 1 FROM rnnkit_writer) "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]


@contextlib.contextmanager
def trusted_writes(course):
    """nbgrader's Gradebook, open for rnnkit's own writes (see :data:`GUARD`); commits on success."""
    with warnings.catch_warnings(), Gradebook(course.db_url) as gb:
        # nbgrader's own submission code trips SQLAlchemy's autoflush notices; they say nothing about our data
        warnings.simplefilter("ignore", category=sqlalchemy.exc.SAWarning)
        for statement in GUARD:
            gb.db.execute(sqlalchemy.text(statement))
        gb.db.commit()

        def allow():
            """Opens the guard for the rest of this transaction: call it after nbgrader's own API calls (they
            commit), right before the scores are set, so that the row is never committed."""
            gb.db.execute(sqlalchemy.text("INSERT INTO rnnkit_writer VALUES (datetime('now'))"))
        gb.allow_rnnkit_scores = allow
        try:
            yield gb
            gb.db.flush()
            gb.db.execute(sqlalchemy.text("DELETE FROM rnnkit_writer"))
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise


def _check_grades(gb, student, assignment, notebook):
    """(check cell, its gradebook entry) for every autograded check cell of ``notebook`` the gradebook knows."""
    for cell in notebook.cells:
        if notebooks.cell_kind(cell) != notebooks.CHECK:
            continue
        try:
            yield cell, gb.find_grade(notebooks.nbgrader_meta(cell)["grade_id"], assignment, assignment, student)
        except MissingEntry:
            continue


def record(course, student, assignment, results, notebook):
    """Writes the scores of ``results`` (and the automatic part of written answers) into nbgrader's gradebook.
    A notebook with repeated answer cells is flagged in formgrader (the first copy was graded)."""
    items = results.items()
    with trusted_writes(course) as gb:
        _submission(gb, course, student, assignment)   # nbgrader's API: commits
        gb.allow_rnnkit_scores()
        for cell, entry in _check_grades(gb, student, assignment, notebook):
            entry.auto_score = items.get(notebooks.checked_item(cell), ItemScore(0.0, 0.0)).score
            entry.needs_manual_grade = entry.manual_score is not None   # a person overrode the grader: look again
        _record_written(gb, course, student, assignment, notebook)
        if (notebook.metadata.get("rnnkit") or {}).get("duplicates"):
            gb.find_submission_notebook(assignment, assignment, student).flagged = True


def record_not_graded(course, student, assignment, reason):
    """Shows a submission the grader could not grade as NOT graded: every autograded item has no score
    (``auto_score`` None, which nbgrader shows as needing a manual grade, never as a 0 or as an earlier score),
    the submission is flagged in formgrader, and the autograded notebook says why under every check cell. Written
    answers are handled as in :func:`record`. ``rnnkit autograde`` grades it again on its next run."""
    reason = " ".join(str(reason).split())[:300] or "no reason given"
    notebook, written, duplicates = _merge(course, student, assignment,
                                           lambda item, copies: _not_graded_report(item, reason))
    notebook.metadata["rnnkit"] = {"written": {g: _digest(s) for g, s in written.items()},
                                   "duplicates": duplicates, "not_graded": reason}
    _save(course, student, assignment, notebook)
    with trusted_writes(course) as gb:
        _submission(gb, course, student, assignment)   # nbgrader's API: commits
        gb.allow_rnnkit_scores()
        for _, entry in _check_grades(gb, student, assignment, notebook):
            entry.auto_score, entry.needs_manual_grade = None, True
        _record_written(gb, course, student, assignment, notebook)
        gb.find_submission_notebook(assignment, assignment, student).flagged = True
    return notebook


def not_graded(course, student, assignment):
    """Whether the submission's autograded items have no score (see :func:`record_not_graded`)."""
    with Gradebook(course.db_url) as gb:
        try:
            submission = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return False
        checks = [g for g in submission.grades if g.auto_score is None and g.manual_score is None
                  and g.name.startswith("test_")]
        return bool(checks)


def not_graded_students(course, assignment):
    """The students whose submission of ``assignment`` is recorded as NOT graded (:func:`record_not_graded`)."""
    found = set()
    with Gradebook(course.db_url) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return found
        for submission in submissions:
            if any(g.auto_score is None and g.manual_score is None and g.name.startswith("test_")
                   for n in submission.notebooks for g in n.grades):
                found.add(submission.student.id)
    return found


def awaiting_manual(course, assignment):
    """How many submissions of ``assignment`` have a written answer (or an item) waiting for a person in
    formgrader."""
    with Gradebook(course.db_url) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return 0
        return sum(1 for s in submissions if any(g.needs_manual_grade for n in s.notebooks for g in n.grades))


def manual_points(course, assignment):
    """``{student: {grade_id: points or None}}`` of the written answers, as the gradebook has them (None: waiting
    for a person)."""
    found = {}
    with Gradebook(course.db_url) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return found
        for submission in submissions:
            mine = found.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if not grade.name.startswith("test_"):
                        if grade.manual_score is not None:
                            mine[grade.name] = grade.manual_score
                        elif grade.needs_manual_grade:
                            mine[grade.name] = None
                        else:
                            mine[grade.name] = grade.auto_score or 0.0
    return found
