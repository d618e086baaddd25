"""Throughput of the grader: cold vs warm per submission, a class side by side with ``nbgrader autograde``, and
1 vs 2 workers. Writes a markdown report (``--out``, default ``bench/results/throughput.md``).

    .venv/bin/python bench/throughput.py --class-size 60

Every figure is a whole ``rnnkit autograde`` (or ``nbgrader autograde``) command run as a child of this script:
wall time from the clock, CPU time as the machine's busy time over the run (``/proc/stat``: run it on an otherwise
idle machine), peak memory as the largest resident set of any one waited-for process. "Cold" is the
previous architecture (a pytest process and a sandbox worker per submission, TensorFlow imported by both), run by
this code with ``RNNKIT_WARM=0``; "warm" is the default.
"""
import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from autograder import build, project  # noqa: E402
from autograder.course import Course  # noqa: E402
from autograder.sandbox import launch  # noqa: E402
from autograder.simulation import catalogue, submissions  # noqa: E402

BIN = os.path.dirname(sys.executable)


def machine_cpu_seconds():
    """CPU time the whole machine has spent busy (user, nice, system): a sandbox killed with its process tree is
    never waited for, so getrusage misses it; on an otherwise idle machine this counts every process of a run."""
    with open("/proc/stat") as f:
        user, nice, system = (int(v) for v in f.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def measure(command, env=None, cwd=None):
    """(wall seconds, CPU seconds, peak RSS in MB of the largest waited-for process) of one command."""
    before, cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu_seconds()
    started = time.perf_counter()
    proc = subprocess.run(command, env={**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], **(env or {})},
                          cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = machine_cpu_seconds() - cpu_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, cpu, max(after.ru_maxrss, before.ru_maxrss) / 1024


def class_of(course, assignment, size):
    """A mixed class: references, untouched stubs and catalogued bugs, in a fixed rotation."""
    reference = submissions.reference_answers(course, assignment)
    bugs = catalogue.catalogue(assignment)
    students = []
    for i in range(size):
        kind = i % 4
        answers = reference if kind in (0, 1) else None if kind == 2 else catalogue.apply(reference, bugs[i % len(bugs)])
        student = f"s{i:03d}"
        submissions.submit(course, student, assignment, answers)
        students.append(student)
    return students


def autograde(course, assignment, jobs, warm, student=None):
    command = [os.path.join(BIN, "rnnkit"), "autograde", assignment, "--course-dir", course.root, "--force",
               "-j", str(jobs)] + (["--student", student] if student else [])
    return measure(command, env={"RNNKIT_WARM": "1" if warm else "0"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--class-size", type=int, default=60)
    parser.add_argument("--single", type=int, default=8, help="submissions for the per-submission figures (0: skip)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "throughput.md"))
    parser.add_argument("--skip-nbgrader", action="store_true")
    args = parser.parse_args()
    level = launch.best_level()
    lines = [f"# Grading throughput ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, sandbox {level}, "
             f"Python {platform.python_version()})", "",
             "Command: `.venv/bin/python bench/throughput.py " + " ".join(sys.argv[1:]) + "`", ""]
    with tempfile.TemporaryDirectory() as tmp:
        course = Course(os.path.join(tmp, "course"))
        build.build(course, log=lambda *_: None)
        # per submission: a class of references (and one of stubs) graded one at a time, cold and warm
        lines += ["## Per submission (graded one at a time, -j 1)", "",
                  "| assignment | kind | cold wall (s) | cold CPU (s) | warm wall (s) | warm CPU (s) | warm peak RSS (MB) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for assignment in project.assignments() if args.single else []:
            reference = submissions.reference_answers(course, assignment)
            for kind, answers in (("reference", reference), ("stubs", None)):
                for i in range(args.single):
                    submissions.submit(course, f"{kind}{i}", assignment, answers)
                row = [assignment, kind]
                for warm in (False, True):
                    wall, cpu, rss = autograde(course, assignment, 1, warm)
                    row += [f"{wall / args.single:.1f}", f"{cpu / args.single:.1f}"]
                row.append(f"{rss:.0f}")
                for i in range(args.single):
                    shutil.rmtree(os.path.dirname(course.submitted_notebook(f"{kind}{i}", assignment)))
                lines.append("| " + " | ".join(row) + " |")
                print(lines[-1], flush=True)
        lines += ["", "Warm figures include the warm grader's and the zygote's start (TensorFlow imported once "
                  f"per run), spread over the {args.single} submissions.", ""]
        # a class of the first assignment, side by side
        assignment = project.assignments()[0]
        course2 = Course(os.path.join(tmp, "class"))
        build.build(course2, [assignment], log=lambda *_: None)
        class_of(course2, assignment, args.class_size)
        lines += [f"## A class of {args.class_size} mixed submissions of {assignment}", "",
                  "| grader | jobs | wall (s) | CPU (s) | per submission wall (s) |", "| --- | --- | --- | --- | --- |"]
        runs = [("rnnkit, cold (previous architecture)", 2, False), ("rnnkit, warm", 1, True), ("rnnkit, warm", 2, True)]
        figures = {}
        for name, jobs, warm in runs:
            wall, cpu, _ = autograde(course2, assignment, jobs, warm)
            figures[(name, jobs)] = wall
            lines.append(f"| {name} | {jobs} | {wall:.0f} | {cpu:.0f} | {wall / args.class_size:.2f} |")
            print(lines[-1], flush=True)
        if not args.skip_nbgrader:
            wall, cpu, _ = measure([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                                    f"--CourseDirectory.root={course2.root}"], cwd=course2.root)
            figures[("nbgrader", 1)] = wall
            lines.append(f"| nbgrader autograde (executes each notebook) | 1 | {wall:.0f} | {cpu:.0f} | "
                         f"{wall / args.class_size:.2f} |")
            print(lines[-1], flush=True)
        warm2 = figures[("rnnkit, warm", 2)]
        lines += ["", f"- warm (-j 2) vs cold (-j 2): {figures[('rnnkit, cold (previous architecture)', 2)] / warm2:.1f}x",
                  f"- 2 workers vs 1: {figures[('rnnkit, warm', 1)] / warm2:.2f}x"]
        if ("nbgrader", 1) in figures:
            lines.append(f"- warm (-j 2) vs nbgrader autograde: {figures[('nbgrader', 1)] / warm2:.1f}x")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
