"""formgrader in a real browser (Debian's chromium, driven by playwright) on an rnnkit course: the instructor sees
the student's name (the roster), every item's rnnkit score, formulas typeset by a MathJax the server itself serves,
plots without nbgrader's red frame; grades the written answer by hand and overrides an autograded item, and finds
both in every export; presses formgrader's Autograde button and still sees the trusted grade (and the manual ones);
presses Generate Feedback and finds the same points, named by item, in the page the student gets."""
import contextlib
import csv
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from nbgrader.api import Gradebook

import nbformat

from autograder import build, cli, grades, notebooks
from autograder.course import Course
from autograder.grading import batch
from autograder.results import SubmissionResults
from autograder.simulation import catalogue, submissions

A1 = "01_rnn_cell"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WRITTEN = "written_vanishing_gradients"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.environ.get("RNNKIT_SCREENSHOTS")   # a folder to keep the screenshots in (they are looked at by people)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=(
    "chromium is not installed (Debian/Ubuntu: sudo apt-get install chromium); playwright must not download one"))


def _free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _formgrader(course, home):
    """``jupyter server`` with nbgrader's formgrader, in the course folder, on 127.0.0.1, no token, a home and a
    Jupyter configuration of its own."""
    port = _free_port()
    env = dict(os.environ, HOME=home, JUPYTER_CONFIG_DIR=os.path.join(home, ".jupyter"),
               JUPYTER_DATA_DIR=os.path.join(home, "data"), JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    os.makedirs(env["JUPYTER_CONFIG_DIR"], exist_ok=True)
    log = open(os.path.join(home, "server.log"), "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--ip=127.0.0.1", f"--port={port}",
                               "--ServerApp.token=", "--ServerApp.password=", "--no-browser", "--allow-root",
                               "--ServerApp.port_retries=0"],
                              cwd=course.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/formgrader/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise AssertionError("formgrader did not start: " + open(log.name).read()[-2000:])
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, level):
    root = tmp_path_factory.mktemp("formgrader")
    course = Course(str(root / "course"))
    build.build(course, [A1], log=lambda *_: None)
    reference = submissions.reference_answers(course, A1)
    bug = next(b for b in catalogue.catalogue(A1) if b.cell == "rnn_backward")

    def write(notebook):
        for cell in notebook.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == WRITTEN:
                cell.source = "The gradient shrinks at each step."
        demo = next(c for c in notebook.cells if c.cell_type == "code" and notebooks.cell_kind(c) == notebooks.OTHER)
        demo.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
        return notebook
    submissions.submit(course, "bob", A1, catalogue.apply(reference, bug), write)
    roster = root / "roster.csv"
    roster.write_text("Login,First Name,Last Name,Email\nbob,Bob,Builder,bob@example.org\n")
    assert cli.main(["roster", str(roster), "--course-dir", course.root]) == 0
    graded, failures = batch.autograde(course, [A1], ["bob"], level, force=True, echo=lambda *_: None)
    assert failures == 0
    return course, graded[("bob", A1)], str(root / "home")


def _open_grading(page, url, grade_ids):
    """Opens a submission's grading page once formgrader's script has filled every grade box: the page arrives with
    empty boxes and fills them from a request of its own (seconds on a loaded machine)."""
    page.goto(url)
    page.wait_for_function("ids => ids.every(id => { const box = document.getElementById(id);"
                           " return box && (box.value || box.placeholder); })", arg=grade_ids, timeout=120_000)


def _shown(page, grade_id):
    """What formgrader shows in a grade's box: the manual score, else (greyed) the autograded one."""
    box = page.locator(f"input#{grade_id}")
    return float(box.input_value() or box.get_attribute("placeholder"))


def _shot(page, name, selector=None):
    """A screenshot for people to look at: the viewport, scrolled to ``selector`` if given."""
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        if selector:
            page.locator(selector).first.scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def _press(page, base, icon, action):
    """Presses a button of formgrader's Manage Submissions page (Autograde, Generate Feedback); returns its reply."""
    page.goto(base + f"/formgrader/manage_submissions/{A1}")
    page.wait_for_selector(f"span.{icon}")
    with page.expect_response(lambda r: action in r.url and r.request.method == "POST", timeout=600_000) as answer:
        page.locator(f"span.{icon}").first.click()
    return answer.value.json()


