"""The class at a glance: a students x items table, a per-item CSV (nbgrader's export has totals only) and a
plot of the score distribution. Everything is read from ``autograded/*/<assignment>/results.json``."""
import collections
import csv
import glob
import os

from autograder import diagnosis
from autograder.results import ItemScore, SubmissionResults


def collect(course, assignment):
    """student -> :class:`SubmissionResults` of ``assignment``, for every graded submission."""
    found = {}
    for path in sorted(glob.glob(os.path.join(course.path("autograded"), "*", assignment, "results.json"))):
        try:
            found[path.split(os.sep)[-3]] = SubmissionResults.load(path)
        except (OSError, ValueError, KeyError):
            continue  # a results file someone broke by hand: that student shows as not graded
    return found


def _items(results):
    """The graded items, in notebook order, over every submission (a partial one may lack some)."""
    items = {}
    for res in results.values():
        items.update(dict.fromkeys(res.items()))
    return list(items)


def _manual(course, assignment):
    """``{student: {grade_id: points or None}}`` of the hand-graded answers (None: waiting for a person)."""
    from autograder.grading import gradebook
    try:
        return gradebook.manual_points(course, assignment)
    except Exception:  # no gradebook yet (nothing graded): nothing manual to show
        return {}


def _manual_items(course, assignment):
    """grade_id -> points of the written answers, in notebook order (from the source notebook)."""
    from autograder import notebooks
    try:
        return notebooks.layout(notebooks.read(course.source_notebook(assignment))).manual
    except (OSError, ValueError):
        return {}


def _not_graded(course, assignment):
    from autograder.grading import gradebook
    try:
        return gradebook.not_graded_students(course, assignment)
    except Exception:
        return set()


def table(course, assignment):
    """A plain-text table of students x items with the totals; items are named in full. Written answers show the
    points a person gave, or ``awaiting`` until then; the total includes them."""
    results = collect(course, assignment)
    if not results:
        return f"{assignment}: nothing graded yet"
    items = _items(results)
    written, manual = _manual_items(course, assignment), _manual(course, assignment)
    failed = _not_graded(course, assignment)
    names = items + list(written)
    width = max(len(s) for s in [*results, "student"]) + 2
    columns = [max(len(item), 9) + 2 for item in names]
    header = "student".ljust(width) + "".join(i.rjust(c) for i, c in zip(names, columns)) + "total".rjust(14)
    lines = [assignment, header, "-" * len(header)]
    waiting = 0
    for student, res in results.items():
        if student in failed:
            lines.append(student.ljust(width) + "NOT GRADED (the grader failed; see grader_logs/)".rjust(
                sum(columns) + 14))
            continue
        scores = res.items()
        cells = [_fraction(scores.get(i, ItemScore(0, 0))) for i in items]
        total, top = res.score, res.max_score
        mine = manual.get(student, {})
        for grade_id, max_points in written.items():
            got = mine.get(grade_id, 0.0)
            cells.append("awaiting" if got is None else f"{got:g}/{max_points:g}")
            total, top = total + (got or 0.0), top + max_points
        waiting += any(mine.get(g, 0.0) is None for g in written)
        lines.append(student.ljust(width) + "".join(c.rjust(w) for c, w in zip(cells, columns))
                     + f"{round(total, 2):g}/{round(top, 2):g}".rjust(14))
    if waiting:
        lines.append(f"{waiting} submission(s) await manual grading (formgrader); their totals are not final")
    return "\n".join(lines + known_mistakes(assignment, {s: r for s, r in results.items() if s not in failed}))


def known_mistakes(assignment, results):
    """Lines counting, per item, the students whose failure has the signature of a catalogued mistake
    (:mod:`autograder.diagnosis`): what to go over in the next class. Empty when none was recognised."""
    count = collections.Counter()
    for res in results.values():
        for item, sentences in diagnosis.hints(assignment, res).items():
            count[item, sentences[0].removeprefix(diagnosis.PREFIX).rstrip(".")] += 1
    if not count:
        return []
    lines = ["", "Known mistakes (students whose failures match a catalogued one; their feedback names it):"]
    for (item, cause), n in sorted(count.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:>3} student{'s' if n > 1 else ' '}  {item}: {cause}")
    return lines


