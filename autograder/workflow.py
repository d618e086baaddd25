"""The instructor's workflow, one function per step: build, release, collect, autograde, feedback, export, report.

The command line (:mod:`autograder.cli`) and the demo both call these; nbgrader's own commands run through
:meth:`Course.nbgrader`, so a failure names the command. Each step prints what it did through ``echo``.
"""
import os

from autograder import build as builder
from autograder import report as reporting
from autograder.errors import RnnkitError
from autograder.grading import batch
from autograder.sandbox import launch


def built(course, names=()):
    """The assignments to work on: ``names`` (each must be built) or every built one."""
    found = course.built_assignments()
    if not found:
        raise RnnkitError(f"nothing is built in {course.root}: run `rnnkit build --course-dir {course.root}` first")
    for name in names:
        if name not in found:
            raise RnnkitError(f"assignment '{name}' is not built in {course.root} (built: {', '.join(found)})")
    return list(names) or found


def build(course, assignments=None, echo=print):
    builder.build(course, assignments or None, log=echo)


def release(course, assignment, exchange, echo=print):
    built(course, [assignment])
    course.nbgrader("release_assignment", assignment, f"--Exchange.root={exchange}", "--force")
    echo(f"released {assignment} to {exchange}; students run: nbgrader fetch_assignment {assignment} "
         f"--course rnnkit --Exchange.root={exchange}")


def collect(course, assignment, exchange, echo=print):
    built(course, [assignment])
    course.nbgrader("collect", assignment, f"--Exchange.root={exchange}", "--update")
    echo(f"collected {assignment}: {len(course.students(assignment))} submission(s) in {course.path('submitted')}")


def sandbox_warning(level):
    """The words an instructor cannot miss when grading runs below full isolation, or when this machine leaves
    something out of the level's description (None when neither)."""
    gaps = "; ".join(launch.gaps(level))
    if level == "bubblewrap":
        return f"WARNING: sandbox '{level}' without: {gaps}" if gaps else None
    what = ("no network, but student code can read the machine's files" if level == "unshare"
            else "student code runs as a plain subprocess with resource limits only")
    return (f"WARNING: graded at sandbox level '{level}' ({what}{'; ' + gaps if gaps else ''}). Install bubblewrap "
            "for full isolation: sudo apt-get install bubblewrap")


def autograde(course, assignments=(), students=None, sandbox=None, force=False, jobs=1, echo=print, items=None,
              dask=None):
    """Grades every (or the given) submission; returns ``(graded, failures, level)``."""
    assignments = built(course, assignments)
    level = launch.best_level(sandbox or os.environ.get("RNNKIT_REQUIRE_SANDBOX") or None)
    warning = sandbox_warning(level)
    if warning:
        echo(warning)
    graded, failures = batch.autograde(course, assignments, students, level, force=force, jobs=jobs, echo=echo,
                                       items=items, dask=dask)
    total = len(graded) + failures
    echo(f"autograded {len(graded)} of {total} submission(s) at sandbox level '{level}'"
         + (f"; {failures} NOT GRADED (see above and {course.path('grader_logs')})" if failures else ""))
    if warning:
        echo(warning)
    return graded, failures, level


def feedback(course, assignments=(), student=None, exchange=None, echo=print):
    extra = [f"--student={student}"] if student else []
    for assignment in built(course, assignments):
        course.nbgrader("generate_feedback", assignment, "--force", *extra)
        if exchange:
            course.nbgrader("release_feedback", assignment, f"--Exchange.root={exchange}", *extra)
    echo(f"feedback in {course.path('feedback')}" + (f", released to {exchange}" if exchange else ""))


def export(course, to=None, echo=print):
    """nbgrader's grade export (totals; a student with no submission is marked ``missing``, with no score) plus one
    per-item CSV per assignment; returns the files written."""
    out = os.path.abspath(to or course.path("exports"))
    os.makedirs(out, exist_ok=True)
    grades = os.path.join(out, "grades.csv")
    course.nbgrader("export", f"--to={grades}")
    reporting.mark_missing_and_neutralise(grades)
    written = [grades]
    for assignment in built(course):
        written.append(reporting.write_item_csv(course, assignment, os.path.join(out, f"items_{assignment}.csv")))
    echo("wrote " + ", ".join(written))
    return written


def report(course, assignments=(), echo=print):
    """Prints the students x items table of each assignment and writes the score plot; returns its path."""
    assignments = built(course, assignments)
    for assignment in assignments:
        echo(reporting.table(course, assignment) + "\n")
    out = course.path("exports")
    os.makedirs(out, exist_ok=True)
    plot = reporting.plot_distribution(course, assignments, os.path.join(out, "score_distribution.png"))
    echo(f"plot: {plot}")
    return plot
