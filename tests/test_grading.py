"""The hidden suites grade what they should, through the real grader (``rnnkit validate`` with one grader seed): the
reference and every correct variant get full marks, every catalogued bug loses points on its own item and keeps
every other item whole, and the untouched stubs get nothing."""
import pytest

from autograder.simulation import catalogue, validate
from tests.conftest import assignments, grade_class

ASSIGNMENTS = assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_variants_and_catalogue(built, level, assignment):
    course, _ = built
    assert len(catalogue.catalogue(assignment)) >= 40 and len(catalogue.variants(assignment)) >= 5
    report = validate.validate(course, assignment, seeds=1, jobs=2, level=level, echo=lambda *_: None)
    assert report.correct and report.bugs
    assert report.ok(), "\n".join(report.lines())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_stubs_score_zero_with_a_message(built, level, assignment):
    course, _ = built
    stubs = grade_class(course, assignment, {"stubs": None}, level)["stubs"]
    assert stubs.tests and stubs.score == 0
    for test in stubs.tests:
        assert "NotImplementedError" in test.message or "not implemented" in test.message, test