def _fraction(item):
    return f"{item.score:g}/{item.max_score:g}"


def csv_safe(value):
    """A cell a spreadsheet will not run as a formula (a student id such as ``=HYPERLINK(...)``)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(path, header, rows):
    """Every CSV the project writes goes through here, so that no cell can be a formula."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([csv_safe(v) for v in header])
        writer.writerows([csv_safe(v) for v in row] for row in rows)
    return path


def mark_missing_and_neutralise(path, not_graded=(), awaiting=()):
    """Rewrites nbgrader's ``grades.csv``: a row with no submission (no timestamp) gets ``status`` ``missing`` and
    empty scores instead of a 0 that looks earned; so does a submission the grader could not grade (``not
    graded``: ``(assignment, student)`` pairs); one whose written answer awaits a person is ``awaiting manual
    grade``; every cell is made safe for spreadsheets."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return path
    header = list(rows[0]) + ["status"]
    for row in rows:
        key = (row.get("assignment"), row.get("student_id"))
        row["status"] = "missing" if not row.get("timestamp") else "not graded" if key in set(not_graded) else \
            "awaiting manual grade" if key in set(awaiting) else "submitted"
        if row["status"] in ("missing", "not graded"):
            row.update({key: "" for key in ("raw_score", "score", "late_submission_penalty") if key in row})
    return write_csv(path, header, [[row[key] for key in header] for row in rows])


def write_item_csv(course, assignment, path):
    """Points per item (autograded, then written answers: empty while they await a person), the total with the
    manual points, and ``manual_status`` (``graded``, ``awaiting`` or ``none``)."""
    results = collect(course, assignment)
    items = _items(results)
    written, manual = _manual_items(course, assignment), _manual(course, assignment)
    failed = _not_graded(course, assignment)
    rows = []
    for student, res in results.items():
        if student in failed:   # no score is shown as if it were one
            rows.append([student, assignment, *([""] * (len(items) + len(written) + 2)), "not graded",
                         res.provenance.get("sandbox"), res.provenance.get("suite_version")])
            continue
        scores = res.items()
        mine = manual.get(student, {})
        got = [mine.get(g, 0.0) for g in written]
        status = "awaiting" if any(v is None for v in got) else ("graded" if written else "none")
        rows.append([student, assignment, *(scores.get(i, ItemScore(0, 0)).score for i in items),
                     *("" if v is None else v for v in got), round(res.score + sum(v or 0.0 for v in got), 2),
                     round(res.max_score + sum(written.values()), 2), status,
                     res.provenance.get("sandbox"), res.provenance.get("suite_version")])
    return write_csv(path, ["student", "assignment", *items, *written, "score", "max_score", "manual_status",
                            "sandbox", "suite_version"], rows)


def plot_distribution(course, assignments, path):
    """Per assignment: a histogram of total scores and, beside it, the class's mean score on each item, as
    percentages of the autograded points (written answers, graded by hand, are not in them; grades.csv has them)."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(assignments), figsize=(4.8 * len(assignments), 6.4), squeeze=False)
    for column, assignment in enumerate(assignments):
        results = collect(course, assignment)
        percent = [100 * r.score / r.max_score for r in results.values() if r.max_score]
        ax = axes[0][column]
        ax.hist(percent, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.01], color="#4477aa", edgecolor="white")
        ax.set_title(f"{assignment} ({len(percent)} submissions)")
        ax.set_xlabel("score (% of autograded points)")
        ax.set_ylabel("students")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no half students
        items = _items(results)
        means = [100 * sum(r.items()[i].score for r in results.values() if i in r.items())
                 / max(sum(r.items()[i].max_score for r in results.values() if i in r.items()), 1e-9)
                 for i in items]
        ax = axes[1][column]
        ax.barh(items[::-1], means[::-1], color="#ee8866")
        ax.set_xlim(0, 100)
        ax.set_xlabel("class mean per item (% of its points)")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
