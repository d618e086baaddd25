"""A class of N students through nbgrader's exchange, timed as a TA runs it: ``rnnkit collect``, ``rnnkit
autograde -j 2``, ``rnnkit feedback --release``, ``rnnkit export`` and ``rnnkit report``, each a whole command.

    .venv/bin/python bench/semester_scale.py --students 60 --markdown bench/results/semester_scale.md

Students hand in the reference of Assignment 1 with one catalogued bug each in turn (so the feedback pages differ)
and a written answer every third student; one OS user plays them all (nbgrader's ``--student``).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from autograder import cli  # noqa: E402
from autograder.course import Course  # noqa: E402
from autograder.nbgrader_students import Student  # noqa: E402
from autograder.simulation import catalogue, submissions  # noqa: E402

A1 = "01_rnn_cell"


def timed(*args):
    """Runs ``rnnkit ARGS`` as a TA would (a process of its own); returns (seconds, last line, exit status)."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", *args], env=env, capture_output=True, text=True)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return time.time() - started, (lines[-1] if lines else ""), proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="semester-scale-")
    course, exchange = Course(os.path.join(root, "course")), os.path.join(root, "exchange")
    common = ["--course-dir", course.root]
    assert cli.main(["build", A1, *common]) == 0
    assert cli.main(["release", A1, *common, "--exchange", exchange]) == 0
    reference = submissions.reference_answers(course, A1)
    bugs = catalogue.catalogue(A1)
    for n in range(args.students):
        student = Student(os.path.join(root, "homes"), f"s{n:03d}", exchange, in_process=True)
        answers = catalogue.apply(reference, bugs[n % len(bugs)]) if n % 4 else reference
        student.work(A1, answers, {"written_vanishing_gradients": f"Answer {n}: it shrinks."} if n % 3 == 0 else None)
        student.submit(A1)
    load = os.getloadavg()[0]
    rows = []
    for step in (["collect", A1], ["autograde", A1, "-j", "2"], ["feedback", A1, "--release"], ["export"],
                 ["report", A1]):
        seconds, last, status = timed(*step, *common)
        rows.append((" ".join(step), seconds, status, last))
        print(f"{' '.join(step):28s} {seconds:7.1f} s  {seconds / args.students:5.2f} s/student  exit {status}  {last}",
              flush=True)
    text = [f"# A class of {args.students} through rnnkit's commands", "",
            f"`bench/semester_scale.py --students {args.students}`, Assignment 1, load average {load:.1f} at the "
            f"start and {os.getloadavg()[0]:.1f} at the end (2 cores).", "",
            "| command | seconds | per student | exit |", "| --- | --- | --- | --- |"]
    text += [f"| `rnnkit {step}` | {seconds:.1f} | {seconds / args.students:.2f} | {status} |"
             for step, seconds, status, _ in rows]
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
