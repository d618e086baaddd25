"""The instructor's workflow, one function per step: build, release, collect, autograde, feedback, export, report.

The command line (:mod:`autograder.cli`) and the demo both call these; nbgrader's own commands run through
:meth:`Course.nbgrader`, so a failure names the command. Each step prints what it did through ``echo``.
"""
import os

from autograder import build as builder
from autograder import collect as collecting
from autograder import grades, intake, lateness, nbgrader_feedback, permissions, roster
from autograder import report as reporting
from autograder import settings as settings_module
from autograder.errors import RnnkitError
from autograder.grading import batch, gradebook
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
    """Builds the course (see :mod:`autograder.build`), private to the instructor (and the TA group), and makes the
    checkout's solutions and hidden suites readable by their owner only."""
    permissions.private_checkout(echo)
    with permissions.private_umask():
        builder.build(course, assignments or None, log=echo)
    _private(course)


def _private(course):
    permissions.private_course(course, settings_module.load(course.root).ta_group)


def _exchange(course, exchange):
    """The exchange to use: the one given, else the one ``rnnkit release`` recorded, else ``./exchange``."""
    return os.path.abspath(exchange or course.exchange() or "exchange")


def release(course, assignment, exchange=None, echo=print):
    """``nbgrader release_assignment`` to ``exchange``, recorded in the course's ``nbgrader_config.py`` (so that
    ``collect``, ``feedback --release``, formgrader and nbgrader's own commands in the course folder find it)."""
    built(course, [assignment])
    exchange = _exchange(course, exchange)
    if not os.path.isdir(exchange):
        os.makedirs(exchange)
        os.chmod(exchange, 0o1777)  # nbgrader's exchange: every student writes there (sticky, like /tmp)
    course.write_config(exchange=exchange)
    _private(course)
    if _inside(exchange, course.root):
        echo(f"note: the exchange {exchange} is inside the course folder, which only you can read: other Unix users "
             "cannot reach it (fine when one user plays every student, as the demo does)")
    log = course.nbgrader("release_assignment", assignment, "--force")
    for line in nbgrader_warnings(log):
        echo(line)
    student_config = write_student_config(course, exchange)
    echo(f"released {assignment} to {exchange} (recorded in {course.config_file}); students run: "
         f"nbgrader fetch_assignment {assignment} --course rnnkit")
    if exchange != DEFAULT_EXCHANGE:
        echo(f"students' nbgrader must know this exchange: copy {student_config} to /etc/jupyter/nbgrader_config.py "
             f"(every user of this machine) or to a student's ~/.jupyter/nbgrader_config.py")


DEFAULT_EXCHANGE = "/usr/local/share/nbgrader/exchange"   # nbgrader 0.9's default: students need no configuration


def write_student_config(course, exchange):
    """``course/student_nbgrader_config.py``: the two lines a student's nbgrader needs to find this course."""
    path = course.path("student_nbgrader_config.py")
    with open(path, "w") as f:
        f.write("# Written by `rnnkit release`: nbgrader's configuration for the students of this course.\n"
                "# Put it at /etc/jupyter/nbgrader_config.py (all users) or ~/.jupyter/nbgrader_config.py.\n"
                f"c = get_config()\nc.Exchange.root = {exchange!r}\n")
    return path


def nbgrader_warnings(log):
    """The lines of an nbgrader command's log the instructor must see (its warnings and errors)."""
    return [line for line in log.splitlines() if "| WARNING |" in line or "| ERROR |" in line]


def _inside(path, folder):
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)


