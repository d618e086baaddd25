"""One truth for a grade: what every view shows of a submission, read from nbgrader's gradebook.

formgrader writes a person's grades into the gradebook (``grade.manual_score``, ``grade.extra_credit``) and rnnkit
writes the hidden suite's (``grade.auto_score``); nbgrader's own rule, ``score = manual_score if set else
auto_score`` (plus extra credit), is the points of an item everywhere. The command's summary line, ``grades.csv``,
``items_<a>.csv``, ``rnnkit report``, the score plot and the feedback page all read a :class:`Grade` from here, and
speak of it in one vocabulary:

* an item is ``graded``, ``awaiting a person`` (a written answer no one has graded yet) or ``not graded`` (the
  grader failed: no score, never a 0);
* a submission is ``graded``, ``awaiting a person`` (some item is), ``not graded`` (some item is) or ``missing``
  (no submission); and, beside that, ``late`` (after its due date and any extension) and ``flagged`` (formgrader's
  flag: a duplicated answer cell, a grader failure, or a person's).

    grade = grades.of(course, "01_rnn_cell")["alice"]
    grade.score, grade.max_score, grade.penalty, grade.final   # points, as formgrader and grades.csv have them
    grade.status, grade.late, grade.flagged, grade.words()    # "graded", True, False, ["graded", "late"]
"""
from dataclasses import dataclass, field

from autograder.results import points
from autograder.timetext import late_text

GRADED, AWAITING, NOT_GRADED, MISSING = "graded", "awaiting a person", "not graded", "missing"
LATE, FLAGGED = "late", "flagged"
STATUSES = (GRADED, AWAITING, NOT_GRADED, MISSING)
AUTOGRADED, WRITTEN = "autograded", "written"
CHECK_PREFIX = "test_"   # an autograded item's points sit in its check cell, ``test_<item>``


@dataclass
class Item:
    """One graded item of one submission.

    Attributes:
        name: the answer's grade_id (``rnn_backward``; a written answer's own id).
        kind: :data:`AUTOGRADED` or :data:`WRITTEN`.
        score: its points (a person's if they gave some), or None while it is awaiting a person or not graded.
        max_score: its points at most.
        status: :data:`GRADED`, :data:`AWAITING` or :data:`NOT_GRADED`.
        auto_score: what the hidden tests gave (None: nothing, or a written answer).
        by_hand: whether a person set the score (formgrader's grade box, or extra credit).
    """
    name: str
    kind: str
    score: object
    max_score: float
    status: str
    auto_score: object = None
    by_hand: bool = False

    @property
    def lost(self):
        return self.score is not None and self.score < self.max_score - 1e-9

    def shown(self):
        """``1.5/2``, ``awaiting a person`` or ``not graded``: the item as every text view prints it."""
        if self.score is None:
            return self.status
        return f"{points(self.score):g}/{points(self.max_score):g}"


@dataclass
class Grade:
    """One student's submission of one assignment, as the gradebook has it (see the module's docstring)."""
    student: str
    assignment: str
    items: list = field(default_factory=list)
    status: str = MISSING
    flagged: bool = False
    timestamp: object = None           # the trusted arrival time the gradebook holds
    duedate: object = None             # the assignment's, with this student's extension
    seconds_late: float = 0.0
    penalty: float = 0.0               # nbgrader's late_submission_penalty (see autograder/lateness.py)

    @property
    def score(self):
        """Points before any late penalty: every item's, awaiting and not graded ones counted as 0 (nbgrader's
        ``raw_score``)."""
        return points(sum(i.score or 0.0 for i in self.items))

    @property
    def max_score(self):
        return points(sum(i.max_score for i in self.items))

    @property
    def final(self):
        """Points after the late penalty (nbgrader's ``score``)."""
        return points(self.score - self.penalty)

    @property
    def late(self):
        return self.seconds_late > 0

    def item(self, name):
        return next((i for i in self.items if i.name == name), None)

    def awaiting(self):
        return [i for i in self.items if i.status == AWAITING]

    def lost(self):
        return [i for i in self.items if i.lost]

    def words(self):
        """The submission's states in the one vocabulary: its status, then ``late`` and ``flagged`` if so."""
        return [self.status] + [LATE] * self.late + [FLAGGED] * self.flagged

    def total(self):
        """``13.5 / 17``, with what is not final said: ``(1 awaiting a person)``, the penalty."""
        if self.status in (MISSING, NOT_GRADED):
            return self.status
        text = f"{self.final:g} / {self.max_score:g}"
        if self.penalty:
            text += f" (after a late penalty of {self.penalty:g})"
        if self.awaiting():
            text += f" ({len(self.awaiting())} awaiting a person)"
        return text


