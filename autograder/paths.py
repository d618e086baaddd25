"""Where things are: the project's own folders, and a course directory in nbgrader's layout."""
import glob
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENTS = os.path.join(ROOT, "assignments")
SOLUTIONS = os.path.join(ROOT, "solutions")
SUITES = os.path.join(ROOT, "autograder", "suites")
SANDBOX = os.path.join(ROOT, "autograder", "sandbox")
DATA = os.path.join(ROOT, "data")


def assignments():
    """Names of the authored assignments, e.g. ``["01_rnn_cell", ...]``, in order."""
    return sorted(name for name in os.listdir(ASSIGNMENTS)
                  if os.path.isfile(os.path.join(ASSIGNMENTS, name, f"{name}.py")))


def topic(assignment):
    """``01_rnn_cell`` -> ``rnn_cell``: the name of its solution module and of its public pieces."""
    return assignment.split("_", 1)[1]


def solution_file(assignment):
    return os.path.join(SOLUTIONS, f"{topic(assignment)}.py")


def suite(assignment):
    return os.path.join(SUITES, f"test_{assignment}.py")


def harness(assignment):
    return os.path.join(SANDBOX, f"harness_{assignment}.py")


def grading_files(assignment):
    """The files that decide a grade, for the provenance digest."""
    return [p for p in (suite(assignment), harness(assignment), solution_file(assignment),
                        os.path.join(ASSIGNMENTS, "common", "checklib.py")) if os.path.exists(p)]


def public_module(assignment, name):
    """Imports ``assignments/<assignment>/<name>.py`` (a released helper such as a data loader) by path."""
    path = os.path.join(ASSIGNMENTS, assignment, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"rnnkit_public_{assignment}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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

    def built_assignments(self):
        return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(self.path("source", "*", "*.ipynb"))
                      if os.path.basename(p) == os.path.basename(os.path.dirname(p)) + ".ipynb")

    def students(self, assignment):
        """Students with a submission of ``assignment``, in order."""
        return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(self.path("submitted", "*", assignment)))
