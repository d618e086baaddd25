"""One source of truth: the build inlines solutions, checks signatures, and the release holds none of them."""
import glob
import os

import pytest

from autograder.errors import RnnkitError
from autograder import build, notebooks, project
from tests.conftest import assignments

CANARY = "rnnkit-canary: solution-only"
SOLUTION = '''
import tensorflow as tf


def f(x, y=2):
    """Doc of f."""
    # why this works
    z = x * y
    return z


class Cell:
    """Doc of Cell."""

    units = 3

    def call(self, inputs):
        """Doc of call."""
        return inputs + 1
'''


def test_a_directive_becomes_signature_docstring_and_marked_body():
    out = build.solution_cell(["f", "Cell"], SOLUTION, "01_x")
    assert out.startswith('def f(x, y=2):\n    """Doc of f."""\n    ### BEGIN SOLUTION\n    # why this works\n')
    assert "    return z\n    ### END SOLUTION" in out
    assert '    units = 3\n' in out  # class attributes stay public
    assert '        """Doc of call."""\n        ### BEGIN SOLUTION\n        return inputs + 1\n' \
           '        ### END SOLUTION' in out
    assert "import tensorflow" not in out


def test_unknown_name_is_an_error():
    with pytest.raises(RnnkitError, match="no g in"):
        build.solution_cell(["g"], SOLUTION, "01_x")


def test_a_solution_without_docstring_is_an_error():
    with pytest.raises(RnnkitError, match="needs a docstring"):
        build.solution_cell(["h"], "def h(x):\n    return x\n", "01_x")


def test_every_solution_file_carries_the_canary():
    for assignment in assignments():
        with open(project.solution_file(assignment)) as f:
            assert CANARY in f.read(), f"solutions for {assignment} lack the canary the release test relies on"


def test_release_has_no_solution_and_no_hidden_code(built):
    course, answers = built
    for assignment in course.built_assignments():
        source = open(course.source_notebook(assignment)).read()
        assert CANARY in source, "the canary should reach the instructor's source notebook"
        hidden = [open(project.suite(assignment)).read()]  # (the harness is not secret: it only wires up Keras)
        # a line the public checks share with the hidden suite on purpose (a message, an idiom) is public already:
        # what must never happen is the build releasing a hidden line that no public file holds
        authored = "".join(open(f, encoding="utf-8").read() for f in
                           glob.glob(os.path.join(project.ASSIGNMENTS, assignment, "**", "*.py"), recursive=True)
                           + glob.glob(os.path.join(project.ASSIGNMENTS, "common", "*.py")))
        for path in glob.glob(os.path.join(course.release_dir(assignment), "**", "*"), recursive=True):
            if os.path.isdir(path):
                continue
            text = open(path, encoding="utf-8", errors="replace").read()
            assert CANARY not in text, f"solution code leaked into {path}"
            assert "def test_" not in text or path.endswith(".ipynb"), f"test code in {path}"
            for suite in hidden:  # no line of the hidden suite (beyond trivial ones) is released
                for line in suite.splitlines():
                    line = line.strip()
                    if len(line) > 40 and not line.startswith(("import", "from", "#")) and line not in authored:
                        assert line not in text, f"hidden suite line released in {path}: {line}"
        release_nb = notebooks.read(os.path.join(course.release_dir(assignment), f"{assignment}.ipynb"))
        for grade_id, stub in notebooks.answer_cells(release_nb).items():
            assert "NotImplementedError" in stub and stub != answers[assignment][grade_id]


def test_every_item_has_points_and_hidden_tests(built):
    course, _ = built
    for assignment in course.built_assignments():
        layout = notebooks.layout(notebooks.read(course.source_notebook(assignment)))
        assert layout.answers and not layout.check(build.suite_items(assignment))
