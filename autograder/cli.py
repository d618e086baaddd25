"""``rnnkit``: the instructor's command line. Subcommands follow nbgrader's workflow and wrap its own commands where
they exist; every one takes ``--course-dir`` (default ``./course``) and fails with one line on bad input."""
import argparse
import os
import sys


EXIT_USAGE = 2


class UsageError(Exception):
    pass


def _assignments(course, names):
    built = course.built_assignments()
    if not built:
        raise UsageError(f"nothing is built in {course.root}: run `rnnkit build --course-dir {course.root}` first")
    for name in names:
        if name not in built:
            raise UsageError(f"assignment '{name}' is not built in {course.root} (built: {', '.join(built)})")
    return names or built


def cmd_build(args, course):
    from autograder import build
    build.build(course, args.assignment or None)


def cmd_release(args, course):
    from autograder.build import nbgrader
    _assignments(course, [args.assignment])
    nbgrader(course, "release_assignment", args.assignment, f"--Exchange.root={_exchange(args)}", "--force")
    print(f"released {args.assignment} to {_exchange(args)}; students run: nbgrader fetch_assignment "
          f"{args.assignment} --course rnnkit --Exchange.root={_exchange(args)}")


def cmd_collect(args, course):
    from autograder.build import nbgrader
    _assignments(course, [args.assignment])
    nbgrader(course, "collect", args.assignment, f"--Exchange.root={_exchange(args)}", "--update")
    print(f"collected {args.assignment}: {len(course.students(args.assignment))} submission(s) in "
          f"{course.path('submitted')}")


def cmd_autograde(args, course):
    from autograder import autograde, isolation
    assignments = _assignments(course, [args.assignment] if args.assignment else [])
    level = isolation.best_level(args.sandbox)
    if level != "bubblewrap":
        print(f"warning: sandbox level '{level}': "
              + ("no network, but student code can read the file system (install bubblewrap for full isolation)"
                 if level == "unshare" else "student code runs as a plain subprocess with resource limits only; "
                 "install bubblewrap (sudo apt-get install bubblewrap) for file-system and network isolation"),
              file=sys.stderr)
    _, failures = autograde.autograde(course, assignments, [args.student] if args.student else None, level,
                                      force=args.force, jobs=args.jobs)
    return 1 if failures else 0


def cmd_feedback(args, course):
    from autograder.build import nbgrader
    for assignment in _assignments(course, [args.assignment] if args.assignment else []):
        extra = [f"--student={args.student}"] if args.student else []
        nbgrader(course, "generate_feedback", assignment, "--force", *extra)
        if args.release:
            nbgrader(course, "release_feedback", assignment, f"--Exchange.root={_exchange(args)}", *extra)
    print(f"feedback in {course.path('feedback')}")


def cmd_export(args, course):
    from autograder import report
    from autograder.build import nbgrader
    out = os.path.abspath(args.to or course.path("exports"))
    os.makedirs(out, exist_ok=True)
    nbgrader(course, "export", f"--to={os.path.join(out, 'grades.csv')}")
    written = [os.path.join(out, "grades.csv")]
    for assignment in _assignments(course, []):
        written.append(report.write_item_csv(course, assignment, os.path.join(out, f"items_{assignment}.csv")))
    print("wrote " + ", ".join(written))


def cmd_report(args, course):
    from autograder import report
    assignments = _assignments(course, [args.assignment] if args.assignment else [])
    for assignment in assignments:
        print(report.table(course, assignment) + "\n")
    out = course.path("exports")
    os.makedirs(out, exist_ok=True)
    print("plot: " + report.plot_distribution(course, assignments, os.path.join(out, "score_distribution.png")))


def cmd_demo(args, course):
    from autograder import demo
    return demo.run(course, jobs=args.jobs)


def _exchange(args):
    return os.path.abspath(args.exchange)


def parser():
    top = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--course-dir", default="course", help="the nbgrader course directory (default: ./course)")
        p.set_defaults(func=func)
        return p

    p = command("build", cmd_build, "inline the reference solutions, then run nbgrader generate_assignment")
    p.add_argument("assignment", nargs="*", help="assignments to build (default: all)")
    for name, func, text in [("release", cmd_release, "copy the release to the exchange (nbgrader release_assignment)"),
                             ("collect", cmd_collect, "collect submissions from the exchange (nbgrader collect)")]:
        p = command(name, func, text)
        p.add_argument("assignment")
        p.add_argument("--exchange", default="exchange", help="nbgrader exchange root (default: ./exchange)")
    p = command("autograde", cmd_autograde, "grade submissions with the hidden suites, in the sandbox")
    p.add_argument("assignment", nargs="?", help="the assignment (default: every built one)")
    p.add_argument("--student", help="grade only this student")
    p.add_argument("--force", action="store_true", help="regrade submissions that are graded and unchanged")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded in parallel (default: 1)")
    p.add_argument("--sandbox", choices=["bubblewrap", "unshare", "none"],
                   help="require this isolation level (default: the strongest available)")
    p = command("feedback", cmd_feedback, "render feedback HTML (nbgrader generate_feedback), optionally release it")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--student")
    p.add_argument("--release", action="store_true", help="also run nbgrader release_feedback")
    p.add_argument("--exchange", default="exchange")
    p = command("export", cmd_export, "grades CSV (nbgrader export) and per-item CSVs")
    p.add_argument("--to", help="output folder (default: <course-dir>/exports)")
    p = command("report", cmd_report, "print students x items and plot the score distribution")
    p.add_argument("assignment", nargs="?")
    p = command("demo", cmd_demo, "build, simulate a small class, grade it, export and report")
    p.add_argument("--jobs", "-j", type=int, default=2)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    from autograder.build import BuildError
    from autograder.paths import Course
    try:
        return args.func(args, Course(args.course_dir)) or 0
    except (UsageError, BuildError, ValueError, RuntimeError, OSError) as err:
        print(f"rnnkit {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted; everything graded so far is saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
