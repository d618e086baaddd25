"""What reaches a page a person opens: test names whole with their descriptions and wrapped lines, the student's
outputs reduced to safe kinds and sizes, written answers as sanitised markdown, and the feedback page under a CSP.
No grading here: results are built by hand."""
import nbformat

from autograder import nbgrader_safe, notebooks
from autograder.grading import gradebook
from autograder.nbgrader_feedback import CSP, safe_page
from autograder.results import FAILED, PASSED, SubmissionResults
from autograder.results import TestResult as Result

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
LONG = ("rnn_backward's gradients with respect to every weight, checked first with shapes of its inputs that "
        "are non-square and then against tf.GradientTape and centred differences in float64")


def test_report_names_tests_whole_with_descriptions_and_wraps_lines():
    results = SubmissionResults(tests=[
        Result("rnn_backward", "rnn_backward: gradients", FAILED, 0.0, 2.0, "relative error " + "9" * 150,
                   description=LONG),
        Result("rnn_backward", "rnn_backward: shapes", PASSED, 2.0, 2.0, description="the shapes")])
    text = gradebook._report("rnn_backward", results, copies=2)
    assert "✗ gradients [0/2]" in text and "✓ shapes [2/2]" in text
    assert " ".join(" ".join(text.split("\n")).split()).count(LONG) == 1   # the whole sentence, only wrapped
    assert all(len(line) <= gradebook.WRAP for line in text.splitlines())
    assert "9" * 40 in text                                           # the message is there, broken into lines
    assert "2 cells for rnn_backward; the first one was graded" in " ".join(text.split())


def test_outputs_keep_safe_kinds_and_sizes_only():
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "\x1b[1mloss\x1b[0m 0.5\rloss 0.4\n"},
        {"output_type": "display_data", "data": {"image/png": PNG, "text/html": "<script>x()</script>",
                                                 "image/svg+xml": "<svg onload=x()>"}, "metadata": {"width": "1 onload=x()"}},
        {"output_type": "display_data", "data": {"application/javascript": "x()"}},
        {"output_type": "execute_result", "data": {"image/png": "PHNjcmlwdD4="}, "execution_count": 3},  # not PNG
        {"output_type": "stream", "name": "stdout", "text": "y" * (nbgrader_safe.MAX_TEXT + 50)},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad <b>shape</b>", "traceback": ["\x1b[31m..."]},
    ]
    kept = nbgrader_safe.safe_outputs(outputs)
    assert [o.output_type for o in kept] == ["stream", "display_data", "stream", "stream"]
    assert kept[0].text == "loss 0.4\n"
    assert kept[1].data == {"image/png": PNG} and not kept[1].get("metadata")
    assert len(kept[2].text) < nbgrader_safe.MAX_TEXT + 100 and "more characters not shown" in kept[2].text
    assert kept[3].name == "stderr" and kept[3].text.startswith("ValueError: bad <b>shape</b>")
    budget = nbgrader_safe.OutputBudget(total=50)
    assert nbgrader_safe.safe_outputs([outputs[1]], budget) == []     # over the notebook's budget: dropped
    nbformat.validate(nbformat.from_dict({"cells": [{"cell_type": "code", "source": "", "metadata": {},
                                                     "outputs": kept, "execution_count": None, "id": "a"}],
                                          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_written_answer_is_markdown_with_only_safe_html():
    html = nbgrader_safe.markdown_html(
        "**yes** [a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html,x) [d](vbscript:x) "
        "<img src=x onerror=alert(1)> <img src=\"https://evil/x.png\"> <iframe src=//evil></iframe> "
        "<svg><script>alert(1)</script></svg> <a href=\"https://d2l.ai\" onclick=\"x()\">ok</a>\n\n"
        "```\ncode\n\nmore\n```\n")
    assert "<strong>yes</strong>" in html and 'href="https://d2l.ai"' in html
    for bad in ("javascript", "JaVaScRiPt", "data:text", "vbscript", "onerror", "onclick", "https://evil",
                "<iframe", "<script", "<svg"):
        assert bad not in html, bad
    assert "\n\n" not in html          # one HTML block: a markdown renderer renders nothing in it again


def test_feedback_page_has_a_csp_and_a_sanitised_body():
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8"><script src="https://cdn/mathjax.js"></script>'
            '<style>body{}</style></head><body><div class="cell"><img src="x" onerror="alert(1)">'
            '<a href="javascript:alert(2)">x</a><script>alert(3)</script><form action="https://evil">'
            f'<img src="data:image/png;base64,{PNG}"></form></div></body></html>')
    safe = safe_page(page)
    assert safe.index("Content-Security-Policy") < safe.index("<style>") and CSP in safe
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    for bad in ("<script", "onerror", "javascript:", "<form", "cdn/mathjax"):
        assert bad not in safe, bad
    assert f'src="data:image/png;base64,{PNG}"' in safe and "<style>body{}</style>" in safe


def test_duplicated_cells_one_rule_for_grading_and_display():
    def cell(source, grade_id="f"):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade_id": grade_id, "solution": True, "grade": False, "locked": False, "schema_version": 3}})
    notebook = nbformat.v4.new_notebook(cells=[cell("first"), cell("second"), cell("only", "g")])
    found, copies = notebooks.first_copies(notebook)
    assert notebooks.cell_source(found["f"]) == "first" and copies == {"f": 2}
    assert notebooks.answer_cells(notebook) == {"f": "first", "g": "only"}


def test_the_gradebook_refuses_autograded_scores_from_anyone_but_rnnkit(built, tmp_path):
    """Even with rnnkit's block gone from the config, nbgrader's SaveAutoGrades (an update of grade.auto_score)
    cannot replace a trusted score; manual grades still can be given."""
    import shutil
    import pytest
    import sqlalchemy.exc
    from nbgrader.api import Gradebook
    from autograder.course import Course
    from autograder.simulation import submissions
    session_course, _ = built
    course = Course(str(tmp_path / "course"))
    shutil.copytree(session_course.root, course.root, ignore=shutil.ignore_patterns(
        "submitted", "autograded", "feedback", "exchange", "students", "grader_logs", ".rnnkit"))
    a = "01_rnn_cell"
    submissions.submit(course, "eve", a, None)
    item = next(iter(notebooks.layout(notebooks.read(course.source_notebook(a))).points))
    results = SubmissionResults(tests=[Result(item, f"{item}: x", FAILED, 0.0, 2.0, "no")])
    gradebook.record(course, "eve", a, results, gradebook.autograded_notebook(course, "eve", a, results))
    with Gradebook(course.db_url) as gb:
        grade = gb.find_grade(f"test_{item}", a, a, "eve")
        grade.auto_score = 2.0                                   # what SaveAutoGrades does after a kernel run
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="written by the trusted rnnkit grader only"):
            gb.db.commit()
        gb.db.rollback()
        grade = gb.find_grade(f"test_{item}", a, a, "eve")
        assert grade.auto_score == 0.0
        grade.manual_score = 1.0                                  # formgrader's grade box
        gb.db.commit()
    gradebook.record_not_graded(course, "eve", a, "a test")       # rnnkit itself still writes
    with Gradebook(course.db_url) as gb:
        assert gb.find_grade(f"test_{item}", a, a, "eve").auto_score is None
    gradebook.record(course, "eve", a, results, gradebook.autograded_notebook(course, "eve", a, results))
    with Gradebook(course.db_url) as gb:
        assert gb.find_grade(f"test_{item}", a, a, "eve").auto_score == 0.0
        assert gb.db.execute(sqlalchemy.text("SELECT COUNT(*) FROM rnnkit_writer")).scalar() == 0   # never kept
