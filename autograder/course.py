"""A course directory in nbgrader's layout, and running nbgrader's own commands on it."""
import ast
import glob
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile

from autograder import settings
from autograder.errors import RnnkitError


BEGIN_MARK = "# --- rnnkit: begin"
END_MARK = "# --- rnnkit: end ---"
NBGRADER_CONFIG = """\
# --- rnnkit: begin (rnnkit build and rnnkit release rewrite this block; add your own settings after its end) ---
c = get_config()
c.CourseDirectory.course_id = "rnnkit"
{exchange}
# nbgrader autograde and formgrader's Autograde button grade with rnnkit's trusted grader (the hidden suite in the
# sandbox), never by running the notebook in a kernel: see autograder/nbgrader_autograde.py.
c.Autograde.sanitize_preprocessors = []
# nbgrader collect and formgrader's Collect button: rnnkit's collect (regular files only, the exchange's time, the
# owner checked): see autograder/collect.py.
c.ExchangeFactory.collect = "autograder.collect.ExchangeCollect"
c.Autograde.autograde_preprocessors = ["autograder.nbgrader_autograde.TrustedGrade"]
# Feedback: no hidden test (there is none in a notebook; nbgrader's guard stays), a note under written answers that
# await a person, and a page sanitised with nh3 under a Content-Security-Policy: see autograder/nbgrader_feedback.py.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.nbgrader_feedback.AwaitingManualGrade",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GenerateFeedback.exporter_class = "autograder.nbgrader_feedback.SafeFeedbackExporter"
# formgrader's grading page: formulas typeset by the MathJax the Jupyter server serves itself (jupyter-server-mathjax),
# not a CDN's, and plots without nbgrader's red frame: nbgrader's templates, then rnnkit's (autograder/templates/).
import autograder.formgrader_templates
c.HTMLExporter.extra_template_basedirs = autograder.formgrader_templates.template_dirs()
# --- rnnkit: end ---
"""


class Course:
    """A course directory in nbgrader's layout (``source/``, ``release/``, ``submitted/``, ``autograded/``, ...)."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def db_url(self):
        return "sqlite:///" + self.path("gradebook.db")

    def source_dir(self, assignment):
        return self.path("source", assignment)

    def source_notebook(self, assignment):
        return self.path("source", assignment, f"{assignment}.ipynb")

    def release_dir(self, assignment):
        return self.path("release", assignment)

    def submitted_notebook(self, student, assignment):
        return self.path("submitted", student, assignment, f"{assignment}.ipynb")

    def autograded_dir(self, student, assignment):
        return self.path("autograded", student, assignment)

    def results_file(self, student, assignment):
        return os.path.join(self.autograded_dir(student, assignment), "results.json")

    def log_file(self, student, assignment):
        # Outside autograded/: nbgrader copies every file there into the student's feedback.
        return self.path("grader_logs", assignment, f"{student}.log")

    @property
    def config_file(self):
        return self.path("nbgrader_config.py")

    def exchange(self):
        """The exchange recorded by ``rnnkit release`` in the course's config, or None."""
        try:
            with open(self.config_file) as f:
                found = re.search(r"^c\.Exchange\.root = (.+)$", f.read(), re.M)
        except OSError:
            return None
        try:
            return ast.literal_eval(found.group(1)) if found else None   # a repr we wrote
        except (ValueError, SyntaxError):
            return None

    def write_config(self, exchange=None):
        """(Re)writes rnnkit's block of the course's ``nbgrader_config.py`` (anything after it is the instructor's
        and kept); ``exchange`` records the exchange root (default: keep the recorded one)."""
        exchange = exchange or self.exchange()
        block = NBGRADER_CONFIG.format(exchange=f"c.Exchange.root = {exchange!r}" if exchange else
                                       "# c.Exchange.root is recorded here by `rnnkit release --exchange DIR`")
        try:
            with open(self.config_file) as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if END_MARK in old:
            rest = old.split(END_MARK, 1)[1].lstrip("\n")
        elif old.strip() and not old.startswith("# Written by `rnnkit build`"):  # the instructor's own: kept
            rest = old
        else:   # none yet, or an older rnnkit's (which this block replaces)
            rest = ""
        os.makedirs(self.root, exist_ok=True)
        tmp = self.config_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(block + ("\n" + rest if rest else ""))
        os.replace(tmp, self.config_file)

    def secret(self):
        """This course's grading secret (created on first use, readable by the grader alone): every hidden input is
        derived from it, so nothing a student sees (their notebook, the public generators, the seeds their code is
        given) can rebuild the held-out data."""
        fixed = settings.secret()
        if fixed:  # a fixed secret (hex) makes gradings reproducible across courses: tests
            return _hex_secret(fixed, "RNNKIT_SECRET")
        path = self.path(".rnnkit-secret")
        if not os.path.exists(path):
            os.makedirs(self.root, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".rnnkit-secret-")
            with os.fdopen(fd, "w") as f:  # mkstemp makes it 0600
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # atomic, and never replaces a secret another grader just wrote
            except FileExistsError:
                pass
            os.unlink(tmp)
        with open(path) as f:
            return _hex_secret(f.read().strip(), path)

    def built_assignments(self):
        return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(self.path("source", "*", "*.ipynb"))
                      if os.path.basename(p) == os.path.basename(os.path.dirname(p)) + ".ipynb")

    def students(self, assignment):
        """Students with a submission of ``assignment``, in order; a folder whose name is not a student id (a control
        character, a look-alike of a separator: see :func:`autograder.intake.valid_student_id`) is none, and is
        flagged by :func:`autograder.collect.flags`."""
        from autograder import intake
        names = (os.path.basename(os.path.dirname(p)) for p in glob.glob(self.path("submitted", "*", assignment)))
        return sorted(name for name in names if intake.valid_student_id(name))

    def nbgrader(self, *args, check=True, timeout=None, memory_bytes=None):
        """Runs one of nbgrader's own commands on this course; returns its log (stdout + stderr).

        Raises :class:`RnnkitError` naming the command and the last lines of its log when it fails, or when it
        outlives ``timeout`` seconds (it is killed) or outgrows ``memory_bytes`` of address space. The venv's
        ``bin`` goes first on ``PATH``: nbgrader shells out to ``alembic`` when it creates a gradebook.
        """
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={self.root}"]

        def limit():
            if memory_bytes:
                resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        try:
            proc = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=limit if memory_bytes else None)
        except subprocess.TimeoutExpired:
            raise RnnkitError(f"`nbgrader {' '.join(args)}` was stopped after {timeout:.0f} s") from None
        log = proc.stdout + proc.stderr
        if check and proc.returncode != 0:
            tail = [line for line in log.splitlines() if line.strip()][-3:]
            raise RnnkitError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}): " + " | ".join(tail))
        return log


def _hex_secret(text, where):
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise RnnkitError(f"{where} must hold the course's grading secret as at least 32 hex digits (for example "
                          "the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    return secret
