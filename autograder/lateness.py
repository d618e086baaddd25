"""Due dates, late penalties and per-student extensions, nbgrader's way.

* The due date is nbgrader's: set it in formgrader (Manage Assignments) or with
  ``nbgrader db assignment add ASSIGNMENT --duedate="2027-03-01 17:00:00 UTC"``.
* The time a submission counts from is the gradebook's ``timestamp``: the arrival time ``collect`` recorded (see
  :func:`autograder.grading.gradebook._submission`: a student's ``timestamp.txt`` can never make it earlier).
* The penalty is nbgrader's ``AssignLatePenalties`` with its plugin, configured in the course's
  ``nbgrader_config.py``: ``c.LateSubmissionPlugin.penalty_method = "zero"`` (nbgrader's), or rnnkit's
  :class:`PerDayPenalty` (``c.AssignLatePenalties.plugin_class = "autograder.lateness.PerDayPenalty"``,
  ``c.PerDayPenalty.percent_per_day = 10``). Penalties are computed again from the current score (a person's grades
  included) whenever grades are recorded, exported, reported or fed back, so every view shows the same one.
* An extension is nbgrader's ``SubmittedAssignment.extension``, which has no command: ``rnnkit extension STUDENT
  ASSIGNMENT --until "2027-03-03 17:00"`` keeps it in ``course/extensions.json`` (so that it holds before the
  submission is collected) and in the gradebook.
"""
import datetime
import json
import math
import os

from traitlets import Float
from nbgrader.plugins import LateSubmissionPlugin

from autograder import timetext
from autograder.errors import RnnkitError
from autograder.results import points


class PerDayPenalty(LateSubmissionPlugin):
    """``percent_per_day`` of the score for each day (or part of one) late after ``grace_minutes``; zero after
    ``max_days``."""

    percent_per_day = Float(10.0, help="percent of the score taken per day or part of a day late").tag(config=True)
    grace_minutes = Float(0.0, help="minutes after the due date that are not late yet").tag(config=True)
    max_days = Float(7.0, help="days late after which the score is zero").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        seconds = total_seconds_late - 60 * self.grace_minutes
        if seconds <= 0:
            return None
        days = math.ceil(seconds / 86400)
        if days > self.max_days:
            return score
        return score * min(1.0, days * self.percent_per_day / 100)


def course_config(course):
    """The course's ``nbgrader_config.py`` as a traitlets Config (empty if there is none)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    if not os.path.exists(course.config_file):
        return Config()
    return PyFileConfigLoader(os.path.basename(course.config_file), path=course.root).load_config()


def plugin(course):
    """The late-submission plugin the course's config names, configured as nbgrader would (None: no policy)."""
    from nbgrader.preprocessors import AssignLatePenalties
    config = course_config(course)
    assigner = AssignLatePenalties(config=config)
    return assigner.plugin_class(config=config)


def penalise(gb, course, student, assignment, policy=None):
    """Sets nbgrader's ``late_submission_penalty`` of a submission from its lateness and its current score, as
    nbgrader's ``AssignLatePenalties`` does (between 0 and the score). Returns the penalty."""
    from nbgrader.api import MissingEntry
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return 0.0
    gb.db.flush()
    gb.db.expire_all()   # nbgrader's scores are computed by the database: read them after this session's writes
    total = 0.0
    late = submission.total_seconds_late if submission.timestamp is not None else 0
    policy = policy or plugin(course)
    for notebook in submission.notebooks:
        notebook.late_submission_penalty = None
        if late > 0:
            penalty = policy.late_submission_penalty(student, notebook.score, late)
            if penalty is not None:
                notebook.late_submission_penalty = min(max(0.0, penalty), notebook.score)
                total += notebook.late_submission_penalty
    return points(total)


