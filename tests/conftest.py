"""Shared fixtures: a course built once per test session, and grading of simulated submissions."""
import os

import pytest

from autograder import build, project
from autograder.grading import batch
from autograder.sandbox import launch
from autograder.simulation import submissions
from autograder.trusted import suite
from autograder.course import Course

# Isolate nbgrader and Jupyter from whatever the machine has configured (no stray nbgrader_config.py).
_HOME = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rnnkit-test-home-{os.getpid()}")
for _name, _sub in (("HOME", ""), ("JUPYTER_CONFIG_DIR", ".jupyter"), ("JUPYTER_DATA_DIR", "jupyter-data")):
    os.environ[_name] = os.path.join(_HOME, _sub)
os.makedirs(os.environ["JUPYTER_CONFIG_DIR"], exist_ok=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Grader seeds derive from the course secret and the submission's bytes: a fixed secret (and the build's fixed cell
# ids) make every test's grading inputs the same on every run.
os.environ.setdefault("RNNKIT_SECRET", "5eed" * 16)
# No grading service outlives a test: tests that need one (tests/test_service.py) ask for it and stop it.
os.environ.setdefault("RNNKIT_SERVICE", "0")


def pytest_configure(config):
    # some tests import a hidden suite directly, outside the grader's plugin that registers its mark
    config.addinivalue_line("markers", suite.ITEM_MARKER)
    config.addinivalue_line("markers", "fast: needs neither a built course nor a sandbox (make check)")


# The fast tier (``make check``, ``pytest -m fast``): the modules of pure checks (scoring, the typed grading unit
# with fake runners, the channel's encoding, the checks' messages, the build's parsing, the command line's help),
# less any of their tests that needs a built course or a sandbox. Every other module grades, trains or builds.
FAST_MODULES = {"test_core_grading", "test_units", "test_checklib", "test_channel", "test_build", "test_cli",
                "test_imports"}
SLOW_FIXTURES = {"built", "level", "zygote", "forger"}


# Under pytest-xdist (make test: ``-n 2 --dist loadscope``) a module's tests stay on one worker (a class's, for
# tests/test_grading.py's one class per assignment), so module fixtures (a whole course through nbgrader's exchange,
# a Jupyter server) are made once. (Not ``--dist loadgroup``: pytest-xdist 3.8 appends the group to ``_nodeid``, which
# pytest 9 no longer reads, so every test was dealt alone and every module fixture made on both workers.)
# The scheduler deals scopes in collection order: the longest come first, so that no long one starts last.
LONGEST_FIRST = ("test_hub", "test_grading", "test_pipeline", "test_hostile_data_02", "test_hostile", "test_formgrader_browser")


def _module(item):
    return item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _module(item) in FAST_MODULES and not SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.fast)
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))   # stable: each module keeps its own order


def assignments():
    """Every assignment, or those in RNNKIT_TEST_ASSIGNMENTS (comma-separated) while working on one of them."""
    chosen = os.environ.get("RNNKIT_TEST_ASSIGNMENTS")
    return chosen.split(",") if chosen else project.assignments()


def sandbox_level():
    """The strongest level here; CI sets RNNKIT_REQUIRE_SANDBOX=bubblewrap so a missing bwrap fails loudly."""
    return launch.best_level(os.environ.get("RNNKIT_REQUIRE_SANDBOX") or None)


@pytest.fixture(scope="session")
def level():
    return sandbox_level()


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """A course with every assignment built: (Course, {assignment: reference answers})."""
    course = Course(str(tmp_path_factory.mktemp("course")))
    build.build(course, assignments(), log=lambda *_: None)
    answers = {a: submissions.reference_answers(course, a) for a in course.built_assignments()}
    return course, answers


def grade_class(course, assignment, class_, level, jobs=2, items=None):
    """Submits ``{student: answers or (answers, edit)}`` and grades them; returns {student: results}.

    ``items``: ``{student: graded items to check}`` to grade some submissions only in part.
    """
    for student, spec in class_.items():
        answers, edit = spec if isinstance(spec, tuple) else (spec, None)
        submissions.submit(course, student, assignment, answers, edit)
    graded, failures = batch.autograde(course, [assignment], list(class_), level, force=True, jobs=jobs,
                                           echo=lambda *_: None, items=items)
    assert failures == 0
    return {student: graded[(student, assignment)] for student in class_}
