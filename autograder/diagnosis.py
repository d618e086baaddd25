"""Known mistakes recognised by name: a submission's failure signature matched against the bug catalogue's.

    from autograder import diagnosis
    diagnosis.hints("01_rnn_cell", results)    # {grade_id: ["This pattern usually comes from ..."]}
    diagnosis.matches("01_rnn_cell", results)  # {grade_id: [catalogued bug names]}, for counting in a class report

An item's *signature* is which of its tests failed and how: the set of (test name, message with its numbers
blanked) over its failed tests, so "dX ✓ #; dH0 ✗ relative error #" keeps which gradients were wrong and "expected
shape (#, #, #), got (#, #)" which kind of shape. ``bench/diagnosis.py`` grades every catalogued bug of the
non-training items under many grader seeds (in process) and writes, per bug, the hashes of the signatures it
produced (``diagnosis_signatures.json`` beside this file). A failed item gets a hint only when its signature is one
that catalogued bugs produced and every such bug carries the same hint (the hint names a cause; several bugs share
it); when bugs with different hints share the signature, nothing is said: a wrong hint is worse than none.
Precision and recall, with each bug's own signatures held out when it is diagnosed: ``bench/results/diagnosis.md``.

Pure Python (no TensorFlow): the feedback and the class report can call it on results read from disk.
"""
import functools
import hashlib
import json
import os
import re

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "diagnosis_signatures.json")
PREFIX = "This pattern usually comes from "

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_COUNT = re.compile(r"\b(\d+) of (\d+)\b")
_QUOTED = re.compile(r"'[^'\n]{0,80}'")
_LIST = re.compile(r"\[[^\[\]\n]{0,400}\]")


def normalise(message):
    """A message with what varies with the grader's inputs blanked: numbers (#), quoted text and bracketed lists
    (a vocabulary entry, a row of ids); "k of n" kept as "all of #" or "some of #"; whitespace collapsed."""
    text = " ".join(str(message or "").split())
    text = _COUNT.sub(lambda m: "all of #" if m.group(1) == m.group(2) else "some of #", text)
    text = _QUOTED.sub("'…'", text)
    for _ in range(3):   # innermost lists first, for nested ones
        text = _LIST.sub("[…]", text)
    return _NUMBER.sub("#", text)


def _digest(parts):
    return hashlib.sha1(json.dumps(sorted(parts), ensure_ascii=False).encode()).hexdigest()[:16]


NAME_WORDS = 8   # a test is known by its docstring's first words: a stored result joins the paragraph's lines


def _known_as(item, doc, fallback):
    words = str(doc or "").split()[:NAME_WORDS]
    return f"{item}: {' '.join(words)}" if words else fallback


def _failed(tests, item):
    """(name, message) of the failed tests of ``item``: TestResult objects or the plugin's record dicts."""
    out = []
    for t in tests:
        if isinstance(t, dict):
            grade_id, passed, message = t.get("item"), t.get("status") == "passed", t.get("message", "")
            name = _known_as(grade_id, t.get("doc"), f"{grade_id}: {t.get('test')}")
        else:   # a TestResult: its description is the test's docstring (older results carried it in name)
            grade_id, passed, message = t.item, t.passed, t.message
            name = _known_as(t.item, getattr(t, "description", ""), t.name)
        if grade_id == item and not passed:
            out.append((name, message))
    return out


def signature(tests, item):
    """(fine, coarse) hashes of ``item``'s failure signature, or None when none of its tests failed. Fine: which
    tests failed and their messages with the numbers blanked; coarse: which tests failed."""
    failed = _failed(tests, item)
    if not failed:
        return None
    return _digest([[name, normalise(message)] for name, message in failed]), _digest([name for name, _ in failed])


def _tests_of(results):
    return list(getattr(results, "tests", results))


@functools.lru_cache(maxsize=None)
def _table(path=TABLE):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def _catalogue_hints(assignment):
    """{bug name: hint sentence} from the catalogue (hints live with the bugs; the table only holds signatures)."""
    from autograder.simulation import catalogue
    try:
        return {b.name: b.student_hint for b in catalogue.catalogue(assignment)}
    except Exception:   # a catalogue that no longer imports: no hints rather than a broken feedback
        return {}


def sentence(hint):
    hint = hint.strip().rstrip(".")
    return f"{PREFIX}{hint}." if hint else ""


def diagnose(entries, item, sig, hint_of, exclude=(), coarse=False, min_support=1):
    """The hint for one failed item, or None. ``entries``: the table's rows for the assignment
    (``{"bug", "cell", "fine": [hash], "coarse": [hash]}``); ``sig``: (fine, coarse) hashes; ``hint_of``: bug name
    -> hint; ``exclude``: bug names left out (held out when measuring); ``coarse``: fall back on which tests failed
    when no bug produced the fine signature; ``min_support``: how many distinct bugs must share the hint there.

    Returns (hint, [bug names]) when every catalogued bug that produced this signature on this item carries the
    same hint, else (None, [bug names])."""
    fine, rough = sig
    rows = [e for e in entries if e["cell"] == item and e["bug"] not in exclude and e["bug"] in hint_of]
    found = [e["bug"] for e in rows if fine in e["fine"]]
    if not found and coarse:
        found = [e["bug"] for e in rows if rough in e["coarse"]]
    hints = {hint_of[b] for b in found}
    if len(hints) == 1 and len(found) >= min_support and next(iter(hints)):
        return next(iter(hints)), found
    return None, found


def _each_failed_item(assignment, results):
    tests = _tests_of(results)
    items = []
    for t in tests:
        grade_id = t.get("item") if isinstance(t, dict) else t.item
        if grade_id not in items:
            items.append(grade_id)
    for item in items:
        sig = signature(tests, item)
        if sig is not None:
            yield item, sig


def _recognised(assignment, results):
    """{grade_id: (hint, [bug names])} under the assignment's measured rule. An assignment whose hints did not
    reach the precision bench/diagnosis.py requires has no rule (``null`` in the table): it gets no hints."""
    spec = _table().get("assignments", {}).get(assignment) or {}
    rule = spec.get("rule")
    if not rule:
        return {}
    hint_of = _catalogue_hints(assignment)
    out = {}
    for item, sig in _each_failed_item(assignment, results):
        hint, found = diagnose(spec.get("entries", []), item, sig, hint_of, coarse=rule.get("coarse", False),
                               min_support=rule.get("min_support", 1))
        if hint:
            out[item] = (hint, sorted(found))
    return out


def matches(assignment, results):
    """{grade_id: [names of the catalogued bugs whose hint this item's failure gets]} for the items that failed and
    were recognised (stable ids, for counting students per known mistake in a class report)."""
    return {item: found for item, (_, found) in _recognised(assignment, results).items()}


def hints(assignment, results):
    """{grade_id: [sentence]} for every item of ``results`` (a SubmissionResults, its tests, or the plugin's
    records) that lost points with the signature of a known mistake; items not recognised are left out."""
    return {item: [sentence(hint)] for item, (hint, _) in _recognised(assignment, results).items()}