def item_of(grade):
    """An :class:`Item` from one row of nbgrader's ``grade`` table."""
    extra = grade.extra_credit or 0.0
    if grade.cell_type == "code" and grade.name.startswith(CHECK_PREFIX):
        name, kind = grade.name[len(CHECK_PREFIX):], AUTOGRADED
    else:
        name, kind = grade.name, WRITTEN
    by_hand = grade.manual_score is not None or bool(extra)
    if grade.manual_score is not None:
        score, status = grade.manual_score + extra, GRADED
    elif kind == WRITTEN and grade.needs_manual_grade:
        score, status = None, AWAITING
    elif grade.auto_score is None:
        score, status = None, (AWAITING if kind == WRITTEN else NOT_GRADED)
    else:
        score, status = grade.auto_score + extra, GRADED
    return Item(name, kind, score, float(grade.max_score or 0.0), status,
                grade.auto_score if kind == AUTOGRADED else None, by_hand)


def order(course, assignment):
    """``{item: rank}``: autograded items, then written answers, in the order of the source notebook."""
    from autograder import notebooks
    try:
        layout = notebooks.layout(notebooks.read(course.source_notebook(assignment)))
    except (OSError, ValueError, notebooks.NotebookError):
        return {}
    return {name: rank for rank, name in enumerate([*layout.points, *layout.manual])}


def from_submission(submission, ranks=None):
    """The :class:`Grade` of one of nbgrader's ``SubmittedAssignment`` rows (inside an open Gradebook); ``ranks``
    (:func:`order`) puts its items in the notebook's order."""
    grade = Grade(submission.student.id, submission.assignment.name)
    rows = [g for nb in submission.notebooks for g in nb.grades]
    items = [item_of(g) for g in rows]
    ranks = ranks or {}
    grade.items = sorted(items, key=lambda i: (i.kind != AUTOGRADED, ranks.get(i.name, len(ranks)), i.name))
    grade.flagged = any(nb.flagged for nb in submission.notebooks)
    grade.timestamp, grade.duedate = submission.timestamp, submission.duedate
    grade.seconds_late = float(submission.total_seconds_late or 0.0) if submission.timestamp else 0.0
    grade.penalty = points(sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks))
    if submission.timestamp is None and not rows:
        grade.status = MISSING
    elif any(i.status == NOT_GRADED for i in grade.items):
        grade.status = NOT_GRADED
    elif any(i.status == AWAITING for i in grade.items):
        grade.status = AWAITING
    else:
        grade.status = GRADED
    return grade


def of(course, assignment, students=None):
    """``{student: Grade}`` of every submission of ``assignment`` the gradebook holds (or of ``students``); a
    course with no gradebook yet has none."""
    import os
    from nbgrader.api import Gradebook, MissingEntry
    if not os.path.exists(course.path("gradebook.db")):
        return {}
    found, ranks = {}, order(course, assignment)
    with Gradebook(course.db_url) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return found
        for submission in submissions:
            if students is None or submission.student.id in students:
                found[submission.student.id] = from_submission(submission, ranks)
    return dict(sorted(found.items()))


def one(course, student, assignment):
    """The :class:`Grade` of one submission (status ``missing`` when the gradebook has none)."""
    return of(course, assignment, {student}).get(student) or Grade(student, assignment)


def summary_line(course, student, assignment, note="", student_note=""):
    """The line ``rnnkit autograde`` prints for one graded submission: its total out of the assignment's (written
    answers awaiting a person counted as such), the items that lost points, lateness, what a regrade changed
    (:mod:`autograder.grading.gradebook` records it) and ``note`` (the time it took, a flag)."""
    from autograder.grading import gradebook
    grade = one(course, student, assignment)
    parts = [f"{student}/{assignment}: {grade.total()}"]
    lost = [f"{i.name} {i.shown()}" for i in grade.lost()]
    if lost:
        parts.append("lost points: " + ", ".join(lost))
    if grade.late:
        parts.append(late_text(grade.seconds_late))
    parts += gradebook.regrade_changes(course, student, assignment)
    line = "; ".join(parts) + (f" ({note})" if note else "")
    return line + (f" - {student_note}" if student_note else "")


