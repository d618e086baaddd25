"""The course server of ``deploy/`` end to end, in a real browser (Debian's chromium, driven by playwright), on
127.0.0.1 only: JupyterHub with PAM logins of real Unix accounts, each student's JupyterLab started as that student
from the shared Jupyter environment, formgrader as the course account's hub service.

Two students log in, fetch Assignment 1 from the Assignments tab, type two answer cells (and a written answer) into
the notebook, run it and see the public checks' ✓ and ✗ lines and a plot, and submit; the course account collects
and runs ``rnnkit autograde``; the instructor grades the written answer in formgrader; the feedback is released and
a student fetches it and opens the page. Then a hostile student, in a terminal of their own (``runuser``), tries
what issue 27 tried on a shared machine. Screenshots of every step are kept in the folder the test prints
(``RNNKIT_SCREENSHOTS`` names another).

The accounts are made by ``deploy/accounts.sh`` (the course account's .venv is made from this checkout's files, as
an instructor's clone would be) and removed at the end; the hub runs from ``deploy/jupyterhub_config.py`` as
``make hub`` starts it, on ports and with an exchange of its own.
"""
import glob
import os
import re
import shutil
import tempfile
import time

import pytest
from nbgrader.api import Gradebook

from autograder import notebooks
from autograder.simulation import catalogue
from tests import hub_server
from tests.hub_server import COURSE, as_user, home

A1 = "01_rnn_cell"
WRITTEN = "written_vanishing_gradients"
ALICE, BOB, TEACHER = "rkh_alice", "rkh_bob", "rkh_teacher"
MALLORY, CAROL = "rkh_mallory", "rkh_carol"     # the hostile student of issue 27, and the one she poses as
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
SLOW = 300_000   # ms: a JupyterLab starting, TensorFlow importing, a grading, on a loaded 2-core machine

pytestmark = [
    pytest.mark.skipif(hub_server.missing() is not None, reason=str(hub_server.missing())),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def shots():
    """The screenshots' folder: kept after the run (the test prints it; under xdist, see the README's path)."""
    folder = os.environ.get("RNNKIT_SCREENSHOTS") or os.path.join(tempfile.gettempdir(), "rnnkit-hub-screenshots")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, shots):
    """The accounts, the course built and released by the course account, and the hub: a namespace."""
    started = time.time()
    accounts = hub_server.Accounts(students=[ALICE, BOB, MALLORY, CAROL], graders=[TEACHER])
    hub = hub_server.Hub(str(tmp_path_factory.mktemp("hub")))
    try:
        accounts.make()
        made = time.time()
        kit = os.path.join(home(COURSE), "rnnkit")
        course_dir = os.path.join(kit, "course")
        env = {"PATH": f"{kit}/.venv/bin:/usr/local/bin:/usr/bin:/bin", "RNNKIT_SERVICE": "0"}
        for name in ("RNNKIT_REQUIRE_SANDBOX", "RNNKIT_SECRET"):
            if os.environ.get(name):
                env[name] = os.environ[name]

        def rnnkit(*args):
            """An rnnkit command typed by the course account in its terminal; returns stdout + stderr."""
            proc = as_user(COURSE, "rnnkit", *args, cwd=kit, env=env)
            return proc.stdout + proc.stderr

        rnnkit("build", A1)
        rnnkit("release", A1, "--exchange", hub.exchange)
        hub.start()
        print(f"\ncourse server: accounts and the course account's .venv {made - started:.0f} s, build, release and "
              f"hub start {time.time() - made:.0f} s; screenshots in {shots}")
        yield type("Server", (), dict(hub=hub, accounts=accounts, kit=kit, course_dir=course_dir, rnnkit=rnnkit,
                                      url=hub.url, shots=shots))
    finally:
        hub.stop()
        if not os.environ.get("RNNKIT_HUB_KEEP"):
            accounts.remove()


# --- the browser side ---

def shot(server, page, name):
    page.screenshot(path=os.path.join(server.shots, f"{name}.png"), full_page=False)


