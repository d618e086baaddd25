"""The class at a glance: a students x items table, a per-item CSV (nbgrader's export has totals only), every
student's message for one item, and a plot of the score distribution. Points and states come from the gradebook
through :mod:`autograder.grades` (a person's grades in formgrader included); the hidden tests' messages and the
grader's provenance from ``autograded/*/<assignment>/results.json``."""
import collections
import csv
import glob
import os

from autograder import diagnosis, grades, timetext


def collect(course, assignment):
    """student -> :class:`SubmissionResults` of ``assignment``, for every graded submission."""
    from autograder.results import SubmissionResults
    found = {}
    for path in sorted(glob.glob(os.path.join(course.path("autograded"), "*", assignment, "results.json"))):
        try:
            found[path.split(os.sep)[-3]] = SubmissionResults.load(path)
        except (OSError, ValueError, KeyError):
            continue  # a results file someone broke by hand: its messages are not shown
    return found


def _names(graded):
    """The items, in notebook order, over every submission (autograded, then written answers)."""
    names = {}
    for grade in graded.values():
        names.update(dict.fromkeys(i.name for i in grade.items))
    return list(names)


def table(course, assignment):
    """A plain-text table of students x items with the totals; items are named in full. Every cell is
    :meth:`grades.Item.shown` (points, ``awaiting a person`` or ``not graded``; ``*`` marks points a person set);
    the total is :meth:`grades.Grade.total`; then lateness and flags."""
    graded = grades.of(course, assignment)
    failed = {s for s, g in graded.items() if g.status == grades.NOT_GRADED}
    results = {s: r for s, r in collect(course, assignment).items() if s not in failed}
    return render_table(assignment, graded) + "".join("\n" + line for line in known_mistakes(assignment, results))


def render_table(assignment, graded):
    """The table of :func:`table` from ``{student: grades.Grade}``."""
    if not graded:
        return f"{assignment}: nothing graded yet"
    names = _names(graded)
    width = max(len(s) for s in [*graded, "student"]) + 2
    columns = [max(len(name), len(grades.AWAITING)) + 2 for name in names]
    shown = {s: g.total() if g.status not in (grades.MISSING, grades.NOT_GRADED) else "" for s, g in graded.items()}
    last = max(len(t) for t in [*shown.values(), "total"]) + 2
    header = "student".ljust(width) + "".join(n.rjust(c) for n, c in zip(names, columns)) + "total".rjust(last)
    lines = [assignment, header, "-" * len(header)]
    for student, grade in graded.items():
        if grade.status in (grades.MISSING, grades.NOT_GRADED):
            cells = [grade.status.upper()] + [""] * (len(names) - 1)
        else:
            cells = [(i.shown() + "*" * i.by_hand) if i else "" for i in map(grade.item, names)]
        marks = ([timetext.late_text(grade.seconds_late)] if grade.late else []) + \
            ([grades.FLAGGED] if grade.flagged else [])
        lines.append(student.ljust(width) + "".join(c.rjust(w) for c, w in zip(cells, columns))
                     + shown[student].rjust(last)
                     + ("  " + ", ".join(marks) if marks else ""))
    if any(i.by_hand for g in graded.values() for i in g.items):
        lines.append("* set by a person in formgrader")
    waiting = [g for g in graded.values() if g.status == grades.AWAITING]
    if waiting:
        lines.append(f"{len(waiting)} submission(s) {grades.AWAITING} in formgrader; their totals are not final")
    return "\n".join(lines)


def item_messages(course, assignment, item):
    """Every student's result on one item: their points and, for each failed hidden test, its message (what the
    feedback shows them); None if ``assignment`` has no such item. ``rnnkit report --item NAME``."""
    graded, results = grades.of(course, assignment), collect(course, assignment)
    known = set(_names(graded))
    if item not in known:
        return None
    lines = [f"{assignment}: {item}"]
    for student, grade in graded.items():
        mine = grade.item(item)
        lines.append(f"{student}: {mine.shown() if mine else grade.status}" + (" (set by a person)" if mine and
                                                                                mine.by_hand else ""))
        res = results.get(student)
        for test in (res.item_tests(item) if res else []):
            if not test.passed:
                name = test.name.split(": ", 1)[-1]
                lines.append(f"    ✗ {name}: " + " ".join(str(test.message).split()))
    return "\n".join(lines)


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


