"""How long `rnnkit autograde` takes for one submission, per assignment (the reference solution, whole command:
trusted pytest process, sandbox start, TensorFlow imports on both sides, every hidden test).

    .venv/bin/python bench/grading_time.py [ASSIGNMENT ...] [--repeat 3]

Prints a Markdown table to paste into bench/README.md.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from autograder import build, project
from autograder.sandbox import launch  # noqa: E402
from autograder.simulation import submissions  # noqa: E402
from autograder.course import Course  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assignments = args.assignment or project.assignments()
    level = launch.best_level()
    rnnkit = os.path.join(os.path.dirname(sys.executable), "rnnkit")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Course(os.path.join(tmp, "course"))
        started = time.perf_counter()
        build.build(course, assignments, log=lambda *_: None)
        build_seconds = time.perf_counter() - started
        for assignment in assignments:
            submissions.submit(course, "reference", assignment, submissions.reference_answers(course, assignment))
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                subprocess.run([rnnkit, "autograde", assignment, "--course-dir", course.root, "--force"],
                               check=True, capture_output=True)
                times.append(time.perf_counter() - started)
            rows.append((assignment, statistics.median(times), min(times), max(times)))
    print(f"sandbox: {level}; {os.cpu_count()} cores; build of {len(assignments)} assignment(s): {build_seconds:.0f} s\n")
    print("| assignment | median (s) | min (s) | max (s) |\n| --- | --- | --- | --- |")
    for assignment, median, low, high in rows:
        print(f"| {assignment} | {median:.1f} | {low:.1f} | {high:.1f} |")


if __name__ == "__main__":
    main()
