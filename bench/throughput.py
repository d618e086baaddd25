"""rnnkit beside nbgrader, side by side in one run: every comparison is alternating pairs (rnnkit, nbgrader,
rnnkit, nbgrader, ...) on the same notebooks, reported as medians. Writes ``bench/results/throughput.md``.

    .venv/bin/python bench/throughput.py --quick            # <= 6 minutes on 2 idle cores
    .venv/bin/python bench/throughput.py                    # medians of 3 everywhere
    .venv/bin/python bench/throughput.py --large 60         # and a class of 60 (long: nbgrader takes ~8 s each;
                                                            # with --quick, once)

What is measured (Assignment 1 unless said):

1. One submission regraded, as a TA does: ``rnnkit autograde A --student S --force`` against ``nbgrader autograde
   A --student S --force``; first with the grading service cold (stopped before each rnnkit command, so the
   command starts it and its warm grader imports TensorFlow), then with the service warm (one regrade first).
2. A class (default 8 mixed submissions): ``rnnkit autograde A -j 2 --force`` with the service cold, then again
   with it warm, against ``nbgrader autograde A --force`` (sequential: nbgrader has no parallel autograde).
3. ``--large N``: the same for a class of N.
4. One reference submission per assignment with the service warm, rnnkit only (after one warm-up grading of that
   assignment: its zygote starts on the first one).

Fairness: nbgrader grades in a course folder of its own whose ``nbgrader_config.py`` is nbgrader's plain one (an
rnnkit course's config routes ``nbgrader autograde`` to rnnkit's grader), built by ``nbgrader generate_assignment``
from the same source notebook, with byte-identical submissions; each of its runs is checked to have executed every
code cell of every notebook in a kernel and to have logged no rnnkit line. HOME and Jupyter's folders are private
to the run, and the course secret is fixed.

Every figure is one whole command run as a child of this script: wall seconds from the clock; CPU seconds as the
machine's busy time over the command (``/proc/stat``: the grading service and the sandboxes are nobody's child, so
this is the only way to count them; it counts every other process too, so it means something only on an idle
machine). The 1-minute load average is recorded before and after every command; the grading service's process id
after every rnnkit command (a warm figure whose service changed was not warm); the grader's files (what the
service's key digests) before and after every command (an edit of autograder/, solutions/ or assignments/ during
the run replaces the service and makes the figures meaningless: the report says so).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from reports import write_report  # noqa: E402

BIN = os.path.dirname(sys.executable)
FIRST = "01_rnn_cell"
SECRET = "be4c" * 16
PLAIN_CONFIG = """\
# nbgrader's own configuration, nothing of rnnkit's: `nbgrader autograde` executes each notebook in a kernel.
c = get_config()
c.CourseDirectory.course_id = "rnnkit-bench-plain"
"""


def isolate(tmp):
    """The run's own HOME and Jupyter folders (no stray nbgrader_config.py), a fixed secret, the service on."""
    home = os.path.join(tmp, "home")
    for name, sub in (("HOME", ""), ("JUPYTER_CONFIG_DIR", ".jupyter"), ("JUPYTER_DATA_DIR", "jupyter-data")):
        os.environ[name] = os.path.join(home, sub)
    os.makedirs(os.environ["JUPYTER_CONFIG_DIR"], exist_ok=True)
    os.environ.update(RNNKIT_SECRET=SECRET, RNNKIT_SERVICE="1", RNNKIT_WARM="1", TF_CPP_MIN_LOG_LEVEL="3",
                      PATH=BIN + os.pathsep + os.environ["PATH"])
    os.environ.pop("JUPYTER_PATH", None)


