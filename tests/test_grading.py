"""The hidden suites grade what they should: the reference and every correct variant get full marks, the stubs
nothing, and every catalogued bug loses points on its own item and keeps every other item whole."""
import pytest

from autograder import notebooks
from autograder.simulation import catalogue
from tests.conftest import assignments, grade_class

ASSIGNMENTS = assignments()
# Items whose checks train a model (tens of seconds each). In `make test` a bug submission runs them only when
# one of its bugs is in that very cell; `rnnkit validate` runs every item for every bug.
TRAINING_ITEMS = {"train_sentiment", "train_char_lm"}


def pack(bugs):
    """Groups bugs into as few submissions as possible, at most one bug per answer cell: since each item is graded
    with the reference of the items it builds on, each item's verdict still speaks of one bug alone."""
    groups = []
    for bug in bugs:
        for group in groups:
            if all(bug.cell != other.cell for other in group):
                group.append(bug)
                break
        else:
            groups.append([bug])
    return groups


def lost_items(results):
    return {item for item, score in results.items().items() if score.lost}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_and_variants_full_marks_and_stubs_zero(built, level, assignment):
    course, answers = built
    variants = catalogue.variants(assignment)
    class_ = {"reference": answers[assignment], "stubs": None}
    class_.update({f"variant-{v.name}": catalogue.apply(answers[assignment], v) for v in variants})
    results = grade_class(course, assignment, class_, level)
    for student, res in results.items():
        if student == "stubs":
            continue
        failing = [f"{t.name}: {t.message}" for t in res.tests if not t.passed]
        assert not failing, f"{student} lost points:\n" + "\n".join(failing)
        assert res.score == res.max_score > 0
    stubs = results["stubs"]
    assert stubs.score == 0
    assert all(s.score == 0 for s in stubs.items().values())
    for test in stubs.tests:
        assert "NotImplementedError" in test.message or "not implemented" in test.message, test


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_catalogued_bug_costs_its_own_item_only(built, level, assignment):
    course, answers = built
    bugs = catalogue.catalogue(assignment)
    assert len(bugs) >= 12
    groups = pack(bugs)
    every_item = set(notebooks.layout(notebooks.read(course.source_notebook(assignment))).answers)
    assert {bug.cell for bug in bugs} <= every_item
    mutants, items = {}, {}
    for number, group in enumerate(groups):
        mutated = answers[assignment]
        for bug in group:
            mutated = catalogue.apply(mutated, bug)
        mutants[f"bugs{number:02d}"] = mutated
        items[f"bugs{number:02d}"] = sorted((every_item - TRAINING_ITEMS) | {bug.cell for bug in group})
    results = grade_class(course, assignment, mutants, level, items=items)
    problems = []
    for number, group in enumerate(groups):
        res = results[f"bugs{number:02d}"]
        lost = lost_items(res)
        for bug in group:
            if bug.cell not in lost:
                problems.append(f"{bug.name}: no points lost on {bug.cell} (why: {bug.why})")
        wrongly = lost - {bug.cell for bug in group}
        if wrongly:
            detail = [f"{t.name}: {t.message}" for t in res.tests if t.item in wrongly and not t.passed]
            problems.append(f"{[b.name for b in group]} also cost points on {sorted(wrongly)}: {detail}")
    assert not problems, "\n".join(problems)
