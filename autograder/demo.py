"""``rnnkit demo``: the whole instructor workflow on a simulated class, end to end.

Builds every assignment, submits for each a correct solution, the untouched stubs and three catalogued bugs,
grades them in the sandbox, and writes the table, the CSV exports, the feedback HTML and a score plot.
"""
import os
import shutil
import time

from autograder import autograde, bugs, build, isolation, paths, report, simulate

MARKER = ".rnnkit-demo"
BUGS_PER_ASSIGNMENT = 3


def _fresh(course):
    if os.path.isdir(course.root) and os.listdir(course.root) and not os.path.exists(course.path(MARKER)):
        raise ValueError(f"{course.root} exists and is not a demo course; refusing to overwrite it "
                         "(use another --course-dir)")
    shutil.rmtree(course.root, ignore_errors=True)
    os.makedirs(course.root)
    open(course.path(MARKER), "w").close()


def class_for(assignment):
    """(student, bug or None, untouched?) of the simulated class: spread over the catalogue's items."""
    catalogue = bugs.catalogue(assignment)
    chosen, seen = [], set()
    for bug in catalogue:  # one bug per broken cell first, so the table shows different items failing
        if bug.cell not in seen and len(chosen) < BUGS_PER_ASSIGNMENT:
            chosen.append(bug)
            seen.add(bug.cell)
    return [("reference", None, False), ("stubs", None, True)] + [(f"bug-{b.name}", b, False) for b in chosen]


def run(course, jobs=2, echo=print):
    started = time.time()
    _fresh(course)
    build.build(course, log=echo)
    assignments = paths.assignments()
    for assignment in assignments:
        reference = simulate.reference_answers(course, assignment)
        for student, bug, untouched in class_for(assignment):
            answers = None if untouched else (simulate.with_bug(reference, bug) if bug else reference)
            simulate.submit(course, student, assignment, answers)
    level = isolation.best_level()
    echo(f"\ngrading {sum(len(class_for(a)) for a in assignments)} submissions (sandbox: {level}, {jobs} at a time)")
    _, failures = autograde.autograde(course, assignments, level=level, jobs=jobs, echo=echo)
    for assignment in assignments:
        build.nbgrader(course, "generate_feedback", assignment, "--force")
    exports = course.path("exports")
    os.makedirs(exports, exist_ok=True)
    build.nbgrader(course, "export", f"--to={os.path.join(exports, 'grades.csv')}")
    echo("")
    for assignment in assignments:
        echo(report.table(course, assignment) + "\n")
        report.write_item_csv(course, assignment, os.path.join(exports, f"items_{assignment}.csv"))
    plot = report.plot_distribution(course, assignments, os.path.join(exports, "score_distribution.png"))
    echo(f"grades (nbgrader export): {os.path.join(exports, 'grades.csv')}")
    echo(f"per-item scores:          {os.path.join(exports, 'items_<assignment>.csv')}")
    echo(f"feedback HTML:            {course.path('feedback', '<student>', '<assignment>', '<assignment>.html')}")
    echo(f"score distribution:       {plot}")
    echo(f"demo finished in {time.time() - started:.0f} s")
    return 1 if failures else 0