def refresh(course, assignment):
    """Every submission's penalty again, from the scores as they are now (a person may have changed them)."""
    from nbgrader.api import Gradebook, MissingEntry
    if not os.path.exists(course.path("gradebook.db")):
        return
    policy = plugin(course)
    with Gradebook(course.db_url) as gb:
        try:
            students = [s.student.id for s in gb.find_assignment(assignment).submissions]
        except MissingEntry:
            return
        for student in students:
            apply_extension(gb, course, gb.find_submission(assignment, student))
            penalise(gb, course, student, assignment, policy)
        gb.db.commit()


# -- extensions ---------------------------------------------------------------------------------------------------

def extensions_file(course):
    return course.path("extensions.json")


def extensions(course):
    """``{(student, assignment): datetime (naive UTC)}`` of every extension granted in the course."""
    try:
        with open(extensions_file(course)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    found = {}
    for key, until in (data.items() if isinstance(data, dict) else []):
        student, _, assignment = key.partition("/")
        try:
            found[student, assignment] = datetime.datetime.fromisoformat(until)
        except (TypeError, ValueError):
            continue
    return found


def parse_time(text):
    """A time as a TA types it (``2027-03-03 17:00`` in UTC, or with a zone, ``2027-03-03 17:00+01:00``) -> naive
    UTC, as nbgrader's gradebook keeps times; a one-line error otherwise."""
    try:
        when = datetime.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise RnnkitError(f"'{text}' is not a time: write it as 2027-03-03 17:00 (UTC) or with a zone, "
                          "2027-03-03 17:00+01:00") from None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


def grant(course, student, assignment, until):
    """Gives ``student`` until ``until`` (naive UTC; None removes the extension) for ``assignment``; kept in
    ``course/extensions.json`` and in the gradebook if the submission is there. Returns the due date it replaces."""
    from nbgrader.api import Gradebook, MissingEntry
    found = {f"{s}/{a}": t.isoformat() for (s, a), t in extensions(course).items()}
    if until is None:
        found.pop(f"{student}/{assignment}", None)
    else:
        found[f"{student}/{assignment}"] = until.isoformat()
    os.makedirs(course.root, exist_ok=True)
    tmp = extensions_file(course) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(found, f, indent=1, sort_keys=True)
    os.replace(tmp, extensions_file(course))
    with Gradebook(course.db_url) as gb:
        try:
            duedate = gb.find_assignment(assignment).duedate
        except MissingEntry:
            raise RnnkitError(f"assignment '{assignment}' is not in the gradebook: run `rnnkit build` first") from None
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return duedate
        apply_extension(gb, course, submission)
        penalise(gb, course, student, assignment)
        gb.db.commit()
    return duedate


def apply_extension(gb, course, submission):
    """Sets nbgrader's ``extension`` of ``submission`` from ``course/extensions.json`` (a due date it extends)."""
    until = extensions(course).get((submission.student.id, submission.assignment.name))
    duedate = submission.assignment.duedate
    submission.extension = (until - duedate) if until is not None and duedate is not None and until > duedate \
        else None


def late_lines(course, assignment, students):
    """One line per late submission among ``students`` (``collect`` says them): the gradebook's time where it has
    one, else the submission's own (:func:`autograder.grading.nbgrader_files.submission_time`), against the due date
    and the student's extension."""
    from nbgrader.api import Gradebook, MissingEntry
    from autograder.grading.nbgrader_files import submission_time
    if not os.path.exists(course.path("gradebook.db")):
        return []
    lines, granted = [], extensions(course)
    with Gradebook(course.db_url) as gb:
        try:
            duedate = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return []
        if duedate is None:
            return []
        for student in students:
            try:
                when = gb.find_submission(assignment, student).timestamp
            except MissingEntry:
                when = None
            when = when or submission_time(course, student, assignment)
            due = max(duedate, granted.get((student, assignment), duedate))
            if when is not None and when > due:
                lines.append(f"{student}/{assignment}: {timetext.late_text((when - due).total_seconds())} "
                             f"(due {timetext.when(due)})")
    return lines

