"""A real course, end to end, through nbgrader's own exchange: the instructor runs rnnkit (and nbgrader's own
autograde), each student runs nbgrader's student commands exactly as the README gives them, from a home of its own.

alice hands in the reference, bob a realistic bug (and outputs of every kind in a demo cell), carol submits twice
(the second time with a written answer, hostile markdown and a duplicated answer cell), dave's folder was put in
``submitted/`` by hand (no secret, a broken timestamp, unknown to the gradebook)."""
import csv
import datetime
import html
import os
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import cli, diagnosis, lateness, notebooks, project, workflow
from autograder.course import Course
from autograder import grades, timetext
from autograder.grading import gradebook
from autograder.nbgrader_students import Student
from autograder.results import SubmissionResults
from autograder.simulation import catalogue, submissions

A1 = "01_rnn_cell"
WRITTEN = "written_vanishing_gradients"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
CAROL_ANSWER = ("The gradient **vanishes**: each step multiplies by W_hh. <img src=x onerror=\"alert(1)\"> "
                "<script>alert(2)</script> [a link](javascript:alert(3)) [data](data:text/html,<b>x</b>) "
                "[ok](https://d2l.ai)")


def _demo_cell(notebook):
    return next(c for c in notebook.cells if c.cell_type == "code" and notebooks.cell_kind(c) == notebooks.OTHER)


def _bob_outputs(notebook):
    cell = _demo_cell(notebook)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1 loss 0.5\x1b[31m red\x1b[0m\n"),
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure size 640x480>",
                                                     "text/html": "<script>alert('html')</script>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert('js')"}),
        nbformat.v4.new_output("display_data", data={"image/png": "PHNjcmlwdD4="}),   # not a PNG
        nbformat.v4.new_output("error", ename="ValueError", evalue="shapes (3,4) and (5,)", traceback=["..."]),
    ]
    return notebook


def _duplicate_answer(notebook):
    """A copy of the first answer cell, after it, with a body that would lose points: the first copy counts."""
    index, cell = next((i, c) for i, c in enumerate(notebook.cells) if notebooks.cell_kind(c) == notebooks.ANSWER)
    copy = nbformat.from_dict(dict(cell))
    copy.id = "copied-cell"
    copy.metadata = nbformat.from_dict({"nbgrader": dict(notebooks.nbgrader_meta(cell))})
    copy.source = cell.source.replace("return ", "return 0 * ", 1) + "\n# DUPLICATE COPY\n"
    notebook.cells.insert(index + 1, copy)
    return notebook


def _instructor_nbgrader(course, *args, env=None):
    full = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], **(env or {}))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course.root, env=full,
                          capture_output=True, text=True)


def _awaiting(course):
    return sum(g.status == grades.AWAITING for g in grades.of(course, A1).values())


def _score(course, student):
    with Gradebook(course.db_url) as gb:
        return gb.find_submission(A1, student).score


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, level):
    root = tmp_path_factory.mktemp("pipeline")
    course, exchange, homes = Course(str(root / "course")), str(root / "exchange"), str(root / "homes")
    common = ["--course-dir", course.root]
    assert cli.main(["build", A1, *common]) == 0
    assert cli.main(["release", A1, *common, "--exchange", exchange]) == 0
    reference = submissions.reference_answers(course, A1)
    bug = next(b for b in catalogue.catalogue(A1) if b.name == "bptt_no_carry")   # a mistake diagnosis knows
    students = {name: Student(homes, name, exchange) for name in ("alice", "bob", "carol")}
    students["alice"].work(A1, reference)
    students["bob"].work(A1, catalogue.apply(reference, bug), edit=_bob_outputs)
    students["carol"].work(A1, None, {WRITTEN: "first try"})
    for student in students.values():
        student.submit(A1)
    time.sleep(1.1)   # nbgrader's submissions are told apart by their time stamp
    students["carol"].work(A1, reference, {WRITTEN: CAROL_ANSWER}, edit=_duplicate_answer)
    students["carol"].submit(A1)
    # dave: a folder copied into submitted/ by hand, without nbgrader's files
    dave = os.path.dirname(course.submitted_notebook("dave", A1))
    os.makedirs(dave)
    shutil.copy(os.path.join(course.release_dir(A1), f"{A1}.ipynb"), dave)
    with open(os.path.join(dave, "timestamp.txt"), "w") as f:
        f.write("yesterday-ish")
    lines = []
    workflow.collect(course, A1, echo=lines.append)   # the exchange recorded by release
    assert cli.main(["autograde", A1, *common, "--sandbox", level, "-j", "2"]) == 0
    trusted = {s: _score(course, s) for s in ("alice", "bob", "carol", "dave")}
    awaiting = _awaiting(course)
    # nbgrader's own autograde, from the course folder as nbgrader's docs have it
    nbgrader_run = _instructor_nbgrader(course, "autograde", A1, "--force", "--student", "bob")
    assert cli.main(["feedback", A1, *common, "--release"]) == 1   # dave's cannot be released: said, exit 1
    fetched = {name: student.fetch_feedback(A1) for name, student in students.items()}
    assert cli.main(["export", *common]) == 0
    return dict(course=course, exchange=exchange, students=students, lines=lines, trusted=trusted,
                nbgrader_run=nbgrader_run, fetched=fetched, awaiting=awaiting, bug=bug)