def collect(course, assignment, exchange=None, echo=print, accept=()):
    """Collects every submission of ``assignment`` from the exchange's ``inbound/`` into ``submitted/`` with
    rnnkit's own copy (:mod:`autograder.collect`: regular files only, the exchange's time, the owner checked); one
    line per entry refused, per nbgrader file missing, per submission flagged. ``accept``: students whose flagged
    submission (owned by another user) the instructor accepts as theirs."""
    built(course, [assignment])
    _private(course)
    group = settings_module.load(course.root).ta_group
    for student in accept:
        collecting.accept(course, assignment, student, echo=echo, group=group)
    inbound = os.path.join(_exchange(course, exchange), "rnnkit", "inbound")
    fresh, _ = collecting.collect(course, assignment, inbound, echo=echo, group=group)
    students = course.students(assignment)
    for student in students:   # what came in now, and folders placed in submitted/ by other means (zip_collect)
        record = collecting.load_record(course, student, assignment).get("collected")
        if record and student not in fresh:
            continue
        problems = gradebook.submission_problems(course, student, assignment)
        if record:   # rnnkit wrote timestamp.txt: the note on the student's own says what there is to say
            problems = [p for p in problems if not p.startswith("timestamp.txt")] + [record["time_note"]] * bool(
                record.get("time_note"))
        for problem in problems:
            echo(f"{student}/{assignment}: {problem}")
    for line in collecting.flags(course, assignment):
        echo(line)
    for line in lateness.late_lines(course, assignment, students):
        echo(line)
    echo(f"collected {assignment}: {len(fresh)} new, {len(students)} submission(s) in {course.path('submitted')}")


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
              dask=None, settings=None, grader=None):
    """Grades every (or the given) submission; returns ``(graded, failures, level)``. ``settings``: the course's
    (:func:`autograder.settings.load`) by default; ``grader``: who grades (see :func:`batch.autograde`), passed
    down by whoever decides where grading runs (the command line, the grading service)."""
    assignments = built(course, assignments)
    level = launch.best_level(sandbox or settings_module.required_sandbox())
    warning = sandbox_warning(level)
    if warning:
        echo(warning)
    graded, failures = batch.autograde(course, assignments, students, level, force=force, jobs=jobs, echo=echo,
                                       items=items, dask=dask, settings=settings, grader=grader)
    total = len(graded) + failures
    echo(f"autograded {len(graded)} of {total} submission(s) at sandbox level '{level}'"
         + (f"; {failures} NOT GRADED by a fault of the grader, not of the students (see above and "
            f"{course.path('grader_logs')}): run the same command again to grade them" if failures else ""))
    _private(course)   # autograded/ and grader_logs/, if this run made them
    for line in (line for a in assignments for line in collecting.flags(course, a)):
        echo(line)   # submissions the instructor must look at (owned by another user, times that disagree)
    echo(next_steps(course, assignments))
    if warning:
        echo(warning)
    return graded, failures, level


FORMGRADER = "cd {root} && jupyter server --allow-root, then open http://localhost:8888/formgrader"


