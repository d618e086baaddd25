"""``rnnkit``: the instructor's command line. Subcommands follow nbgrader's workflow and wrap its own commands where
they exist; every one takes ``--course-dir`` (default ``./course``). A problem you can fix is one line on stderr
(exit 2); anything else is a bug and shows its traceback (``--debug`` shows it always)."""
import argparse
import os
import sys

EXIT_USAGE = 2


def cmd_build(args, course):
    from autograder import workflow
    workflow.build(course, args.assignment)


def cmd_release(args, course):
    from autograder import workflow
    workflow.release(course, args.assignment, args.exchange)


def cmd_collect(args, course):
    from autograder import workflow
    workflow.collect(course, args.assignment, args.exchange, accept=args.accept)


def cmd_autograde(args, course):
    from autograder import settings as settings_module
    settings = settings_module.load(course.root)
    found = course.built_assignments()
    if not found or any(name not in found for name in _names(args)):   # refused here: nothing starts
        from autograder import workflow
        workflow.built(course, _names(args))
    students = [args.student] if args.student else None
    sandbox = args.sandbox or settings_module.required_sandbox()
    if not args.dask and settings.service and settings.warm:
        # this account's warm grading service runs the whole command (it records as we would)
        from autograder.grading import client
        try:
            failures = client.Client(settings, args.jobs).autograde(course.root, _names(args), students, sandbox,
                                                                    args.force, settings)
            return 1 if failures else 0
        except client.ServiceUnavailable as err:
            print(f"{err}; grading in this process instead", flush=True)
    from autograder import workflow
    _, failures, _ = workflow.autograde(course, _names(args), students, sandbox=sandbox, force=args.force,
                                        jobs=args.jobs, dask=args.dask, settings=settings)
    return 1 if failures else 0


def cmd_service(args, course):
    """What this account's grading service runs (courses, memory, idle time), or ``--stop`` it."""
    from autograder.grading import client
    report = client.status()
    if report is None:
        print("no grading service runs for this account")
        return 0
    if args.stop:
        client.stop()
        print(f"stopped the grading service (pid {report.pid})")
        return 0
    print(f"grading service pid {report.pid}: {report.memory_mb:.0f} MB resident (with its warm grader and "
          f"zygotes), " + (f"{report.busy} command(s) under way" if report.busy else f"idle for {report.idle:.0f} s"))
    for root, idle in sorted(report.courses.items(), key=lambda pair: pair[1]):
        gone = "" if os.path.isdir(root) else " (gone)"
        print(f"  {root}{gone}: last graded {idle:.0f} s ago")
    return 0


def cmd_feedback(args, course):
    from autograder import workflow
    problems = workflow.feedback(course, _names(args), args.student, args.exchange if args.release else None,
                                 release=args.release)
    return 1 if problems else 0


def cmd_export(args, course):
    from autograder import workflow
    workflow.export(course, args.to)


def cmd_report(args, course):
    from autograder import workflow
    workflow.report(course, _names(args), item=args.item)


def cmd_validate(args, course):
    from autograder.simulation import validate
    return validate.run(course, _names(args), seeds=args.seeds, bug_seeds=args.bug_seeds, jobs=args.jobs,
                        full=args.full, markdown=args.markdown)


def cmd_demo(args, course):
    from autograder.simulation import demo
    return demo.run(course, jobs=args.jobs)


# -- a semester's commands (deadlines, roster): autograder/lateness.py, autograder/roster.py ----------------------
def cmd_extension(args, course):
    from autograder import lateness, timetext
    until = lateness.parse_time(args.until) if args.until else None
    duedate = lateness.grant(course, args.student, args.assignment, until)
    if until is None:
        print(f"{args.student}/{args.assignment}: extension removed; due {timetext.when(duedate) or 'with no date'}")
    elif duedate is None:
        print(f"{args.student}/{args.assignment}: until {timetext.when(until)} recorded, but {args.assignment} has no "
              f"due date yet: set one in formgrader or with nbgrader db assignment add {args.assignment} "
              "--duedate=...")
    else:
        print(f"{args.student}/{args.assignment}: due {timetext.when(until)} instead of {timetext.when(duedate)} "
              f"(kept in {lateness.extensions_file(course)}); next: rnnkit export")


def cmd_roster(args, course):
    from autograder import roster
    count = roster.import_roster(course, args.file)
    print(f"imported {count} student(s) from {args.file} into {course.path('gradebook.db')}; formgrader shows their "
          "names; next: rnnkit release ASSIGNMENT")


