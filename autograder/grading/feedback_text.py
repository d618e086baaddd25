"""The text under each check cell of an autograded notebook: what the hidden suite found for that item, as the
student reads it in the feedback and the instructor in formgrader."""
import textwrap

from autograder.results import ItemScore, points

WRAP = 100   # characters per line of a report: the feedback page wraps too, but plain text should read on its own


def _wrapped(text, indent):
    lines = []
    for line in str(text).splitlines() or [""]:
        lines += textwrap.wrap(line, WRAP - len(indent), break_long_words=True, break_on_hyphens=False,
                               replace_whitespace=False, drop_whitespace=True) or [""]
    return [indent + line for line in lines]


def item_report(grade_id, results, copies=0, hints=()):
    """The text under an item's check cell: every hidden test's short name, its description, points, and for a
    failed test the message, wrapped at :data:`WRAP` characters; then ``hints`` (:mod:`autograder.diagnosis`: the
    known mistake this item's failures usually come from)."""
    item = results.items().get(grade_id, ItemScore(0.0, 0.0))
    lines = [f"Hidden tests for {grade_id}: {item.score:g} / {item.max_score:g} points"]
    if copies > 1:
        lines += _wrapped(f"Note: your notebook has {copies} cells for {grade_id}; the first one was graded "
                          "(and is the one shown here).", "")
    for test in results.item_tests(grade_id):
        name = test.name.split(": ", 1)[1] if test.name.startswith(f"{grade_id}: ") else test.name
        mark = "✓" if test.passed else "✗"
        lines += _wrapped(f"{mark} {name} [{points(test.score):g}/{points(test.max_score):g}]", "")
        description = getattr(test, "description", "") or ""
        if description and description.strip() != name.strip():
            lines += _wrapped(description, "    ")
        if not test.passed and test.message:
            lines += _wrapped(test.message, "      ")
    for hint in hints:
        lines += _wrapped(hint, "")
    return "\n".join(lines) + "\n"


def not_graded_report(grade_id, reason):
    return "\n".join([f"Hidden tests for {grade_id}: NOT GRADED",
                      *_wrapped(f"The grader could not grade this submission ({reason}). This is not a grade and "
                                "not a fault of your code: your instructor will grade it again.", "")]) + "\n"
