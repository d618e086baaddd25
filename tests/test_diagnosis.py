"""Known mistakes recognised by name (``autograder/diagnosis.py``): every catalogued bug carries a hint for students;
a failed item whose signature catalogued bugs of one cause produced gets that cause's hint; a signature bugs of
different causes share, a passing item, or a signature never seen get none; and the committed table, measured
over 20 grader seeds (``bench/diagnosis.py``), still holds its measured precision."""
import json
import os
import sys

import pytest

from autograder import diagnosis, project, report
from autograder.grading import gradebook
from autograder.results import SubmissionResults
from autograder.simulation import catalogue
from tests.conftest import assignments

sys.path.insert(0, os.path.join(project.ROOT, "bench"))
A1 = "01_rnn_cell"
RUNS = os.path.join(project.ROOT, "bench", "results", "diagnosis_runs.json.gz")


def test_messages_are_normalised_to_their_shape():
    a = "5 of 5 gradients of rnn_backward are wrong (tolerance 1e-07): dX ✗ relative error 2.3e-01; dH0 ✓ 5e-11"
    b = "5 of 5 gradients of rnn_backward are wrong (tolerance 1e-07): dX ✗ relative error 9.1e-02; dH0 ✓ 3e-12"
    c = "4 of 5 gradients of rnn_backward are wrong (tolerance 1e-07): dX ✗ relative error 9.1e-02; dH0 ✓ 3e-12"
    assert diagnosis.normalise(a) == diagnosis.normalise(b) != diagnosis.normalise(c)
    assert "dX ✗" in diagnosis.normalise(a) and "all of #" in diagnosis.normalise(a)
    assert diagnosis.normalise("expected shape (2, 4, 5), got (4, 2, 5)") == "expected shape (#, #, #), got (#, #, #)"


def test_a_stored_result_has_the_signature_of_the_run_that_made_it():
    """results.json keeps a test's docstring paragraph on one line, the plugin's records keep its line breaks:
    both must name the test alike, or no real grading would ever be recognised."""
    from autograder.results import FAILED, TestResult
    doc = "is derived by hand: no automatic differentiation runs while it computes, and its\ngradients are right"
    record = [{"item": "f", "test": "test_f", "doc": doc, "status": "failed", "message": "5 of 5 wrong"}]
    stored = [TestResult("f", "f: by hand", FAILED, 0.0, 1.0, "5 of 5 wrong", description=" ".join(doc.split()))]
    assert diagnosis.signature(record, "f") == diagnosis.signature(stored, "f") is not None


def test_every_catalogued_bug_has_a_hint_for_students():
    for assignment in project.assignments():
        for bug in catalogue.catalogue(assignment):
            hint = bug.student_hint
            assert 15 < len(hint) < 300 and "\n" not in hint, (assignment, bug.name, hint)
        hints = {b.student_hint for b in catalogue.catalogue(assignment)}
        assert len(hints) < len(catalogue.catalogue(assignment)) / 2, assignment   # hints name causes, shared by bugs


def _records(item, failures):
    """Plugin-style records: ``failures`` {doc: message} fail, one more test passes."""
    out = [{"item": item, "test": f"test_{i}", "doc": doc, "status": "failed", "message": message}
           for i, (doc, message) in enumerate(failures.items())]
    return out + [{"item": item, "test": "test_ok", "doc": "passes", "status": "passed", "message": ""}]


def test_a_signature_of_one_cause_gets_its_hint_and_a_shared_one_gets_none():
    hint_of = {"a1": "cause A", "a2": "cause A", "b": "cause B"}
    one = diagnosis.signature(_records("f", {"values": "3 of 9 values differ: expected 1.5, got 2"}), "f")
    other = diagnosis.signature(_records("f", {"values": "9 of 9 values differ: expected 1.5, got 2"}), "f")
    entries = [{"bug": "a1", "cell": "f", "fine": [one[0]], "coarse": [one[1]]},
               {"bug": "a2", "cell": "f", "fine": [one[0], other[0]], "coarse": [one[1]]},
               {"bug": "b", "cell": "f", "fine": [other[0]], "coarse": [other[1]]}]
    assert diagnosis.diagnose(entries, "f", one, hint_of) == ("cause A", ["a1", "a2"])
    assert diagnosis.diagnose(entries, "f", other, hint_of)[0] is None          # causes A and B: say nothing
    assert diagnosis.diagnose(entries, "f", other, hint_of, exclude={"a2"})[0] == "cause B"
    assert diagnosis.diagnose(entries, "g", one, hint_of)[0] is None            # another item
    unseen = diagnosis.signature(_records("f", {"shape": "expected shape (2, 3), got (3, 2)"}), "f")
    assert diagnosis.diagnose(entries, "f", unseen, hint_of)[0] is None
    assert diagnosis.signature(_records("f", {}), "f") is None                  # nothing failed


