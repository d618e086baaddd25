"""Where the project's own things are: authored assignments, reference solutions, hidden folders, data."""
import ast
import functools
import hashlib
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENTS = os.path.join(ROOT, "assignments")
SOLUTIONS = os.path.join(ROOT, "solutions")
HIDDEN = os.path.join(ROOT, "autograder", "hidden")
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


def hidden_dir(assignment):
    """``autograder/hidden/<assignment>/``: the hidden suite, its sandbox harness, bug catalogue and variants."""
    return os.path.join(HIDDEN, assignment)


def suite(assignment):
    return os.path.join(hidden_dir(assignment), f"test_{assignment}.py")


def harness(assignment):
    return os.path.join(hidden_dir(assignment), "harness.py")


def grading_files(assignment):
    """Every file that can change a grade, for the suite version: the hidden folder (suite, harness), the
    reference, the public files released beside the notebook (set-up cells import them in the sandbox), and the
    grader's own code on both sides of the boundary (plugin, student handle, worker, channel, launcher, scoring)."""
    grader = os.path.join(ROOT, "autograder")
    files = [suite(assignment), harness(assignment), solution_file(assignment)]
    files += [os.path.join(grader, *parts) for parts in (
        ("trusted", "plugin.py"), ("trusted", "student.py"), ("trusted", "suite.py"), ("results.py",),
        ("grading", "submission.py"), ("grading", "job.py"), ("settings.py",), ("notebooks.py",))]
    for folder in (os.path.join(grader, "sandbox"), os.path.join(ASSIGNMENTS, "common"),
                   os.path.join(ASSIGNMENTS, assignment), os.path.join(DATA, assignment)):
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            files += [os.path.join(dirpath, n) for n in sorted(filenames) if not n.endswith(".pyc")]
    return [p for p in files if os.path.isfile(p)]


def code_files(*tops):
    """Every source file under the project's folders ``tops`` (``autograder``, ``solutions``, ...), in order."""
    files = []
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            files += [os.path.join(dirpath, n) for n in sorted(filenames) if n.endswith((".py", ".json", ".tsv"))]
    return files


def digest(paths):
    """One digest of the files' project-relative names and bytes (a suite version, a service's key)."""
    found = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            found.update(os.path.relpath(path, ROOT).encode() + b"\0" + f.read() + b"\0")
    return found.hexdigest()


def public_module(assignment, name):
    """Imports ``assignments/<assignment>/<name>.py`` (a released helper such as a data loader) by path."""
    path = os.path.join(ASSIGNMENTS, assignment, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"rnnkit_public_{assignment}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def top_level_definitions(source):
    """name -> (first line, last line) of every top-level function and class of a module's source (1-based,
    decorators included)."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = (min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno)
    return found


@functools.lru_cache(maxsize=None)
def reference_source(assignment, name):
    """The reference definition of ``name`` (a graded function or class), as source text (trusted side only)."""
    with open(solution_file(assignment), encoding="utf-8") as f:
        source = f.read()
    first, last = top_level_definitions(source)[name]
    return "\n".join(source.splitlines()[first - 1:last]) + "\n"
