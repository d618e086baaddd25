"""A semester's pieces, without grading: the one vocabulary of a grade's states, late penalties, the roster, the
feedback page's summary, notes and formulas. (tests/test_pipeline.py checks them through a whole course.)"""
from types import SimpleNamespace

import pytest

from autograder import grades, lateness, nbgrader_feedback, roster, timetext
from autograder.errors import RnnkitError
from autograder.grading import gradebook


def _row(name, cell_type="code", auto=None, manual=None, extra=None, needs=False, top=2.0):
    """One row of nbgrader's ``grade`` table, as :func:`grades.item_of` reads it."""
    return SimpleNamespace(name=name, cell_type=cell_type, auto_score=auto, manual_score=manual, extra_credit=extra,
                           needs_manual_grade=needs, max_score=top)


def test_an_items_points_are_a_persons_if_given_else_the_tests():
    item = grades.item_of(_row("test_rnn_backward", auto=4.0, manual=3.0, top=4.0))
    assert (item.name, item.kind, item.score, item.status, item.by_hand) == \
        ("rnn_backward", grades.AUTOGRADED, 3.0, grades.GRADED, True)
    assert item.shown() == "3/4" and item.lost
    assert grades.item_of(_row("test_f", auto=1.0, extra=0.5)).score == 1.5
    assert grades.item_of(_row("test_f", auto=None, needs=True)).status == grades.NOT_GRADED   # never a 0
    written = grades.item_of(_row("written_x", "markdown", needs=True))
    assert written.status == grades.AWAITING and written.score is None and written.shown() == grades.AWAITING
    assert grades.item_of(_row("written_x", "markdown", auto=0.0)).status == grades.GRADED   # untouched: 0


def test_a_submissions_states_and_total_in_one_vocabulary():
    grade = grades.Grade("s", "a", items=[grades.item_of(_row("test_f", auto=2.0)),
                                          grades.item_of(_row("written_x", "markdown", needs=True))],
                         status=grades.AWAITING, seconds_late=400.8, penalty=0.2, flagged=True)
    assert grade.score == 2.0 and grade.max_score == 4.0 and grade.final == 1.8
    assert grade.words() == [grades.AWAITING, grades.LATE, grades.FLAGGED]
    assert grade.total() == "1.8 / 4 (after a late penalty of 0.2) (1 awaiting a person)"
    assert timetext.late_text(400.8) == "late by 6 min 41 s" and timetext.late_text(2 * 86400 + 3 * 3600) == \
        "late by 2 d 3 h"
    assert set(grades.STATUSES) == {"graded", "awaiting a person", "not graded", "missing"}


def test_per_day_penalty():
    policy = lateness.PerDayPenalty(percent_per_day=10, grace_minutes=5, max_days=3)
    assert policy.late_submission_penalty("s", 10.0, 200) is None                 # within the grace
    assert policy.late_submission_penalty("s", 10.0, 400) == pytest.approx(1.0)   # day 1
    assert policy.late_submission_penalty("s", 10.0, 86400 + 301) == pytest.approx(2.0)
    assert policy.late_submission_penalty("s", 10.0, 4 * 86400) == 10.0           # past max_days: zero


def test_times_as_a_ta_types_them():
    assert timetext.when(lateness.parse_time("2027-03-03 17:00")) == "2027-03-03 17:00:00 UTC"
    assert timetext.when(lateness.parse_time("2027-03-03 17:00+01:00")) == "2027-03-03 16:00:00 UTC"
    with pytest.raises(RnnkitError, match="is not a time"):
        lateness.parse_time("next tuesday-ish")


def test_roster_columns_as_lms_name_them(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffUsername,Given name,Surname,Email address\nbob,Bob,Builder,b@x.org\nann,Ann,,\n")
    assert roster.read_roster(str(path)) == [
        {"id": "bob", "first_name": "Bob", "last_name": "Builder", "email": "b@x.org"},
        {"id": "ann", "first_name": "Ann", "last_name": "", "email": ""}]
    path.write_text("name,email\nBob,b@x.org\n")
    with pytest.raises(RnnkitError, match="no column for the student's login"):
        roster.read_roster(str(path))
    path.write_text("id\nbob\nbob\n")
    with pytest.raises(RnnkitError, match="line 3: bob is listed twice"):
        roster.read_roster(str(path))


def test_the_graders_notes_never_reach_the_student():
    comment = "Good, but -0.5 for the sign.\n" + gradebook.note("the answer changed after a manual grade of 1.5")
    assert nbgrader_feedback.student_comment(comment) == "Good, but -0.5 for the sign."
    assert nbgrader_feedback.student_comment(gradebook.note("x")) is None
    assert nbgrader_feedback.student_comment("[rnnkit: an older note]\n") is None


def test_the_summary_names_items_and_says_awaiting():
    page = ('<li><a href="#test_rnn_backward">Test cell</a> (Score: 3.0 / 4.0)</li>\n'
            '<li><a href="#written_x">Written response</a> (Score: 0.0 / 2.0)</li>')
    shown = nbgrader_feedback.summary_by_item(page, {"test_rnn_backward": ("rnn_backward", grades.GRADED, 4.0),
                                                     "written_x": ("written_x", grades.AWAITING, 2.0)})
    assert '<a href="#test_rnn_backward">rnn_backward</a> (Score: 3.0 / 4.0)' in shown
    assert '<a href="#written_x">written_x</a> (awaiting a person, of 2)' in shown and "Test cell" not in shown


def test_formulas_become_mathml_outside_code_only():
    html = nbgrader_feedback.formulas_as_mathml(
        "<p>$\\tanh$ and $x_t &lt; 1$</p><pre>$a$</pre><code>$b$</code><p>$$\\frac{a}{b}$$ costs $5</p>")
    assert html.count("<math") == 3 and "<pre>$a$</pre>" in html and "<code>$b$</code>" in html
    assert "<mo>&lt;</mo>" in html and "costs $5" in html
    hostile = nbgrader_feedback.formulas_as_mathml(   # what nh3 leaves of a student's tags: text, escaped
        "<p>$\\text{&lt;script&gt;x&lt;/script&gt;}$ $&lt;img src=x onerror=y&gt;$</p>")
    assert "<script" not in hostile and "<img" not in hostile