# Bugs whose signature other bugs of the same cause share: each is diagnosed from the others' entries too.
DIAGNOSED = [(A1, "bptt_no_carry"), (A1, "bwd_db_mean"), (A1, "seq_cast_float32"), (A1, "bwd_tape_tf_function"),
             (A1, "cell_recurrent_glorot"), ("02_sentiment", "fwd_relu"), ("02_sentiment", "grads_one_step_only"),
             ("02_sentiment", "vocab_ties_first_seen"), ("03_char_lm", "clip_per_tensor"),
             ("03_char_lm", "model_relu"), ("03_char_lm", "gen_multiplies_temperature")]


@pytest.mark.parametrize("assignment, name", [pytest.param(a, n, marks=pytest.mark.skipif(
    a not in assignments(), reason=f"{a} not selected")) for a, n in DIAGNOSED], ids=[n for _, n in DIAGNOSED])
def test_a_graded_bug_gets_the_hint_of_its_cause_from_the_committed_table(assignment, name):
    from signatures import grade_change
    bug = next(b for b in catalogue.catalogue(assignment) if b.name == name)
    records = grade_change(assignment, bug, seed=20)   # a seed the table was not measured on
    results = SubmissionResults.from_records({bug.cell: 3}, records)
    assert diagnosis.hints(assignment, results) == {bug.cell: [diagnosis.sentence(bug.student_hint)]}
    assert name in diagnosis.matches(assignment, results)[bug.cell]
    reference = SubmissionResults.from_records({bug.cell: 3}, grade_change(assignment, None, seed=20,
                                                                           items={bug.cell}))
    assert reference.score == 3 and diagnosis.hints(assignment, reference) == {}
    # the student reads it under the item's check; the instructor's report counts the students it names
    feedback = " ".join(gradebook._report(bug.cell, results,
                                          hints=diagnosis.hints(assignment, results)[bug.cell]).split())
    assert " ".join(diagnosis.sentence(bug.student_hint).split()) in feedback
    lines = report.known_mistakes(assignment, {"s1": results, "s2": results, "ok": reference})
    assert lines[2] == f"    2 students  {bug.cell}: {bug.student_hint.strip().rstrip('.')}"
    assert report.known_mistakes(assignment, {"ok": reference}) == []


def test_the_committed_table_keeps_its_measured_precision():
    """The table's rule per assignment is what bench/diagnosis.py chooses from the recorded runs and today's hints:
    a hint edit that makes an assignment's hints imprecise must come with a rerun of ``analyse``."""
    import diagnosis as bench_diagnosis
    runs = bench_diagnosis.load_runs(RUNS)
    table = json.load(open(diagnosis.TABLE))
    for assignment in project.assignments():   # every assignment's hints (one per cause) are in use
        assert table["assignments"][assignment]["rule"], assignment
    for assignment in runs:
        hint_of = {b.name: b.student_hint for b in catalogue.catalogue(assignment)}
        bugs = {k: v for k, v in runs[assignment]["bugs"].items() if k in hint_of}
        results = {name: bench_diagnosis.measure(assignment, bugs, hint_of, rule)[0]
                   for name, rule in bench_diagnosis.RULES.items()}
        chosen = bench_diagnosis.choose(results)
        assert table["assignments"][assignment]["rule"] == (bench_diagnosis.RULES[chosen] if chosen else None)
        if chosen:
            given, correct, _ = results[chosen]["known"]
            assert given and correct / given >= bench_diagnosis.KNOWN_PRECISION, (assignment, results[chosen])
            given, correct, _ = results[chosen]["unseen"]
            assert not given or correct / given >= bench_diagnosis.UNSEEN_PRECISION, (assignment, results[chosen])
