"""The hidden suites grade what they should: the reference gets full marks, the stubs nothing, and every catalogued
bug loses points on exactly the items it breaks while every other item keeps its points."""
import pytest

from autograder import notebooks
from autograder.simulation import catalogue
from autograder.simulation import submissions
from tests.conftest import assignments, grade_class

ASSIGNMENTS = assignments()
# Items whose checks train a model (tens of seconds each). A bug submission runs them only when one of its bugs
# is in that very cell: a bug elsewhere that merely reaches training (through a function the training calls) is
# proven on its own item, and may cost training points too. Every other item runs for every submission, and
# the reference and the stubs run everything.
TRAINING_ITEMS = {"train_sentiment", "train_char_lm"}


def pack(bugs):
    """Groups bugs into as few submissions as possible: bugs in one submission touch different cells and break
    disjoint sets of items, so each item's verdict still speaks of one bug alone."""
    groups = []
    for bug in bugs:
        for group in groups:
            if all(bug.cell != other.cell and not (bug.breaks & other.breaks) and bug.cell not in other.breaks
                   and other.cell not in bug.breaks for other in group):
                group.append(bug)
                break
        else:
            groups.append([bug])
    return groups


def lost_items(results):
    return {item for item, s in results.items().items() if s.lost}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_full_marks_and_stubs_zero(built, level, assignment):
    course, answers = built
    results = grade_class(course, assignment, {"reference": answers[assignment], "stubs": None}, level)
    reference, stubs = results["reference"], results["stubs"]
    failing = [f"{t.name}: {t.message}" for t in reference.tests if not t.passed]
    assert not failing, "the reference lost points:\n" + "\n".join(failing)
    assert reference.score == reference.max_score > 0
    assert stubs.score == 0
    assert all(s.score == 0 for s in stubs.items().values())
    for test in stubs.tests:
        assert "NotImplementedError" in test.message, test


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_catalogued_bug_loses_points_where_it_should(built, level, assignment):
    course, answers = built
    bugs = catalogue.catalogue(assignment)
    assert len(bugs) >= 12
    groups = pack(bugs)
    every_item = set(notebooks.layout(notebooks.read(course.source_notebook(assignment))).answers)
    mutants, items = {}, {}
    for number, group in enumerate(groups):
        mutated = answers[assignment]
        for bug in group:
            mutated = submissions.with_bug(mutated, bug)
        mutants[f"bugs{number:02d}"] = mutated
        items[f"bugs{number:02d}"] = sorted((every_item - TRAINING_ITEMS) | {bug.cell for bug in group})
    results = grade_class(course, assignment, mutants, level, items=items)
    problems = []
    for number, group in enumerate(groups):
        res = results[f"bugs{number:02d}"]
        lost, ran = lost_items(res), set(items[f"bugs{number:02d}"])
        expected = set().union(*(bug.breaks for bug in group))
        for bug in group:
            if bug.cell not in lost:
                problems.append(f"{bug.name}: no points lost on {bug.cell} (why: {bug.why})")
            missed = (bug.breaks & ran) - lost
            if missed:
                problems.append(f"{bug.name}: should also lose points on {sorted(missed)}")
        wrongly = lost - expected
        if wrongly:
            detail = [f"{t.name}: {t.message}" for t in res.tests if t.item in wrongly and not t.passed]
            problems.append(f"{[b.name for b in group]} also cost points on {sorted(wrongly)}: {detail}")
    assert not problems, "\n".join(problems)
