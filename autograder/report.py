"""The class at a glance: a students x items table, a per-item CSV (nbgrader's export has totals only) and a
plot of the score distribution. Everything is read from ``autograded/*/*/results.json``."""
import csv
import glob
import json
import os

from autograder import grade


def collect(course, assignment):
    """student -> results of ``assignment``, for every graded submission."""
    found = {}
    for path in sorted(glob.glob(os.path.join(course.path("autograded"), "*", assignment, "results.json"))):
        with open(path) as f:
            found[path.split(os.sep)[-3]] = json.load(f)
    return found


def table(course, assignment):
    """A plain-text table of students x items with the totals."""
    results = collect(course, assignment)
    if not results:
        return f"{assignment}: nothing graded yet"
    items = list(grade.item_scores(next(iter(results.values()))))
    width = max(len(s) for s in results) + 2
    header = "student".ljust(width) + "".join(i[:14].rjust(15) for i in items) + "total".rjust(14)
    lines = [f"{assignment}", header, "-" * len(header)]
    for student, res in results.items():
        scores = grade.item_scores(res)
        cells = "".join(_fraction(*scores.get(i, (0, 0))).rjust(15) for i in items)
        lines.append(student.ljust(width) + cells + _fraction(res["score"], res["max_score"]).rjust(14))
    return "\n".join(lines)


def _fraction(got, most):
    return f"{round(got, 2):g}/{most:g}"


def write_item_csv(course, assignment, path):
    results = collect(course, assignment)
    items = list(grade.item_scores(next(iter(results.values())))) if results else []
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", *items, "score", "max_score", "sandbox", "suite_version"])
        for student, res in results.items():
            scores = grade.item_scores(res)
            writer.writerow([student, assignment, *(round(scores.get(i, (0, 0))[0], 4) for i in items),
                             res["score"], res["max_score"], res["provenance"]["sandbox"],
                             res["provenance"]["suite_version"]])
    return path


def plot_distribution(course, assignments, path):
    """A histogram of total scores (as a percentage) per assignment."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(assignments), figsize=(4.5 * len(assignments), 3.2), squeeze=False)
    for ax, assignment in zip(axes[0], assignments):
        results = collect(course, assignment)
        percent = [100 * r["score"] / r["max_score"] for r in results.values() if r["max_score"]]
        ax.hist(percent, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.01], color="#4477aa", edgecolor="white")
        ax.set_title(f"{assignment} ({len(percent)} submissions)")
        ax.set_xlabel("score (%)")
        ax.set_ylabel("students")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no half students
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