def _some(names, shown=8):
    """``a, b, c and 57 more``: names in a line that stays a line for a class of 200."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def next_steps(course, assignments):
    """The last line of ``autograde``: what awaits a person, and what to run next."""
    waiting = {a: [s for s, g in grades.of(course, a).items() if g.status == grades.AWAITING] for a in assignments}
    if any(waiting.values()):
        names = "; ".join(f"{a}: {_some(s)}" for a, s in waiting.items() if s)
        return (f"{grades.AWAITING} (written answers to grade in formgrader: {FORMGRADER.format(root=course.root)}) "
                f"- {names}; then: rnnkit feedback --release")
    return "next: rnnkit feedback --release (and rnnkit export, rnnkit report)"


def feedback(course, assignments=(), student=None, exchange=None, echo=print, release=False):
    """``nbgrader generate_feedback`` (sanitised pages, see :mod:`autograder.nbgrader_feedback`) and, with
    ``release``, ``nbgrader release_feedback`` to the exchange (the recorded one unless ``exchange`` is given).

    Late penalties are computed again first (a person may have changed a score). Before a release, a line names the
    submissions whose written answers still await a person (their page says so); a page that differs from the one
    released before says, at its top, that it replaces it. A submission without nbgrader's
    ``submission_secret.txt`` (not submitted through the exchange: its student has no way to fetch feedback) gets
    one line and is left out of the release; the others are released. Returns the number of such problems."""
    release = release or exchange is not None
    extra = [f"--student={student}"] if student else []
    problems, done = 0, []
    for assignment in built(course, assignments):
        graded = [s for s in ([student] if student else course.students(assignment))
                  if os.path.isdir(course.autograded_dir(s, assignment))]
        for name in graded:   # gradings from before rnnkit copied nbgrader's files: copy them now
            gradebook.copy_nbgrader_files(course, name, assignment)
        if not graded:
            echo(f"{assignment}: nothing autograded yet, no feedback")
            continue
        lateness.refresh(course, assignment)
        problems += _bounded_feedback(course, assignment, graded, echo)
        if release:
            problems += _release(course, assignment, graded, exchange, extra, echo)
            done.append(assignment)
    _private(course)
    if done:
        echo(f"feedback in {course.path('feedback')}, released to {_exchange(course, exchange)}; students run: "
             + " ; ".join(f"nbgrader fetch_feedback {a} --course rnnkit" for a in done))
    else:
        echo(f"feedback in {course.path('feedback')}; next: look at a page, then rnnkit feedback --release")
    return problems


def _release(course, assignment, graded, exchange, extra, echo):
    """Warns of answers awaiting a person, marks pages that replace earlier ones, runs ``release_feedback``;
    returns the number of submissions left out."""
    waiting = [s for s, g in grades.of(course, assignment, set(graded)).items() if g.status == grades.AWAITING]
    if waiting:
        echo(f"WARNING: {assignment}: written answers of {len(waiting)} submission(s) are still {grades.AWAITING} "
             f"({_some(waiting)}): their feedback says so; release it again once they are graded")
    missing = [s for s in graded
               if not os.path.isfile(os.path.join(course.autograded_dir(s, assignment), "submission_secret.txt"))]
    for name in missing:
        echo(f"{name}/{assignment}: no submission_secret.txt (not submitted through nbgrader's exchange): "
             f"feedback not released; it is in {course.path('feedback', name, assignment)}")
    released = [s for s in graded if s not in missing]
    if released:
        for name in released:
            if nbgrader_feedback.mark_replaced(course, name, assignment):
                echo(f"{name}/{assignment}: this feedback replaces the one released before (the page says so)")
        exclude = [f"--CourseDirectory.student_id_exclude={','.join(missing)}"] if missing else []
        course.nbgrader("release_feedback", assignment, f"--Exchange.root={_exchange(course, exchange)}",
                        *extra, *exclude)
    return len(missing)


# nbgrader's generate_feedback renders every notebook of a class in one process: bounded as a whole, and, when the
# whole fails, one submission at a time, so that one submission can cost only its own page.
FEEDBACK_MEMORY = 4 * 2**30          # address space of one generate_feedback (about 0.5 GB is usual)
FEEDBACK_SECONDS = (120, 30)         # seconds: a base, and per submission


def _bounded_feedback(course, assignment, students, echo):
    """``nbgrader generate_feedback`` for ``students`` of ``assignment`` within time and memory bounds; returns the
    number of submissions whose feedback could not be made (one line each). Anything in ``autograded/`` that is not
    a regular file or a folder is removed first: nbgrader would copy what a link points to into ``feedback/``."""
    for name in students:
        folder = course.autograded_dir(name, assignment)
        for relpath in intake.strange_entries(folder):
            os.unlink(os.path.join(folder, relpath))
            echo(f"{name}/{assignment}: {intake.shown(relpath)} in autograded/ is not a regular file: removed, not "
                 "copied into the feedback")
    base, each = FEEDBACK_SECONDS
    only = [f"--student={students[0]}"] if len(students) == 1 else []
    try:
        course.nbgrader("generate_feedback", assignment, "--force", *only, timeout=base + each * len(students),
                        memory_bytes=FEEDBACK_MEMORY)
        return 0
    except RnnkitError as err:
        if len(students) == 1:
            echo(f"{students[0]}/{assignment}: no feedback: {err}")
            return 1
    return sum(_bounded_feedback(course, assignment, [name], echo) for name in students)


def export(course, to=None, echo=print):
    """nbgrader's grade export, rewritten from :mod:`autograder.grades` (a status, lateness and flags; a student with
    no submission is ``missing``, with no score), one per-item CSV per assignment, and the LMS gradebook
    (:mod:`autograder.roster`); returns the files written."""
    out = os.path.abspath(to or course.path("exports"))
    os.makedirs(out, exist_ok=True)
    names = built(course)
    for assignment in names:
        lateness.refresh(course, assignment)
    grades_csv = os.path.join(out, "grades.csv")
    course.nbgrader("export", f"--to={grades_csv}")
    written = [reporting.rewrite_grades_csv(course, grades_csv)]
    for assignment in names:
        written.append(reporting.write_item_csv(course, assignment, os.path.join(out, f"items_{assignment}.csv")))
    written.append(roster.write_lms_csv(course, names, os.path.join(out, "lms_grades.csv")))
    echo("wrote " + ", ".join(written))
    echo("next: import lms_grades.csv into Canvas or Moodle (one row per student, one column per assignment)")
    return written


def report(course, assignments=(), echo=print, item=None):
    """Prints the students x items table of each assignment (or, with ``item``, every student's message for that
    item) and writes the score plot; returns its path."""
    assignments = built(course, assignments)
    for assignment in assignments:
        lateness.refresh(course, assignment)
    texts = [reporting.item_messages(course, a, item) if item else reporting.table(course, a) for a in assignments]
    if item and not any(texts):
        raise RnnkitError(f"no graded item is called '{item}' in {', '.join(assignments)} (items are named as in "
                          "the notebook's grade_id, e.g. rnn_backward)")
    for text in filter(None, texts):
        echo(text + "\n")
    for line in (line for a in assignments for line in collecting.flags(course, a)):
        echo(line)
    out = course.path("exports")
    os.makedirs(out, exist_ok=True)
    plot = reporting.plot_distribution(course, assignments, os.path.join(out, "score_distribution.png"))
    echo(f"plot: {plot}")
    echo(f"next: rnnkit report --item NAME for every student's message on one item; grades in formgrader: "
         f"{FORMGRADER.format(root=course.root)}")
    return plot
