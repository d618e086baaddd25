"""The class at a glance: a students x items table, a per-item CSV (nbgrader's export has totals only) and a
plot of the score distribution. Everything is read from ``autograded/*/<assignment>/results.json``."""
import csv
import glob
import os

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


def table(course, assignment):
    """A plain-text table of students x items with the totals; items are named in full."""
    results = collect(course, assignment)
    if not results:
        return f"{assignment}: nothing graded yet"
    items = _items(results)
    width = max(len(s) for s in [*results, "student"]) + 2
    columns = [max(len(item), 9) + 2 for item in items]
    header = "student".ljust(width) + "".join(i.rjust(c) for i, c in zip(items, columns)) + "total".rjust(14)
    lines = [assignment, header, "-" * len(header)]
    for student, res in results.items():
        scores = res.items()
        cells = "".join(_fraction(scores.get(i, ItemScore(0, 0))).rjust(c) for i, c in zip(items, columns))
        lines.append(student.ljust(width) + cells + _fraction(ItemScore(res.score, res.max_score)).rjust(14))
    return "\n".join(lines)


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


def mark_missing_and_neutralise(path):
    """Rewrites nbgrader's ``grades.csv``: a row with no submission (no timestamp) gets ``status`` ``missing`` and
    empty scores instead of a 0 that looks earned; every cell is made safe for spreadsheets."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return path
    header = list(rows[0]) + ["status"]
    for row in rows:
        row["status"] = "submitted" if row.get("timestamp") else "missing"
        if row["status"] == "missing":
            row.update({key: "" for key in ("raw_score", "score", "late_submission_penalty") if key in row})
    return write_csv(path, header, [[row[key] for key in header] for row in rows])


def write_item_csv(course, assignment, path):
    results = collect(course, assignment)
    items = _items(results)
    rows = []
    for student, res in results.items():
        scores = res.items()
        rows.append([student, assignment, *(scores.get(i, ItemScore(0, 0)).score for i in items),
                     res.score, res.max_score, res.provenance.get("sandbox"), res.provenance.get("suite_version")])
    return write_csv(path, ["student", "assignment", *items, "score", "max_score", "sandbox", "suite_version"], rows)


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
