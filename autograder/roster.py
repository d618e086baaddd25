"""The class list in and the grades out: a roster imported into nbgrader's gradebook (names and emails, so that
formgrader shows names), and a gradebook CSV an LMS imports (Canvas's grade import format, which Moodle's CSV
grade import also reads by mapping ``SIS Login ID`` to the username).

    rnnkit roster students.csv            # columns: id (or login/username), first_name, last_name, email
    rnnkit export                         # ... writes exports/lms_grades.csv beside nbgrader's grades.csv
"""
import csv
import os
import tempfile

from autograder import grades
from autograder.errors import RnnkitError

# A roster's columns as LMSs and spreadsheets name them -> nbgrader's names (``nbgrader db student import``).
ALIASES = {"id": ("id", "student_id", "login", "login_id", "sis login id", "username", "user"),
           "first_name": ("first_name", "first name", "given name", "firstname"),
           "last_name": ("last_name", "last name", "surname", "family name", "lastname"),
           "email": ("email", "e-mail", "email address", "mail")}
LMS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def read_roster(path):
    """The students of a roster CSV as ``[{id, first_name, last_name, email}]``; one-line errors for a file
    without an id column, an empty id or an id given twice."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RnnkitError(f"cannot read the roster {path}: {err}") from None
    if not rows:
        raise RnnkitError(f"{path} has no students (a header line, then one line per student)")
    columns = {}
    for name in rows[0]:
        for ours, names in ALIASES.items():
            if (name or "").strip().lower() in names:
                columns.setdefault(ours, name)
    if "id" not in columns:
        raise RnnkitError(f"{path} has no column for the student's login (one of: {', '.join(ALIASES['id'])})")
    students, seen = [], set()
    for number, row in enumerate(rows, start=2):
        student = {ours: (row.get(theirs) or "").strip() for ours, theirs in columns.items()}
        if not student["id"]:
            raise RnnkitError(f"{path}, line {number}: the student's login is empty")
        if student["id"] in seen:
            raise RnnkitError(f"{path}, line {number}: {student['id']} is listed twice")
        seen.add(student["id"])
        students.append({key: student.get(key, "") for key in ALIASES})
    return students


def import_roster(course, path):
    """Imports a roster with ``nbgrader db student import`` (names and emails of known students are updated);
    returns the number of students."""
    students = read_roster(path)
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="roster-")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(ALIASES))
            writer.writeheader()
            writer.writerows(students)
        course.nbgrader("db", "student", "import", tmp)
    finally:
        os.unlink(tmp)
    return len(students)


def _students(course):
    from nbgrader.api import Gradebook
    if not os.path.exists(course.path("gradebook.db")):
        return []
    with Gradebook(course.db_url) as gb:
        return [(s.id, s.first_name or "", s.last_name or "") for s in gb.students]


def write_lms_csv(course, assignments, path):
    """One row per student of the gradebook, their login in ``SIS Login ID``, one column per assignment with the
    final score (after any late penalty) of a graded submission; empty where the score is not final (awaiting a
    person, not graded) or nothing was submitted, so that an import never writes a 0 nobody earned."""
    from autograder.report import write_csv
    graded = {a: grades.of(course, a) for a in assignments}
    rows = []
    for student, first, last in sorted(_students(course)):
        name = ", ".join(part for part in (last, first) if part) or student
        cells = []
        for assignment in assignments:
            grade = graded[assignment].get(student)
            cells.append(grade.final if grade and grade.status == grades.GRADED else "")
        rows.append([name, "", "", student, "", *cells])
    return write_csv(path, LMS_COLUMNS + list(assignments), rows)
