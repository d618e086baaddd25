"""Students who go through nbgrader's own exchange, as a real class does: each has a home folder of its own
(its nbgrader configuration, cache and assignment folder) and runs ``nbgrader fetch_assignment``, ``nbgrader
submit`` and ``nbgrader fetch_feedback`` exactly as the README tells students to.

Used by ``rnnkit demo`` and by the end-to-end tests; one OS user plays every student (``--student``).
"""
import os
import subprocess
import sys

import nbformat

from autograder import notebooks
from autograder.errors import RnnkitError

COURSE_ID = "rnnkit"


class Student:
    """One student's side of the course: ``home/<name>`` with ``~/.jupyter/nbgrader_config.py`` naming the
    exchange (what the instructor's ``course/student_nbgrader_config.py`` holds)."""

    def __init__(self, homes, name, exchange, in_process=False):
        self.name, self.in_process = name, in_process
        self.home = os.path.abspath(os.path.join(homes, name))
        self.exchange = os.path.abspath(exchange)
        os.makedirs(os.path.join(self.home, ".jupyter"), exist_ok=True)
        with open(os.path.join(self.home, ".jupyter", "nbgrader_config.py"), "w") as f:
            f.write(f"c = get_config()\nc.Exchange.root = {self.exchange!r}\n")

    def env(self):
        env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "NBGRADER"))}
        env.update(HOME=self.home, JUPYTER_CONFIG_DIR=os.path.join(self.home, ".jupyter"),
                   JUPYTER_DATA_DIR=os.path.join(self.home, ".local", "share", "jupyter"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        return env

    def nbgrader(self, *args):
        """Runs ``nbgrader ARGS`` in the student's home, as the student would type it; returns its output."""
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.home, env=self.env(),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            tail = " | ".join([line for line in output.splitlines() if line.strip()][-3:])
            raise RnnkitError(f"{self.name}: `nbgrader {' '.join(args)}` failed (exit {proc.returncode}): {tail}")
        return output

    def _exchange(self, kind, assignment):
        """nbgrader's own exchange classes (``fetch_assignment``, ``submit``), run in this process with the
        configuration the student's command line would load: the same files, without a Python start-up each."""
        from traitlets.config import Config
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
        config = Config()
        config.Exchange.root = self.exchange
        config.Exchange.cache = os.path.join(self.home, ".local", "share", "jupyter", "nbgrader_cache")
        config.Exchange.assignment_dir = self.home
        config.CourseDirectory.course_id = COURSE_ID
        config.CourseDirectory.assignment_id = assignment
        config.CourseDirectory.student_id = self.name
        coursedir = CourseDirectory(config=config)
        cls = {"fetch_assignment": ExchangeFetchAssignment, "submit": ExchangeSubmit}[kind]
        try:
            cls(coursedir=coursedir, authenticator=Authenticator(config=config), config=config).start()
        except Exception as err:
            raise RnnkitError(f"{self.name}: nbgrader {kind} {assignment} failed: {err}") from None

    def notebook_path(self, assignment):
        return os.path.join(self.home, assignment, f"{assignment}.ipynb")

    def fetch(self, assignment):
        if not os.path.exists(self.notebook_path(assignment)):
            if self.in_process:
                self._exchange("fetch_assignment", assignment)
            else:
                self.nbgrader("fetch_assignment", assignment, "--course", COURSE_ID)
        return self.notebook_path(assignment)

    def work(self, assignment, answers=None, written=None, edit=None):
        """Fills the fetched notebook: ``answers`` (grade_id -> source of answer cells), ``written`` (grade_id ->
        markdown of written answers), then ``edit(notebook)``; saves it in the student's folder."""
        path = self.fetch(assignment)
        notebook = notebooks.read(path)
        for cell in notebook.cells:
            grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
            if answers and grade_id in answers and cell.cell_type == "code":
                cell.source = answers[grade_id]
            if written and grade_id in written and cell.cell_type == "markdown":
                cell.source = written[grade_id]
        if edit:
            notebook = edit(notebook) or notebook
        nbformat.write(notebook, path)
        return path

    def submit(self, assignment):
        if self.in_process:
            return self._exchange("submit", assignment)
        return self.nbgrader("submit", assignment, "--course", COURSE_ID, "--student", self.name)

    def fetch_feedback(self, assignment):
        """``nbgrader fetch_feedback``; returns the feedback HTML files the student now has."""
        self.nbgrader("fetch_feedback", assignment, "--course", COURSE_ID, "--student", self.name)
        found = []
        for dirpath, _, filenames in os.walk(os.path.join(self.home, assignment, "feedback")):
            found += [os.path.join(dirpath, n) for n in filenames if n.endswith(".html")]
        return sorted(found)