def _same_everywhere(course, total):
    """rnnkit export's files and report, and the gradebook, all say ``total`` for bob."""
    assert cli.main(["export", "--course-dir", course.root]) == 0
    with open(course.path("exports", "grades.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == "bob")
    assert float(row["raw_score"]) == pytest.approx(total) and row["status"] == grades.GRADED
    assert row["first_name"] == "Bob" and row["last_name"] == "Builder"
    with open(course.path("exports", f"items_{A1}.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "bob")
    assert float(row[WRITTEN]) == 1.5 and float(row["rnn_backward"]) == 1 and float(row["score"]) == total
    with open(course.path("exports", "lms_grades.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["SIS Login ID"] == "bob")
    assert row["Student"] == "Builder, Bob" and float(row[A1]) == pytest.approx(total)
    assert grades.one(course, "bob", A1).score == pytest.approx(total)


def test_formgrader_shows_rnnkit_scores_takes_a_manual_grade_and_autograde_keeps_the_trusted_one(graded):
    playwright = pytest.importorskip("playwright.sync_api")
    course, results, home = graded
    trusted = results.items()
    assert trusted["rnn_backward"].score < trusted["rnn_backward"].max_score   # the bug lost points
    with _formgrader(course, home) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        # (a) every item's rnnkit score in the grading page (Manual Grading > assignment > notebook > submission)
        page.goto(base + f"/formgrader/gradebook/{A1}/{A1}")
        page.locator("a", has_text="Submission #1").click()
        page.wait_for_selector("input#test_rnn_backward")
        grading_page, boxes = page.url, [f"test_{item}" for item in trusted]
        _open_grading(page, grading_page, boxes)
        _shot(page, "1-submission")
        for item, score in trusted.items():
            assert _shown(page, f"test_{item}") == pytest.approx(score.score), item
        # formulas typeset by the server's own MathJax (no request leaves the machine); plots without a red frame
        assert page.evaluate("() => typeof window.MathJax") == "object"
        page.wait_for_function("() => document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container')"
                               ".length > 0", timeout=120_000)
        assert all(u.startswith(base) or u.startswith("data:") for u in requests), \
            [u for u in requests if not u.startswith(base)][:3]
        frame = page.evaluate("() => { const img = document.querySelector('div.output_area img');"
                              " return img && getComputedStyle(img).borderTopStyle; }")
        assert frame == "none", frame
        # (b) the written answer graded by hand and an autograded item overridden, in the boxes a TA types in
        for grade_id, value in ((WRITTEN, "1.5"), ("test_rnn_backward", "1")):
            box = page.locator(f"input#{grade_id}")
            box.fill(value)
            box.press("Tab")
            deadline = time.time() + 20
            while time.time() < deadline:
                with Gradebook(course.db_url) as gb:
                    if gb.find_grade(grade_id, A1, A1, "bob").manual_score == float(value):
                        break
                time.sleep(0.3)
        total = results.score - trusted["rnn_backward"].score + 1 + 1.5
        _shot(page, "1b-graded-by-hand", f"input#{WRITTEN}")
        _shot(page, "1c-plot", "div.output_area img")
        _shot(page, "1d-formulas", ".MathJax, .MathJax_Display")
        _same_everywhere(course, total)
        # (c) formgrader's Autograde button: rnnkit grades, the trusted grade stays (and the manual one)
        reply = _press(page, base, "glyphicon-flash", "/autograde")
        assert reply["success"], reply.get("error") or reply.get("log")
        assert "rnnkit: bob/01_rnn_cell" in reply["log"]   # rnnkit's grader ran, not a kernel
        page.wait_for_timeout(500)
        _shot(page, "2-after-autograde")
        page.goto(base + f"/formgrader/gradebook/{A1}/{A1}")
        page.wait_for_selector("td")
        # formgrader fills the table by a request of its own: wait until it has (a loaded machine takes seconds)
        page.wait_for_function("() => !document.body.innerText.includes('Loading, please wait')", timeout=120_000)
        _shot(page, "3-gradebook")
        text = page.inner_text("body")
        assert f"{total:g} / 17" in text, text
        _open_grading(page, grading_page, boxes + [WRITTEN])
        for item, score in trusted.items():
            assert _shown(page, f"test_{item}") == pytest.approx(1 if item == "rnn_backward" else score.score), item
        assert _shown(page, WRITTEN) == 1.5
        _same_everywhere(course, total)
        # (d) formgrader's Generate Feedback button: the page the student gets has the same points, by item name
        reply = _press(page, base, "glyphicon-comment", "/generate_feedback")
        assert reply["success"], reply.get("error") or reply.get("log")
        page.wait_for_function("() => document.body.innerText.includes('Builder, Bob')", timeout=120_000)  # roster
        _shot(page, "4-feedback-generated")
        feedback = course.path("feedback", "bob", A1, f"{A1}.html")
        shown = open(feedback).read()
        assert f"(Score: {total:.1f} / 17.0)" in shown and ">rnn_backward</a> (Score: 1.0 / 4.0)" in shown
        assert "Set by your instructor" in shown and "Test cell" not in shown and "<math" in shown
        feedback_page = browser.new_page(viewport={"width": 1100, "height": 900})
        feedback_page.goto("file://" + feedback)
        _shot(feedback_page, "5-feedback-page")
        _shot(feedback_page, "6-feedback-formula", "math")
        browser.close()
    assert SubmissionResults.load(course.results_file("bob", A1)).score == pytest.approx(results.score)