def log_in(browser, server, user):
    """A browser of its own for ``user``, logged in with their Unix password; returns the page (on their lab)."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(SLOW)
    page.goto(server.url + "/hub/login")
    page.fill("input#username_input", user)
    page.fill("input#password_input", server.accounts.passwords[user])
    page.click("#login_submit")
    return page


def open_lab(page, server, user):
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=SLOW)
    page.wait_for_selector(".jp-LabShell", timeout=SLOW)
    page.wait_for_selector(".jp-DirListing-content", timeout=SLOW)


def open_assignments(page):
    """The Assignments tab (nbgrader's assignment list), from JupyterLab's Nbgrader menu; returns the menu's items
    (a student's has no Formgrader and no Create Assignment)."""
    page.click("div.lm-MenuBar-itemLabel:text-is('Nbgrader')")
    items = page.locator("li.lm-Menu-item .lm-Menu-itemLabel").all_inner_texts()
    page.click("li.lm-Menu-item:has-text('Assignment List')")
    page.locator(".list_item").first.wait_for()
    return items


def answer_cell(page, marker):
    """The notebook cell whose text contains ``marker`` (the first one)."""
    return page.locator(".jp-Notebook .jp-Cell", has_text=marker).first


def type_into(page, cell, text, markdown=False):
    """Replaces a cell's text by ``text`` as a person would with the keyboard: into the cell's editor (a double click
    opens a markdown cell's), select all, type (inserted as typed text, so that the editor's auto-indent does not
    re-indent pasted code). Keys are sent only once the editor has the focus: in command mode they are shortcuts."""
    cell.scroll_into_view_if_needed()
    if markdown:
        cell.dblclick()
    cell.locator(".cm-content").click()
    editing = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-editor.cm-focused")   # the cell, once typed in
    editing.wait_for()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    assert text.splitlines()[0] in editing.inner_text()


def run_all(page):
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")


def student_works(browser, server, user, answers, written=None, shots_prefix=""):
    """``user`` logs in, fetches Assignment 1 from the Assignments tab, types ``answers`` (grade_id -> source) into
    their cells and ``written`` into the written answer, runs the notebook and submits; returns the page (the
    notebook's text after the run is in ``page.ran``)."""
    page = log_in(browser, server, user)
    open_lab(page, server, user)
    menu = open_assignments(page)
    assert "Assignment List" in menu and not {"Formgrader", "Create Assignment"} & set(menu), menu
    page.locator(".list_item", has_text=A1).first.wait_for()
    shot(server, page, f"{shots_prefix}1-assignments")
    page.locator(".list_item", has_text=A1).get_by_role("button", name="Fetch", exact=True).click()
    page.locator(".list_item", has_text=A1).locator("a:has-text('01_rnn_cell.ipynb'), a:has-text('01_rnn_cell')") \
        .first.wait_for()
    page.goto(server.url + f"/user/{user}/lab/tree/{A1}/{A1}.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    for grade_id, source in answers.items():
        type_into(page, answer_cell(page, f"def {grade_id}("), source)
    if written:
        type_into(page, answer_cell(page, "YOUR ANSWER HERE"), written, markdown=True)
    run_all(page)
    # the public checks of the two items print their lines once TensorFlow has imported and the cells ran
    for grade_id in answers:
        page.locator(".jp-OutputArea-output", has_text=re.compile(rf"[✓✗] {grade_id}\b|✗ .*{grade_id}")) \
            .first.wait_for(timeout=SLOW)
    page.locator(".jp-OutputArea-output img").first.wait_for(timeout=SLOW)
    page.keyboard.press("Control+s")
    page.wait_for_selector("text=Saving completed")
    ran = page.locator(".jp-Notebook").inner_text()
    last = list(answers)[-1]
    page.locator(".jp-OutputArea-output", has_text=re.compile(rf"[✓✗].*{last}")).first.scroll_into_view_if_needed()
    shot(server, page, f"{shots_prefix}2-checks")
    page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
    shot(server, page, f"{shots_prefix}3-plot")
    page.goto(server.url + f"/user/{user}/lab")
    open_lab(page, server, user)
    open_assignments(page)
    page.locator(".list_item", has_text=A1).get_by_role("button", name="Submit", exact=True).first.click()
    page.wait_for_function("() => !document.body.innerText.includes('There are no submitted assignments')",
                           timeout=SLOW)
    shot(server, page, f"{shots_prefix}4-submitted")
    page.ran = ran
    return page


def reference_answers(server):
    """grade_id -> the reference's answer cell source (read by root from the course account's source notebook)."""
    source = os.path.join(server.course_dir, "source", A1, f"{A1}.ipynb")
    return notebooks.answer_cells(notebooks.read(source))


def test_two_students_submit_the_instructor_grades_and_a_student_reads_the_feedback(server):
    playwright = pytest.importorskip("playwright.sync_api")
    reference = reference_answers(server)
    bug = next(b for b in catalogue.catalogue(A1) if b.cell == "rnn_forward")
    buggy = catalogue.apply(reference, bug)
    written = "Each step multiplies by W_hh and by tanh' <= 1, so the product shrinks or grows geometrically."
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        # alice: both items right, and the written answer; bob: rnn_forward with a catalogued bug
        alice = student_works(browser, server, ALICE, {k: reference[k] for k in ("rnn_cell_forward", "rnn_forward")},
                              written=written, shots_prefix="1-alice-")
        assert "✓ rnn_cell_forward looks right" in alice.ran and "✓ rnn_forward looks right" in alice.ran
        bob = student_works(browser, server, BOB, {"rnn_cell_forward": reference["rnn_cell_forward"],
                                                   "rnn_forward": buggy["rnn_forward"]}, shots_prefix="2-bob-")
        assert "✓ rnn_cell_forward looks right" in bob.ran
        assert re.search(r"✗ .*rnn_forward", bob.ran), bob.ran[-3000:]
        # a student's session reaches no other student's server
        other = bob.request.get(server.url + f"/user/{ALICE}/api/contents/{A1}")
        assert other.status in (403, 404) or ALICE not in other.url, (other.status, other.url)

        # the course account collects and grades, as in its terminal
        collected = server.rnnkit("collect", A1)
        graded = server.rnnkit("autograde", A1, "-j", "2")
        assert "NOT GRADED" not in graded, graded
        with Gradebook(f"sqlite:///{server.course_dir}/gradebook.db") as gb:
            scores = {s: {g.name: g.score for g in gb.find_submission_notebook(A1, A1, s).grades}
                      for s in (ALICE, BOB)}
            submission = gb.find_submission_notebook(A1, A1, ALICE).id
        assert scores[ALICE]["test_rnn_forward"] == 2 and scores[BOB]["test_rnn_forward"] < 2, (collected, scores)
        assert scores[ALICE]["test_rnn_cell_forward"] == 2 == scores[BOB]["test_rnn_cell_forward"]

        # the instructor grades alice's written answer in formgrader (the course account's hub service)
        teacher = log_in(browser, server, TEACHER)
        teacher.wait_for_url(re.compile(r".*/(user|hub)/.*"))
        teacher.goto(server.url + f"/services/rnnkit/formgrader/submissions/{submission}/?index=0")
        teacher.wait_for_function("id => { const box = document.getElementById(id); return box && "
                                  "(box.value || box.placeholder); }", arg="test_rnn_forward", timeout=SLOW)
        shot(server, teacher, "3-formgrader-submission")
        box = teacher.locator(f"input#{WRITTEN}")
        box.fill("1.5")
        box.press("Tab")
        deadline = time.time() + 60
        manual = None
        while time.time() < deadline and manual != 1.5:
            with Gradebook(f"sqlite:///{server.course_dir}/gradebook.db") as gb:
                manual = gb.find_grade(WRITTEN, A1, A1, ALICE).manual_score
            time.sleep(0.5)
        assert manual == 1.5
        shot(server, teacher, "4-formgrader-graded")
        # a student cannot open formgrader
        denied = bob.request.get(server.url + "/services/rnnkit/formgrader/api/status", max_redirects=0)
        assert denied.status in (302, 403), denied.status

        # feedback: released by the course account, fetched by alice from her Assignments tab
        server.rnnkit("feedback", A1, "--release")
        alice.goto(server.url + f"/user/{ALICE}/lab")
        open_lab(alice, server, ALICE)
        open_assignments(alice)
        alice.locator("button:has-text('Fetch Feedback')").first.click()
        alice.locator("a:has-text('view feedback'), a:has-text('feedback')").first.wait_for(timeout=SLOW)
        shot(server, alice, "5-alice-feedback-fetched")
        pages = glob.glob(os.path.join(home(ALICE), A1, "feedback", "*", f"{A1}.html"))
        assert len(pages) == 1, pages
        relative = os.path.relpath(pages[0], home(ALICE))
        alice.goto(server.url + f"/user/{ALICE}/files/{relative}")
        text = alice.inner_text("body")
        shot(server, alice, "6-alice-feedback-page")
        total = sum(v for k, v in scores[ALICE].items() if k.startswith("test_")) + 1.5   # and the written answer
        assert f"Score: {total:.1f} / 17.0" in text and f"{WRITTEN} (Score: 1.5 / 2.0)" in text, text[:3000]
        browser.close()


# --- the hostile student of issue 27, in a terminal of their own ---

def terminal(server, user, *command, check=False):
    """A command ``user`` types in a terminal of their own: the environment their JupyterLab's terminal has."""
    return as_user(user, *command, check=check, env={"PATH": f"{hub_server.HUB_ENV}/bin:/usr/local/bin:/usr/bin:/bin",
                                                     "RNNKIT_HUB_EXCHANGE": server.hub.exchange})


def mallory(server, *command, check=False):
    return terminal(server, MALLORY, *command, check=check)


def fetch_and_submit(server, user, *extra):
    """``user`` fetches Assignment 1 in a folder of their own and submits it (``extra``: more of nbgrader submit's
    arguments); returns the folder."""
    workdir = os.path.join(home(user), f"work-{len(os.listdir(home(user)))}")
    terminal(server, user, "mkdir", "-p", workdir, check=True)
    terminal(server, user, "sh", "-c", f"cd {workdir} && nbgrader fetch_assignment {A1} --course rnnkit", check=True)
    terminal(server, user, "sh", "-c", f"cd {workdir} && nbgrader submit {A1} --course rnnkit " + " ".join(extra),
             check=True)
    return workdir


def test_a_student_reads_nothing_of_the_course(server):
    kit, course = server.kit, server.course_dir
    for path in (os.path.join(course, "source", A1, f"{A1}.ipynb"), os.path.join(course, "gradebook.db"),
                 os.path.join(course, ".rnnkit-secret"), os.path.join(kit, "solutions", "rnn_cell.py"),
                 os.path.join(kit, "autograder", "hidden", A1, f"test_{A1}.py")):
        assert mallory(server, "cat", path).returncode != 0, path
    for folder in (home(COURSE), kit, course, os.path.join(course, "submitted")):
        assert mallory(server, "ls", folder).returncode != 0, folder


def test_a_student_reaches_no_other_students_work(server):
    assert mallory(server, "ls", home(ALICE)).returncode != 0
    inbound = os.path.join(server.hub.exchange, "rnnkit", "inbound")
    if not glob.glob(os.path.join(inbound, f"{ALICE}+{A1}+*")):   # this test alone: alice submits from her terminal
        fetch_and_submit(server, ALICE)
    assert mallory(server, "ls", inbound).returncode != 0   # nbgrader's inbound: others may write, not list
    # nbgrader's submissions are readable by whoever knows their folder's name, which ends in 72 random bits
    # (nbgrader's ExchangeSubmit.add_random_string): without a listing, another student cannot find them.
    names = [os.path.basename(p) for p in glob.glob(os.path.join(inbound, f"{ALICE}+{A1}+*"))]
    assert names and all(re.fullmatch(rf"{ALICE}\+{A1}\+[^+]+ UTC\+[A-Za-z0-9_-]{{12}}", n) for n in names), names


def test_a_student_cannot_submit_as_another(server):
    fetch_and_submit(server, MALLORY, "--student", CAROL)
    collected = server.rnnkit("collect", A1)
    taken = os.path.exists(os.path.join(server.course_dir, "submitted", CAROL, A1))
    assert not taken and MALLORY in collected   # quarantined, and the owner named to the instructor


def test_a_forged_submission_time_is_ignored_and_flagged(server):
    fetch_and_submit(server, MALLORY)
    inbound = os.path.join(server.hub.exchange, "rnnkit", "inbound")
    mine = sorted(glob.glob(os.path.join(inbound, f"{MALLORY}+{A1}+*")), key=os.path.getmtime)[-1]
    forged = "2020-01-01 00:00:00.000000 UTC"
    assert mallory(server, "sh", "-c", f"echo '{forged}' > '{mine}/timestamp.txt'").returncode == 0   # her own file
    said = server.rnnkit("collect", A1) + server.rnnkit("autograde", A1, "--student", MALLORY)
    with Gradebook(f"sqlite:///{server.course_dir}/gradebook.db") as gb:
        recorded = gb.find_submission(A1, MALLORY).timestamp
    flagged = "timestamp" in said.lower() and MALLORY in said
    assert recorded.year != 2020 and flagged   # the exchange's time is recorded, and the forged one is said