def test_release_records_the_exchange_for_nbgrader_and_students(pipeline):
    course = pipeline["course"]
    assert course.exchange() == pipeline["exchange"]
    text = open(course.config_file).read()
    assert f"c.Exchange.root = {pipeline['exchange']!r}" in text and 'course_id = "rnnkit"' in text
    assert repr(pipeline["exchange"]) in open(course.path("student_nbgrader_config.py")).read()


def test_export_has_the_trusted_scores(pipeline):
    course = pipeline["course"]
    with open(course.path("exports", "grades.csv")) as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert float(rows["alice"]["raw_score"]) == pytest.approx(15)   # + 2 written points, graded by hand
    assert float(rows["bob"]["raw_score"]) < 15 and float(rows["dave"]["raw_score"]) == 0
    assert float(rows["carol"]["raw_score"]) == pytest.approx(15)   # the second submission, the first copy
    assert rows["carol"]["status"] == grades.AWAITING and rows["alice"]["status"] == grades.GRADED
    with open(course.path("exports", f"items_{A1}.csv")) as f:
        items = {row["student"]: row for row in csv.DictReader(f)}
    assert float(items["alice"]["rnn_backward"]) == 4 and float(items["bob"]["rnn_backward"]) < 4
    assert items["carol"][WRITTEN] == "" and items["carol"]["status"] == grades.AWAITING


