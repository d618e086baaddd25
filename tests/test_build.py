"""One source of truth: the build inlines solutions, checks signatures, and the release holds none of them."""
import glob
import os

import pytest

from autograder import build, notebooks, paths
from tests.conftest import assignments

CANARY = "rnnkit-canary: solution-only"
SOLUTION = '''
def f(x, y=2):
    """Doc."""
    # why this works
    z = x * y
    return z


class Cell:
    def call(self, inputs):
        """Doc."""
        return inputs + 1
'''


def test_inlines_bodies_of_functions_and_methods():
    cell = ('def f(x, y=2):\n    """Student doc."""\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n\n'
            'class Cell:\n    def call(self, inputs):\n        """Doc."""\n        ### BEGIN SOLUTION\n'
            '        ### END SOLUTION\n')
    out = build.inline_solutions(cell, SOLUTION, "01_x")
    assert "    # why this works\n    z = x * y\n    return z\n    ### END SOLUTION" in out
    assert "        return inputs + 1\n        ### END SOLUTION" in out
    assert '"""Student doc."""' in out


def test_signature_mismatch_is_an_error():
    cell = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n'
    with pytest.raises(build.BuildError, match=r"f\(x\) in the notebook but f\(x, y=2\) in solutions/"):
        build.inline_solutions(cell, SOLUTION, "01_x")


def test_unknown_function_is_an_error():
    cell = 'def g(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n'
    with pytest.raises(build.BuildError, match="no function g"):
        build.inline_solutions(cell, SOLUTION, "01_x")


def test_every_solution_file_carries_the_canary():
    for assignment in assignments():
        with open(paths.solution_file(assignment)) as f:
            assert CANARY in f.read(), f"solutions for {assignment} lack the canary the release test relies on"


def test_release_has_no_solution_and_no_hidden_code(built):
    course, answers = built
    for assignment in course.built_assignments():
        source = open(course.source_notebook(assignment)).read()
        assert CANARY in source, "the canary should reach the instructor's source notebook"
        hidden = [open(paths.suite(assignment)).read()]  # (the harness is not secret: it only wires up Keras)
        for path in glob.glob(os.path.join(course.release_dir(assignment), "**", "*"), recursive=True):
            if os.path.isdir(path):
                continue
            text = open(path, encoding="utf-8", errors="replace").read()
            assert CANARY not in text, f"solution code leaked into {path}"
            assert "def test_" not in text or path.endswith(".ipynb"), f"test code in {path}"
            for suite in hidden:  # no line of the hidden suite (beyond trivial ones) is released
                for line in suite.splitlines():
                    if len(line.strip()) > 40 and not line.strip().startswith(("import", "from", "#")):
                        assert line.strip() not in text, f"hidden suite line released in {path}: {line.strip()}"
        release_nb = notebooks.read(os.path.join(course.release_dir(assignment), f"{assignment}.ipynb"))
        for grade_id, stub in notebooks.answer_cells(release_nb).items():
            assert "NotImplementedError" in stub and stub != answers[assignment][grade_id]


def test_every_item_has_points_and_hidden_tests(built):
    course, _ = built
    for assignment in course.built_assignments():
        layout = notebooks.layout(notebooks.read(course.source_notebook(assignment)))
        assert layout.answers and not layout.check(build.suite_items(assignment))
