"""The hidden suites grade what they should, through the real grader (``rnnkit validate`` with one grader seed): the
reference and every correct variant get full marks, every catalogued bug loses points on its own item and keeps
every other item whole, and the untouched stubs get nothing."""

from autograder.simulation import catalogue, validate
from tests.conftest import assignments, grade_class


class Grading:
    """Both checks for one assignment (the test classes below, one per assignment)."""
    assignment = None

    def test_reference_variants_and_catalogue(self, built, level):
        course, _ = built
        assert len(catalogue.catalogue(self.assignment)) >= 40 and len(catalogue.variants(self.assignment)) >= 5
        report = validate.validate(course, self.assignment, seeds=1, jobs=2, level=level, echo=lambda *_: None)
        assert report.correct and report.bugs
        assert report.ok(), "\n".join(report.lines())

    def test_untouched_stubs_score_zero_with_a_message(self, built, level):
        course, _ = built
        stubs = grade_class(course, self.assignment, {"stubs": None}, level)["stubs"]
        assert stubs.tests and stubs.score == 0
        for test in stubs.tests:
            assert "NotImplementedError" in test.message or "not implemented" in test.message, test


def _trains(assignment):
    return any(bug.cell in validate.TRAINING_ITEMS for bug in catalogue.catalogue(assignment))


# A class per assignment, so that make test's two workers (--dist loadscope) validate assignments side by side; those
# with training items first, since they take minutes and the scheduler deals classes in this order.
for _assignment in sorted(assignments(), key=lambda a: not _trains(a)):
    globals()[f"Test_{_assignment}"] = type(f"Test_{_assignment}", (Grading,), {"assignment": _assignment})