# -- what the run measures and records ----------------------------------------------------------------------------
def machine_cpu_seconds():
    """CPU time the whole machine has spent busy (user, nice, system)."""
    with open("/proc/stat") as f:
        user, nice, system = (int(v) for v in f.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def grader_files():
    """{path: (mtime, size)} of what the grading service's key digests (autograder.grading.client.key)."""
    found = {}
    for top in ("autograder", "solutions", "assignments"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith((".py", ".json", ".tsv")):
                    path = os.path.join(folder, name)
                    try:
                        st = os.stat(path)
                    except FileNotFoundError:
                        continue
                    found[os.path.relpath(path, ROOT)] = (st.st_mtime_ns, st.st_size)
    return found


def changed(before, after):
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


class Run:
    """The record of every command of this benchmark, in order."""

    def __init__(self):
        self.runs = []
        self.service = None   # the grading service's pid after the last rnnkit command
        self.files = grader_files()
        self.edited = set()   # grader files edited while the benchmark ran

    def measure(self, what, command, cwd=None, course=None):
        """Runs ``command``; returns and records {wall, cpu, load, ...}."""
        load_before = os.getloadavg()[0]
        cpu_before = machine_cpu_seconds()
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        cpu = machine_cpu_seconds() - cpu_before
        load_after = os.getloadavg()[0]
        files = grader_files()
        edits = changed(self.files, files)
        self.files = files
        self.edited.update(edits)
        run = dict(what=what, wall=wall, cpu=cpu, load=(load_before, load_after), code=proc.returncode,
                   output=proc.stdout + proc.stderr, edits=edits, service=None, note="")
        if course is not None:
            run["service"] = service_pid()
        if edits:
            run["note"] = f"grader files edited during the command: {', '.join(edits[:3])}"
        self.runs.append(run)
        print(f"  {what}: {wall:.1f} s wall, {cpu:.1f} s CPU, load {load_before:.1f} -> {load_after:.1f}"
              + (f", service {run['service']}" if course is not None else "") + (f" ({run['note']})" if edits else ""),
              flush=True)
        return run


def fail(run, why):
    tail = "\n".join(run["output"].splitlines()[-30:])
    raise SystemExit(f"{run['what']}: {why} (exit {run['code']}):\n{tail}")


# -- the two graders ----------------------------------------------------------------------------------------------
def rnnkit(bench, course, assignment, what, student=None, jobs=1, expect=None, cold=False):
    """``rnnkit autograde``; checks that it graded through the service (the one of the previous rnnkit command
    unless ``cold``) and, for ``expect`` ({student: full marks?}), what it wrote."""
    command = [os.path.join(BIN, "rnnkit"), "autograde", assignment, "--course-dir", course.root, "--force",
               "-j", str(jobs)] + (["--student", student] if student else [])
    run = bench.measure(what, command, cwd=course.root, course=course)
    if run["code"] not in (0, 1):
        fail(run, "rnnkit autograde failed")
    notes = [run["note"]] if run["note"] else []
    if "grading in this process instead" in run["output"]:
        notes.append("no service: graded in the command's process")
    if not cold and run["service"] != bench.service:
        notes.append("the service was replaced (its key changed): not warm")
        run["replaced"] = True
    run["note"] = "; ".join(notes)
    bench.service = run["service"]
    for name, full in (expect or {}).items():
        try:
            with open(course.results_file(name, assignment)) as f:
                results = json.load(f)
        except OSError:
            fail(run, f"rnnkit wrote no results for {name}")
        if full and results["score"] != results["max_score"]:
            fail(run, f"the reference {name} got {results['score']} of {results['max_score']}")
    return run


def nbgrader(bench, plain, assignment, what, students, student=None):
    """nbgrader's own ``autograde`` in the plain course; checks that it executed every notebook in a kernel."""
    from autograder import notebooks
    command = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"] + (
        ["--student", student] if student else [])
    run = bench.measure(what, command, cwd=plain.root)
    if run["code"] != 0:
        fail(run, "nbgrader autograde failed")
    if any(mark in run["output"] for mark in ("rnnkit: ", "TrustedGrade", "nbgrader_autograde")):
        fail(run, "nbgrader's output names rnnkit's grader: it did not grade on its own")
    graded = [student] if student else students
    executed = total = 0
    for name in graded:
        nb = notebooks.read(plain.path("autograded", name, assignment, f"{assignment}.ipynb"))
        code = [c for c in nb.cells if c.cell_type == "code"]
        total += len(code)
        executed += sum(c.get("execution_count") is not None for c in code)
    if executed != total or run["output"].count("Autograding ") < len(graded):
        fail(run, f"nbgrader executed {executed} of {total} code cells")
    run["executed"] = (executed, total)
    if student:
        from nbgrader.api import Gradebook
        with Gradebook(plain.db_url) as gb:
            found = gb.find_submission(assignment, student)
            run["score"] = (found.score, found.max_score)
    return run


def service_pid():
    """The pid of this account's grading service, or None."""
    from autograder.grading import client
    report = client.status()
    return report.pid if report else None


def stop_service(course):
    """Ends this account's service and waits until its process is gone (a new one must not race its exit)."""
    from autograder.grading import client
    pid = service_pid()
    client.stop()
    deadline = time.monotonic() + 60
    while pid and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    break
        except OSError:
            break
        time.sleep(0.1)


# -- the courses --------------------------------------------------------------------------------------------------
def class_of(course, assignment, size):
    """A mixed class: references, untouched stubs and catalogued bugs, in a fixed rotation; s000 is a reference."""
    from autograder.simulation import catalogue, submissions
    reference = submissions.reference_answers(course, assignment)
    bugs = catalogue.catalogue(assignment)
    students = []
    for i in range(size):
        kind = i % 4
        answers = reference if kind in (0, 1) else None if kind == 2 else catalogue.apply(reference, bugs[i % len(bugs)])
        student = f"s{i:03d}"
        if not os.path.exists(course.submitted_notebook(student, assignment)):
            submissions.submit(course, student, assignment, answers)
        students.append(student)
    return students


def plain_course(course, root, assignment):
    """A course folder with nbgrader's plain config, the same source notebook and nbgrader's own release."""
    from autograder.course import Course
    plain = Course(root)
    os.makedirs(plain.root)
    with open(plain.config_file, "w") as f:
        f.write(PLAIN_CONFIG)
    shutil.copytree(course.source_dir(assignment), plain.source_dir(assignment))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
                          cwd=plain.root, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"nbgrader generate_assignment in the plain course failed: {proc.stderr[-2000:]}")
    return plain


