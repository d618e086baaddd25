"""The demo's class comes in through nbgrader's own exchange: release, fetch and submit per student, collect."""
import os
import shutil

from autograder import notebooks
from autograder.course import Course
from autograder.simulation import demo

A1 = "01_rnn_cell"


def test_the_demo_class_goes_through_nbgrader_exchange(built, tmp_path):
    session_course, _ = built
    course = Course(str(tmp_path / "course"))
    shutil.copytree(session_course.root, course.root, ignore=shutil.ignore_patterns(
        "submitted", "autograded", "feedback", "exchange", "students", "grader_logs"))
    lines = []
    count = demo.submit_class(course, [A1], course.path("exchange"), echo=lines.append)
    expected = [s for s, plan in demo.CLASS.items() if plan[0] is not None]
    assert count == len(expected) and course.students(A1) == sorted(expected)
    assert course.exchange() == course.path("exchange")           # release recorded it
    inbound = os.listdir(course.path("exchange", "rnnkit", "inbound"))
    assert sorted(name.split("+")[0] for name in inbound) == sorted(expected)   # each one submitted by nbgrader
    for student in expected:
        folder = os.path.dirname(course.submitted_notebook(student, A1))
        assert os.path.getsize(os.path.join(folder, "submission_secret.txt")) > 0   # nbgrader's submit wrote it
        assert os.path.exists(os.path.join(course.path("students", student, A1, f"{A1}.ipynb")))   # fetched
    ben = notebooks.answer_cells(notebooks.read(course.submitted_notebook("ben", A1)))
    bug = demo.distinct_bugs(A1)[demo.CLASS["ben"][0]]
    assert bug.new in ben[bug.cell] and bug.old not in ben[bug.cell]   # ben's catalogued bug came through
    assert not any("missing" in line for line in lines)            # nbgrader's files are all there