def test_nbgrader_autograde_gives_the_trusted_grade(pipeline):
    course, run = pipeline["course"], pipeline["nbgrader_run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rnnkit: bob/01_rnn_cell" in run.stderr         # it was rnnkit's grader that ran
    assert _score(course, "bob") == pytest.approx(pipeline["trusted"]["bob"]) and pipeline["trusted"]["bob"] < 15
    results = SubmissionResults.load(course.results_file("bob", A1))
    assert results.score == pytest.approx(pipeline["trusted"]["bob"])
    shown = notebooks.read(os.path.join(course.autograded_dir("bob", A1), f"{A1}.ipynb"))
    assert any("Hidden tests for rnn_backward" in "".join(o.get("text", "")) for c in shown.cells
               for o in c.get("outputs", []))


def test_every_student_fetches_feedback_with_nbgrader(pipeline):
    for name in ("alice", "bob", "carol"):
        (page,) = pipeline["fetched"][name]
        assert "Hidden tests for rnn_backward" in open(page).read()
    assert any(line.startswith("dave/01_rnn_cell: submission_secret.txt is missing") for line in pipeline["lines"])
    assert any(line.startswith("dave/01_rnn_cell: timestamp.txt does not hold a time") for line in pipeline["lines"])


def test_a_known_mistake_is_named_in_the_feedback_and_counted_in_the_report(pipeline):
    """bob's bug is a catalogued one: the feedback he fetched says what it usually comes from, and the class report
    counts him under it; alice (the reference) gets no hint."""
    course, bug = pipeline["course"], pipeline["bug"]
    hint = diagnosis.sentence(bug.student_hint)
    (page,) = pipeline["fetched"]["bob"]
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", open(page).read())).split())
    assert " ".join(hint.split()) in shown
    (alice,) = pipeline["fetched"]["alice"]
    assert diagnosis.PREFIX not in open(alice).read()
    table = workflow.reporting.table(course, A1)
    assert "Known mistakes" in table
    assert any(line.split()[:2] == ["1", "student"] and f"{bug.cell}: " in line for line in table.splitlines())


def test_feedback_hides_the_hidden_suite(pipeline):
    course = pipeline["course"]
    for student in ("alice", "bob"):
        html = open(course.path("feedback", student, A1, f"{A1}.html")).read()
        with open(project.suite(A1)) as f:
            for line in f:
                if len(line.strip()) > 40 and not line.strip().startswith(("import", "from", "#", '"""')):
                    assert line.strip() not in html, f"hidden suite line in feedback: {line.strip()}"


def test_written_answer_is_markdown_made_safe(pipeline):
    (page,) = pipeline["fetched"]["carol"]
    html = open(page).read()
    assert "<strong>vanishes</strong>" in html                     # rendered as markdown ...
    assert "onerror" not in html and "alert(2)" not in html        # ... with no script, handler,
    assert "javascript:" not in html.split("</style>")[-1] and "data:text/html" not in html   # or harmful link
    assert 'href="https://d2l.ai"' in html
    assert '<meta http-equiv="Content-Security-Policy"' in html and "script-src" not in html  # default-src 'none'
    assert "<script" not in html
    assert "Awaiting grading by a person" in html                   # not a silent 0.0 / 2.0


def test_autograded_notebook_keeps_safe_outputs_only(pipeline):
    course = pipeline["course"]
    shown = notebooks.read(os.path.join(course.autograded_dir("bob", A1), f"{A1}.ipynb"))
    outputs = _demo_cell(shown).outputs
    kinds = [sorted(o.get("data", {})) or o.get("name") for o in outputs]
    assert kinds == ["stdout", ["image/png", "text/plain"], ["text/plain"], "stderr"] or \
        kinds == ["stdout", ["image/png", "text/plain"], "stderr"], kinds
    assert outputs[0].text == "epoch 1 loss 0.5 red\n"            # no terminal escapes
    assert outputs[1].data["image/png"] == PNG
    assert "ValueError: shapes (3,4) and (5,)" in outputs[-1].text
    page = open(course.path("feedback", "bob", A1, f"{A1}.html")).read()
    assert f"data:image/png;base64,{PNG}" in page and "alert('html')" not in page and "alert('js')" not in page


def test_duplicated_answer_cell_first_copy_graded_and_shown(pipeline):
    course = pipeline["course"]
    shown = notebooks.read(os.path.join(course.autograded_dir("carol", A1), f"{A1}.ipynb"))
    assert not any("DUPLICATE COPY" in notebooks.cell_source(c) for c in shown.cells)   # shown: the first copy
    report = "".join(o.get("text", "") for c in shown.cells for o in c.get("outputs", []))
    assert "cells for rnn_cell_forward; the first one was graded" in report
    assert SubmissionResults.load(course.results_file("carol", A1)).items()["rnn_cell_forward"].score == 2
    with Gradebook(course.db_url) as gb:
        assert gb.find_submission_notebook(A1, A1, "carol").flagged


def test_manual_grade_round_trip(pipeline):
    """formgrader's manual grade reaches report and items CSV; a regrade keeps it (and its flag) while the answer
    is unchanged, and asks for a person again when it changed."""
    course = pipeline["course"]
    assert pipeline["awaiting"] == 1                              # carol
    with Gradebook(course.db_url) as gb:                         # what formgrader's grade box writes
        grade = gb.find_grade(WRITTEN, A1, A1, "carol")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    assert _awaiting(course) == 0
    results = SubmissionResults.load(course.results_file("carol", A1))

    def regrade():
        gradebook.record(course, "carol", A1, results, gradebook.autograded_notebook(course, "carol", A1, results))
        with Gradebook(course.db_url) as gb:
            grade = gb.find_grade(WRITTEN, A1, A1, "carol")
            return grade.manual_score, grade.needs_manual_grade

    assert regrade() == (1.5, False)
    table = workflow.reporting.table(course, A1)
    carol = next(line for line in table.splitlines() if line.startswith("carol"))
    assert "1.5/2*" in carol and "16.5 / 17" in carol
    path = workflow.reporting.write_item_csv(course, A1, str(course.path("items.csv")))
    row = next(r for r in csv.DictReader(open(path)) if r["student"] == "carol")
    assert float(row[WRITTEN]) == 1.5 and float(row["score"]) == 16.5 and row["status"] == grades.GRADED
    # the answer changes (a later submission): a person must look again
    notebook = notebooks.read(course.submitted_notebook("carol", A1))
    next(c for c in notebook.cells if notebooks.nbgrader_meta(c).get("grade_id") == WRITTEN).source = "changed"
    nbformat.write(notebook, course.submitted_notebook("carol", A1))
    assert regrade() == (None, True)
    assert _awaiting(course) == 1


def _set(course, student, grade_id, **values):
    """What formgrader's grade, extra-credit and comment boxes write into the gradebook."""
    with Gradebook(course.db_url) as gb:
        grade = gb.find_grade(grade_id, A1, A1, student)
        for key in ("manual_score", "extra_credit", "needs_manual_grade"):
            if key in values:
                setattr(grade, key, values[key])
        if "comment" in values:
            gb.find_comment(grade_id, A1, A1, student).manual_comment = values["comment"]
        gb.db.commit()


def _regrade(course, student):
    """What ``rnnkit autograde --force`` records for one submission (its kept results, recorded again)."""
    results = SubmissionResults.load(course.results_file(student, A1))
    gradebook.record(course, student, A1, results, gradebook.autograded_notebook(course, student, A1, results))
    return grades.summary_line(course, student, A1)


def _views(course, student):
    """The total every view shows for ``student``: (summary line, grades.csv, items CSV, report, plot %, feedback,
    nbgrader's own gradebook as formgrader reads it)."""
    assert cli.main(["export", "--course-dir", course.root]) == 0
    with open(course.path("exports", "grades.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == student)
    with open(course.path("exports", f"items_{A1}.csv")) as f:
        items = next(r for r in csv.DictReader(f) if r["student"] == student)
    line = next(line for line in workflow.reporting.table(course, A1).splitlines() if line.startswith(student))
    totals, _ = workflow.reporting.plot_data(course, A1)
    assert cli.main(["feedback", A1, "--student", student, "--course-dir", course.root]) == 0
    page = open(course.path("feedback", student, A1, f"{A1}.html")).read()
    return dict(summary=grades.summary_line(course, student, A1), csv=row, items=items, report=line, plot=totals,
                page=page, nbgrader=_score(course, student))


def test_every_view_shows_the_same_grade_after_formgrader_changes(pipeline):
    """A person changes grades the ways formgrader can (a manual score over an autograded item, extra credit, a
    written answer), a --force regrade follows: the command's line, grades.csv, the items CSV, the report, the plot,
    the feedback page and nbgrader's own gradebook all show the same points, and the regrade names what it kept."""
    course = pipeline["course"]
    _set(course, "alice", "test_rnn_backward", manual_score=3.0)          # an override of an autograded item
    _set(course, "alice", "test_rnn_cell_forward", extra_credit=0.5)      # extra credit
    _set(course, "alice", WRITTEN, manual_score=1.0, needs_manual_grade=False)   # her untouched answer, by hand
    line = _regrade(course, "alice")
    assert "kept the manual grade 3 of rnn_backward" in line and line.startswith("alice/01_rnn_cell: ")
    grade = grades.one(course, "alice", A1)
    assert grade.status == grades.GRADED and grade.max_score == 17
    assert grade.score == 15 - 1 + 0.5 + 1.0 == 15.5
    assert grade.item("rnn_backward").shown() == "3/4" and grade.item("rnn_backward").by_hand
    views = _views(course, "alice")
    assert "15.5 / 17" in views["summary"] and "rnn_backward 3/4" in views["summary"]
    assert float(views["csv"]["raw_score"]) == float(views["csv"]["score"]) == 15.5
    assert views["csv"]["status"] == grades.GRADED
    assert float(views["items"]["rnn_backward"]) == 3 and float(views["items"]["rnn_cell_forward"]) == 2.5
    assert float(views["items"][WRITTEN]) == 1 and float(views["items"]["score"]) == 15.5
    assert "3/4*" in views["report"] and "15.5 / 17" in views["report"]
    assert pytest.approx(100 * 15.5 / 17) in views["plot"]
    assert "(Score: 15.5 / 17.0)" in views["page"] and "Set by your instructor" in views["page"]
    assert '>rnn_backward</a> (Score: 3.0 / 4.0)' in views["page"]
    assert "Test cell" not in views["page"]
    assert views["nbgrader"] == pytest.approx(15.5)


def test_a_stale_comment_or_a_note_never_reaches_the_student(pipeline):
    """carol's graded written answer changes: the regrade clears the grade and says whose and which; the old
    comment and the grader's note stay in formgrader's box for the TA, never in carol's feedback; re-released
    feedback says it replaced the earlier one."""
    course = pipeline["course"]
    _set(course, "carol", WRITTEN, manual_score=1.5, needs_manual_grade=False, comment="OLD-COMMENT (-0.5)")
    assert "kept the manual grade 1.5 of " + WRITTEN in _regrade(course, "carol")
    notebook = notebooks.read(course.submitted_notebook("carol", A1))
    next(c for c in notebook.cells if notebooks.nbgrader_meta(c).get("grade_id") == WRITTEN).source = "new text"
    nbformat.write(notebook, course.submitted_notebook("carol", A1))
    line = _regrade(course, "carol")
    assert f"cleared the manual grade 1.5 of {WRITTEN}" in line and line.startswith("carol/")
    assert "(1 awaiting a person)" in line
    with Gradebook(course.db_url) as gb:
        kept = gb.find_comment(WRITTEN, A1, A1, "carol").manual_comment
    assert kept.startswith(gradebook.NOTE) and "OLD-COMMENT" in kept                  # the TA still sees it
    lines = []
    assert workflow.feedback(course, [A1], "carol", echo=lines.append, release=True) == 0
    assert any("WARNING" in x and "carol" in x and grades.AWAITING in x for x in lines)
    page = open(course.path("feedback", "carol", A1, f"{A1}.html")).read()
    assert f'>{WRITTEN}</a> (awaiting a person, of 2)' in page
    _set(course, "carol", WRITTEN, manual_score=2.0, needs_manual_grade=False)       # the TA grades it again
    lines = []
    assert workflow.feedback(course, [A1], "carol", echo=lines.append, release=True) == 0
    page = open(course.path("feedback", "carol", A1, f"{A1}.html")).read()
    assert "OLD-COMMENT" not in page and "[rnnkit" not in page and "grade it again" not in page
    assert "This feedback replaces the one released on" in page
    assert any("replaces the one released before" in x for x in lines)
    (fetched,) = pipeline["students"]["carol"].fetch_feedback(A1)[-1:]
    assert "This feedback replaces the one released on" in open(fetched).read()


def test_due_dates_penalties_and_extensions(pipeline):
    """A due date 400 s before the submissions, rnnkit's per-day policy in the course's config, an extension for
    alice: lateness and the penalty reach the line, grades.csv, the items CSV, the report and the feedback."""
    course = pipeline["course"]
    with Gradebook(course.db_url) as gb:
        bob_time = gb.find_submission(A1, "bob").timestamp
        gb.update_or_create_assignment(A1, duedate=bob_time - datetime.timedelta(seconds=400))
    with open(course.config_file, "a") as f:
        f.write('c.AssignLatePenalties.plugin_class = "autograder.lateness.PerDayPenalty"\n'
                "c.PerDayPenalty.percent_per_day = 10\n")
    due = timetext.when(bob_time + datetime.timedelta(days=1))
    assert cli.main(["extension", "alice", A1, "--until", due.replace(" UTC", ""), "--course-dir", course.root]) == 0
    try:
        line = _regrade(course, "bob")
        bob = grades.one(course, "bob", A1)
        assert bob.late and 399 <= bob.seconds_late < 460 and bob.penalty == pytest.approx(bob.score * 0.1, abs=0.01)
        assert "late by 6 min" in line and f"{bob.final:g} / 17 (after a late penalty of {bob.penalty:g})" in line
        alice = grades.one(course, "alice", A1)
        assert not alice.late and alice.penalty == 0
        views = _views(course, "bob")
        assert float(views["csv"]["late_submission_penalty"]) == bob.penalty
        assert int(views["csv"]["seconds_late"]) >= 399
        assert float(views["csv"]["score"]) == bob.final and float(views["items"]["score"]) == bob.final
        assert "late by 6 min" in views["report"]
        assert f"Late submission penalty (Score: -{bob.penalty:g}" in views["page"] or \
            f"Late submission penalty (Score: -{round(bob.penalty, 2)}" in views["page"]
    finally:
        with Gradebook(course.db_url) as gb:
            gb.update_or_create_assignment(A1, duedate=None)
        lateness.refresh(course, A1)


def test_nbgrader_autograde_refuses_when_rnnkit_cannot_grade(pipeline):
    """Last: nbgrader's --force removes the autograded folder before rnnkit is asked."""
    course = pipeline["course"]
    before = {s: _score(course, s) for s in ("alice", "bob")}
    run = _instructor_nbgrader(course, "autograde", A1, "--force", "--student", "alice",
                               env={"RNNKIT_REQUIRE_SANDBOX": "no-such-level"})
    assert run.returncode != 0
    assert "rnnkit could not grade alice/01_rnn_cell, so nbgrader wrote no grade" in run.stderr
    assert "unknown sandbox level" in run.stderr
    assert {s: _score(course, s) for s in ("alice", "bob")} == before