def semester_commands(command):
    p = command("extension", cmd_extension, "give a student until a later time for one assignment (nbgrader's "
                "extension, kept in the course's extensions.json)")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("--until", help="the student's own due date, e.g. '2027-03-03 17:00' (UTC) or with a zone; "
                   "omit it to remove the extension")
    p = command("roster", cmd_roster, "import students' names and emails from a CSV (nbgrader db student import)")
    p.add_argument("file", help="a CSV with a header: id (or login, username), first_name, last_name, email")
# -- end of a semester's commands -------------------------------------------------------------------------------


def _names(args):
    return [args.assignment] if args.assignment else []


def parser():
    top = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--course-dir", default="course", help="the nbgrader course directory (default: ./course)")
        p.add_argument("--debug", action="store_true", help="show the full traceback of any error")
        p.set_defaults(func=func)
        return p

    p = command("build", cmd_build, "inline the reference solutions, then run nbgrader generate_assignment")
    p.add_argument("assignment", nargs="*", help="assignments to build (default: all)")
    for name, func, text in [("release", cmd_release, "copy the release to the exchange (nbgrader release_assignment)"),
                             ("collect", cmd_collect,
                                                                       "collect submissions from the exchange")]:
        p = command(name, func, text)
        p.add_argument("assignment")
        p.add_argument("--exchange", help="nbgrader exchange root (default: the one `rnnkit release` recorded in "
                       "the course's nbgrader_config.py, else ./exchange)")
    p.add_argument("--accept", metavar="STUDENT", action="append", default=[],
                   help="grade the flagged submission of STUDENT (owned by another user) as theirs")
    p = command("autograde", cmd_autograde, "grade submissions with the hidden suites, in the sandbox")
    p.add_argument("assignment", nargs="?", help="the assignment (default: every built one)")
    p.add_argument("--student", help="grade only this student")
    p.add_argument("--force", action="store_true", help="regrade submissions that are graded and unchanged")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded in parallel (default: 1)")
    p.add_argument("--dask", metavar="ADDRESS", help="grade on a Dask cluster (a scheduler address, or 'local' "
                   "for a LocalCluster of --jobs workers on this machine)")
    p.add_argument("--sandbox", choices=["bubblewrap", "unshare", "none"],
                   help="require this isolation level (default: the strongest available, or RNNKIT_REQUIRE_SANDBOX)")
    p = command("service", cmd_service, "show this account's grading service (courses, memory, idle time), or stop "
                "it (it also ends by itself when idle)")
    p.add_argument("--stop", action="store_true", help="stop it")
    p = command("feedback", cmd_feedback, "render feedback HTML (nbgrader generate_feedback), optionally release it")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--student")
    p.add_argument("--release", action="store_true", help="also run nbgrader release_feedback")
    p.add_argument("--exchange", help="nbgrader exchange root (default: the recorded one, else ./exchange)")
    p = command("export", cmd_export, "grades CSV (nbgrader export) and per-item CSVs")
    p.add_argument("--to", help="output folder (default: <course-dir>/exports)")
    p = command("report", cmd_report, "print students x items and plot the score distribution")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--item", help="every student's points and messages for this one item")
    semester_commands(command)
    p = command("validate", cmd_validate, "prove the hidden suites: reference, variants and bug catalogue through the "
                "real grader over several grader seeds (in a course folder of its own)")
    p.set_defaults(course_dir="validation")
    p.add_argument("assignment", nargs="?", help="the assignment (default: all)")
    p.add_argument("--seeds", type=int, default=20, help="grader seeds for the reference and variants (default: 20)")
    p.add_argument("--bug-seeds", type=int, help="grader seeds for the bugs (default: --seeds)")
    p.add_argument("--full", action="store_true", help="run the training items for every bug too")
    p.add_argument("--jobs", "-j", type=int, default=2)
    p.add_argument("--markdown", help="also write the report as markdown to this file")
    p = command("demo", cmd_demo, "build, simulate a small class, grade it, export and report")
    p.add_argument("--jobs", "-j", type=int, default=2)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    from autograder.course import Course
    from autograder.errors import RnnkitError
    try:
        return args.func(args, Course(args.course_dir)) or 0
    except RnnkitError as err:
        if args.debug:
            raise
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted; everything graded so far is saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