def rewrite_grades_csv(course, path):
    """Rewrites nbgrader's ``grades.csv`` from :mod:`autograder.grades`: its own columns, with ``raw_score``,
    ``late_submission_penalty`` and ``score`` as the gradebook has them now, then ``status`` (the one vocabulary),
    ``seconds_late`` and ``flagged``. A row with no submission, or one the grader could not grade, has empty scores
    instead of a 0 that looks earned; every cell is made safe for spreadsheets."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return path
    graded = {a: grades.of(course, a) for a in sorted({row["assignment"] for row in rows})}
    header = list(rows[0]) + ["status", "seconds_late", "flagged"]
    for row in rows:
        grade = graded[row["assignment"]].get(row["student_id"]) or grades.Grade(row["student_id"], row["assignment"])
        if not row.get("timestamp"):
            grade.status = grades.MISSING
        row.update(status=grade.status, seconds_late=round(grade.seconds_late), flagged=str(grade.flagged).lower(),
                   raw_score=grade.score, late_submission_penalty=grade.penalty, score=grade.final)
        if grade.status in (grades.MISSING, grades.NOT_GRADED):
            row.update({key: "" for key in ("raw_score", "score", "late_submission_penalty") if key in row})
    return write_csv(path, header, [[row[key] for key in header] for row in rows])


def write_item_csv(course, assignment, path):
    """Points per item (autograded, then written answers; empty while awaiting a person or not graded), the
    points before the late penalty, the penalty, the total, the submission's ``status``, ``seconds_late``,
    ``flagged``, and the grader's sandbox level and suite version."""
    graded, results = grades.of(course, assignment), collect(course, assignment)
    names = _names(graded)
    rows = []
    for student, grade in graded.items():
        provenance = results[student].provenance if student in results else {}
        shown = grade.status not in (grades.MISSING, grades.NOT_GRADED)   # no score is shown as if it were one
        cells = [("" if i is None or i.score is None else i.score) if shown else "" for i in map(grade.item, names)]
        rows.append([student, assignment, *cells, *((grade.score, grade.penalty, grade.final) if shown else
                                                     ("", "", "")), grade.max_score, grade.status,
                     round(grade.seconds_late), str(grade.flagged).lower(), provenance.get("sandbox"),
                     provenance.get("suite_version")])
    return write_csv(path, ["student", "assignment", *names, "raw_score", "late_submission_penalty", "score",
                            "max_score", "status", "seconds_late", "flagged", "sandbox", "suite_version"], rows)


def plot_data(course, assignment):
    """What the plot draws, from :mod:`autograder.grades`: ``(totals in % of the assignment's points, {item: class
    mean in % of its points})``, over the graded submissions (awaiting answers count 0 until a person grades them;
    missing and not graded submissions are left out)."""
    graded = [g for g in grades.of(course, assignment).values() if g.status in (grades.GRADED, grades.AWAITING)]
    totals = [100 * g.final / g.max_score for g in graded if g.max_score]
    means = {}
    for name in _names({g.student: g for g in graded}):
        mine = [i for i in map(lambda g: g.item(name), graded) if i is not None and i.score is not None]
        top = sum(i.max_score for i in mine)
        means[name] = 100 * sum(i.score for i in mine) / top if top else 0.0
    return totals, means


def plot_distribution(course, assignments, path):
    """Per assignment: a histogram of total scores and, beside it, the class's mean score on each item, as
    percentages (:func:`plot_data`: the points formgrader and grades.csv show, a person's included)."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(assignments), figsize=(4.8 * len(assignments), 6.4), squeeze=False)
    for column, assignment in enumerate(assignments):
        percent, means = plot_data(course, assignment)
        ax = axes[0][column]
        ax.hist(percent, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.01], color="#4477aa", edgecolor="white")
        ax.set_title(f"{assignment} ({len(percent)} submissions)")
        ax.set_xlabel("score (% of the assignment's points)")
        ax.set_ylabel("students")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no half students
        items = list(means)
        ax = axes[1][column]
        ax.barh(items[::-1], [means[i] for i in items[::-1]], color="#ee8866")
        ax.set_xlim(0, 100)
        ax.set_xlabel("class mean per item (% of its points)")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
