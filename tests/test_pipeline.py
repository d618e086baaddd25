"""The whole nbgrader workflow in a temporary directory, as an instructor and two students would run it:
build, release to an exchange, fetch and submit, collect, autograde, feedback, export."""
import csv
import os
import subprocess
import sys

import nbformat
import pytest

from autograder import cli, notebooks, project
from autograder.simulation import submissions
from autograder.course import Course

A1 = "01_rnn_cell"
INJECTED_HTML = '<img src=x onerror="alert(1)"> <script>alert(2)</script>'



def student_nbgrader(*args, cwd):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, level):
    root = tmp_path_factory.mktemp("pipeline")
    course, exchange = Course(str(root / "course")), root / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)  # nbgrader insists on a world-writable exchange
    common = ["--course-dir", course.root]
    assert cli.main(["build", A1, *common]) == 0
    assert cli.main(["release", A1, *common, "--exchange", str(exchange)]) == 0
    reference = submissions.reference_answers(course, A1)
    for student, answers in (("alice", reference), ("bob", None)):
        home = root / student
        home.mkdir()
        exchange_arg = f"--Exchange.root={exchange}"
        student_nbgrader("fetch_assignment", A1, "--course=rnnkit", exchange_arg, cwd=home)
        fetched = home / A1 / f"{A1}.ipynb"
        notebook = notebooks.read(fetched)
        for cell in notebook.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if answers and grade_id in answers and cell.cell_type == "code":
                cell.source = answers[grade_id]
            if student == "bob" and grade_id == "written_vanishing_gradients":
                cell.source = INJECTED_HTML
        nbformat.write(notebook, fetched)
        student_nbgrader("submit", A1, "--course=rnnkit", exchange_arg, f"--student={student}", cwd=home)
    assert cli.main(["collect", A1, *common, "--exchange", str(exchange)]) == 0
    assert cli.main(["autograde", A1, *common, "--sandbox", level]) == 0
    assert cli.main(["feedback", A1, *common]) == 0
    assert cli.main(["export", *common]) == 0
    return course


def test_export_has_the_scores(pipeline):
    with open(pipeline.path("exports", "grades.csv")) as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert float(rows["alice"]["raw_score"]) == pytest.approx(15)   # + 2 written points, graded by hand
    assert float(rows["bob"]["raw_score"]) == 0
    assert float(rows["alice"]["max_score"]) == 17
    with open(pipeline.path("exports", f"items_{A1}.csv")) as f:
        items = {row["student"]: row for row in csv.DictReader(f)}
    assert float(items["alice"]["rnn_backward"]) == 4 and float(items["bob"]["rnn_backward"]) == 0


def test_feedback_reports_scores_without_hidden_code(pipeline):
    for student in ("alice", "bob"):
        html = open(pipeline.path("feedback", student, A1, f"{A1}.html")).read()
        assert "Hidden tests for rnn_backward" in html
        with open(project.suite(A1)) as f:
            for line in f:
                if len(line.strip()) > 40 and not line.strip().startswith(("import", "from", "#", '"""')):
                    assert line.strip() not in html, f"hidden suite line in feedback: {line.strip()}"
    assert "rnnkit-canary" not in open(pipeline.path("feedback", "bob", A1, f"{A1}.html")).read()


def test_gradebook_knows_both_students_and_the_manual_item(pipeline):
    from nbgrader.api import Gradebook
    with Gradebook(pipeline.db_url) as gb:
        assert {s.id for s in gb.students} >= {"alice", "bob"}
        untouched = gb.find_grade("written_vanishing_gradients", A1, A1, "alice")
        assert untouched.auto_score == 0    # nothing written: 0
        written = gb.find_grade("written_vanishing_gradients", A1, A1, "bob")
        assert written.auto_score is None and written.needs_manual_grade   # awaiting a person in formgrader
        assert gb.find_submission(A1, "alice").score == pytest.approx(15)


def test_html_in_a_written_answer_is_shown_as_text_in_feedback(pipeline):
    html = open(pipeline.path("feedback", "bob", A1, f"{A1}.html")).read()
    assert "onerror" in html                                   # the answer is there ...
    assert '<img src=x onerror' not in html and "<script>alert(2)" not in html   # ... as text, not as markup


def test_grades_csv_is_safe_and_marks_missing_submissions(pipeline):
    from autograder import report
    path = pipeline.path("exports", "grades.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert rows and all(row["status"] == "submitted" for row in rows)
    with open(path, "a") as f:   # a student who never submitted, with a hostile id, as nbgrader would write them
        f.write(f"{A1},,,=cmd|' /C calc'!A0,,,,0.0,0.0,0.0,17.0\n")
    report.mark_missing_and_neutralise(path)
    with open(path) as f:
        last = list(csv.DictReader(f))[-1]
    assert last["status"] == "missing" and last["score"] == "" and last["student_id"].startswith("'=")