def copy_submissions(course, plain, assignment, students):
    for student in students:
        target = plain.path("submitted", student, assignment)
        if not os.path.exists(target):
            shutil.copytree(course.path("submitted", student, assignment), target)


# -- the report ---------------------------------------------------------------------------------------------------
def med(runs, key="wall"):
    return statistics.median(r[key] for r in runs)


def loads(runs):
    return f"{runs[0]['load'][0]:.1f} → {runs[-1]['load'][1]:.1f}"


def walls(runs):
    return ", ".join(f"{r['wall']:.1f}" for r in runs)


def compare(rows, name, ours, theirs):
    """A row of the side-by-side table: medians, each run, the ratio, CPU, load from first to last command."""
    ratio = med(ours) / med(theirs)
    rows.append(f"| {name} | {med(ours):.1f} ({walls(ours)}) | {med(theirs):.1f} ({walls(theirs)}) | "
                f"{ratio:.2f} ({f'{1 / ratio:.1f}× faster' if ratio < 1 else f'{ratio:.1f}× slower'}) | {med(ours, 'cpu'):.1f} | {med(theirs, 'cpu'):.1f} | "
                f"{loads(ours + theirs)} |")


def warm_ok(runs, pid):
    """Whether every 'warm' run was graded by the same service process ``pid``."""
    return all(r["service"] == pid and not r["edits"] and not r.get("replaced") for r in runs)


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip()
    except OSError:
        return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one submission x3 pairs (cold and warm), the class x1, each assignment x1")
    parser.add_argument("--repeats", type=int, default=3, help="pairs per comparison (medians of these)")
    parser.add_argument("--class-size", type=int, default=8)
    parser.add_argument("--large", type=int, default=0, help="also a class of this size (0: none; the issue: 60)")
    parser.add_argument("--jobs", type=int, default=2, help="rnnkit's -j for the classes")
    parser.add_argument("--assignments", default=None,
                        help="comma-separated assignments for the per-assignment figures (default all; 'none')")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "throughput.md"))
    args = parser.parse_args()
    class_repeats = 1 if args.quick else args.repeats
    assign_repeats = 1 if args.quick else args.repeats

    tmp = tempfile.mkdtemp(prefix="throughput-")
    isolate(tmp)
    from autograder import build, project
    from autograder.course import Course
    from autograder.sandbox import launch
    from autograder.simulation import submissions
    per_assignment = project.assignments() if args.assignments is None else [
        a for a in args.assignments.split(",") if a and a != "none"]
    commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "autograder",
                                                              "solutions", "assignments")
    started, began = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    print(f"commit {commit}; load {os.getloadavg()[0]:.1f}; course under {tmp}", flush=True)
    bench = Run()
    course = Course(os.path.join(tmp, "course"))
    measured = {}
    try:
        build.build(course, sorted({FIRST, *per_assignment}), log=lambda *_: None)
        students = class_of(course, FIRST, args.class_size)
        single = students[0]
        plain = plain_course(course, os.path.join(tmp, "plain"), FIRST)
        copy_submissions(course, plain, FIRST, students)
        setup = time.perf_counter() - started
        print(f"built in {setup:.0f} s", flush=True)

        print("one submission, service cold", flush=True)
        ours, theirs = [], []
        for i in range(args.repeats):
            stop_service(course)
            ours.append(rnnkit(bench, course, FIRST, f"regrade {single}, service cold #{i + 1}", single,
                               expect={single: True}, cold=True))
            theirs.append(nbgrader(bench, plain, FIRST, f"nbgrader regrade {single} #{i + 1}", students, single))
        measured["single_cold"] = ours, theirs

        print("one submission, service warm", flush=True)
        warmup = rnnkit(bench, course, FIRST, f"regrade {single}, warm-up", single, expect={single: True},
                        cold=True)
        ours, theirs = [], []
        for i in range(args.repeats):
            ours.append(rnnkit(bench, course, FIRST, f"regrade {single}, service warm #{i + 1}", single,
                               expect={single: True}))
            theirs.append(nbgrader(bench, plain, FIRST, f"nbgrader regrade {single} #{i + 1}", students, single))
        measured["single_warm"] = ours, theirs, warmup["service"]

        classes = [(args.class_size, class_repeats)] + ([(args.large, class_repeats)] if args.large else [])
        for size, repeats in classes:
            print(f"a class of {size}", flush=True)
            group = class_of(course, FIRST, size)
            copy_submissions(course, plain, FIRST, group)
            expect = {s: True for i, s in enumerate(group) if i % 4 in (0, 1)}
            cold, warm, theirs = [], [], []
            for i in range(repeats):
                stop_service(course)
                cold.append(rnnkit(bench, course, FIRST, f"class of {size} -j {args.jobs}, service cold #{i + 1}",
                                   jobs=args.jobs, expect=expect, cold=True))
                warm.append(rnnkit(bench, course, FIRST, f"class of {size} -j {args.jobs}, service warm #{i + 1}",
                                   jobs=args.jobs, expect=expect))
                warm[-1]["warm_of"] = cold[-1]["service"]
                theirs.append(nbgrader(bench, plain, FIRST, f"nbgrader class of {size} #{i + 1}", group))
            measured[("class", size)] = cold, warm, theirs

        print("each assignment, one reference submission, service warm", flush=True)
        for assignment in per_assignment:
            name = "ref"
            submissions.submit(course, name, assignment, submissions.reference_answers(course, assignment))
            warmup = rnnkit(bench, course, assignment, f"{assignment} reference, warm-up", name,
                            expect={name: True}, cold=True)
            runs = [rnnkit(bench, course, assignment, f"{assignment} reference, service warm #{i + 1}", name,
                           expect={name: True}) for i in range(assign_repeats)]
            measured[("assignment", assignment)] = runs, warmup["service"]
    finally:
        stop_service(course)
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started

    # -- the report -----------------------------------------------------------------------------------------------
    command = " ".join([".venv/bin/python bench/throughput.py"] + sys.argv[1:])
    lines = [f"# rnnkit beside nbgrader, side by side in one run ({began:%Y-%m-%d %H:%M} UTC)", "",
             f"Command: `{command}`; commit `{commit}`"
             + (f" with uncommitted changes to the grader's files ({len(dirty.splitlines())}: "
                + ", ".join(l[3:] for l in dirty.splitlines()[:6]) + ")" if dirty else " (grader's files clean)")
             + f"; {os.cpu_count()} cores, sandbox {launch.best_level()}, Python {platform.python_version()}; "
             f"set-up (build, nbgrader's own release) {setup:.0f} s, the whole run {total:.0f} s.", ""]
    all_loads = [l for r in bench.runs for l in r["load"]]
    lines.append(f"1-minute load average over the run: {min(all_loads):.1f} to {max(all_loads):.1f} "
                 + ("(an idle machine: the figures stand)." if max(all_loads) < 3 else
                    "(**not an idle machine**: other work shared the cores, so every figure is pessimistic and the "
                    "CPU column counts other processes too)."))
    if bench.edited:
        lines += ["", f"**The grader's files changed while this ran** ({', '.join(sorted(bench.edited)[:8])}): the "
                  "grading service is replaced whenever they change, so the warm figures below are not warm and "
                  "the run must be repeated on a quiet checkout."]
    lines += ["", "Each cell: the median wall seconds (every run in brackets); pairs alternate rnnkit, nbgrader. "
              "CPU: the machine's busy seconds over the command (medians). Load: the 1-minute load average "
              "before the first command and after the last.", "",
              "| comparison | rnnkit wall (s) | nbgrader wall (s) | rnnkit / nbgrader | rnnkit CPU (s) | "
              "nbgrader CPU (s) | load |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows, notes = [], []
    ours, theirs = measured["single_cold"]
    compare(rows, "one submission regraded, service cold (the command starts it)", ours, theirs)
    ours, theirs, pid = measured["single_warm"]
    compare(rows, "one submission regraded, service warm (a TA's regrade)", ours, theirs)
    if not warm_ok(ours, pid):
        notes.append("- The service was replaced during the warm regrades (see the runs): they were not all warm.")
    for key, value in measured.items():
        if key[0] == "class":
            cold, warm, theirs = value
            compare(rows, f"a class of {key[1]} (rnnkit -j {args.jobs}), service cold", cold, theirs)
            compare(rows, f"a class of {key[1]} (rnnkit -j {args.jobs}), service warm", warm, theirs)
            if not all(r["service"] == r["warm_of"] and not r["edits"] and not r.get("replaced")
                       for r in warm):
                notes.append(f"- The service was replaced during a warm class of {key[1]}: not all warm.")
    lines += rows
    executed = [r["executed"] for r in bench.runs if "executed" in r]
    lines += ["", f"nbgrader executed every code cell of every notebook it graded in each of its "
              f"{len(executed)} runs (its autograded notebooks: {sum(e[0] for e in executed)} cells with an "
              "execution count), in a course folder with nbgrader's plain config; rnnkit's references got full "
              "marks in every run."
              + "".join(sorted({f" nbgrader's score of the reference {single}: {r['score'][0]:g} of "
                                f"{r['score'][1]:g}." for r in bench.runs if "score" in r}))]
    per = [(k[1], v) for k, v in measured.items() if k[0] == "assignment"]
    if per:
        lines += ["", "One reference submission per assignment, `rnnkit autograde A --student ref --force`, service "
                  "warm (after one warm-up grading of that assignment), rnnkit only:", "",
                  "| assignment | wall (s) | CPU (s) | warm-up (s) | load |", "| --- | --- | --- | --- | --- |"]
        for assignment, (runs, pid) in per:
            warmup = next(r for r in bench.runs if r["what"] == f"{assignment} reference, warm-up")
            lines.append(f"| {assignment} | {med(runs):.1f} ({walls(runs)}) | {med(runs, 'cpu'):.1f} | "
                         f"{warmup['wall']:.1f} | {loads(runs)} |")
            if not warm_ok(runs, pid):
                notes.append(f"- The service was replaced during the {assignment} runs: not all warm.")
    if notes:
        lines += [""] + notes
    lines += ["", "## Every command, in order", "",
              "| # | command | wall (s) | CPU (s) | load before | load after | service pid | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(bench.runs, 1):
        lines.append(f"| {i} | {r['what']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['load'][0]:.1f} | "
                     f"{r['load'][1]:.1f} | {r['service'] or ''} | {r['note']} |")
    write_report(args.out, lines)
    print("\n".join(lines[:lines.index("## Every command, in order")]))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
