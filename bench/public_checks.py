"""Whether the public check of its own item flags each catalogued bug, and with which message (issue 21, item 5).

    nice -n 10 .venv/bin/python bench/public_checks.py [--assignments 01_rnn_cell,02_sentiment,03_char_lm]
                                                       [--bugs NAME,...] [--markdown bench/results/public_checks.md]

A student sees only the public checks before submitting. For every catalogued bug (``autograder/hidden/<a>/bugs.py``)
this runs, in process, what the notebook's check cells would run in a kernel: the set-up cells of the source
notebook, every answer as the reference defines it with the bug's substitution made in its own cell, then the
check cells in notebook order up to the bug's item, each printing one verdict line (the check cells are the
authored ones, so what is measured is what a student runs; only demonstrations and plots are left out, as
``tests/test_notebooks.py`` does). The bug is *flagged* when the check of its own item prints ✗; the message is
that line. Each bug is also classed by whether a public check can see its property at all (a bug that only shows on
hidden data, such as a model too weak to reach the hidden accuracy, cannot be seen without it): see ``UNSEEABLE``.

Run in one process per assignment, one core. ``run_checks`` is what the tests reuse (``tests/test_a23_*.py``).
"""
import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from autograder import build, notebooks, project  # noqa: E402
from autograder.simulation import catalogue  # noqa: E402

COMMON = os.path.join(project.ASSIGNMENTS, "common")
ASSIGNMENTS = ("01_rnn_cell", "02_sentiment", "03_char_lm")

# Bugs whose property no public check can see without the hidden data or the hidden budget: (assignment, bug) ->
# why. Everything else counts in the goal (at least 90 % flagged by the check of its own item).
UNSEEABLE = {}


def notebook_cells(assignment):
    """(set-up sources, answer grade_ids in order, [(item, check source)] in order) of the source notebook."""
    notebook = build.source_notebook(assignment)
    setup, answers, checks = [], [], []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kind = notebooks.cell_kind(cell)
        if kind == notebooks.SETUP:
            setup.append(cell.source)
        elif kind == notebooks.ANSWER:
            answers.append(notebooks.nbgrader_meta(cell)["grade_id"])
        elif kind == notebooks.CHECK:
            checks.append((notebooks.checked_item(cell), cell.source))
    return setup, answers, checks


@contextlib.contextmanager
def in_folder(assignment):
    """The assignment's folder as the working directory and its helpers importable by their bare names, as in a
    released folder."""
    folder = os.path.join(project.ASSIGNMENTS, assignment)
    previous, path = os.getcwd(), list(sys.path)
    with tempfile.TemporaryDirectory(prefix="rnnkit-public-") as released:
        data = os.path.join(project.DATA, assignment)
        if os.path.isdir(data):   # released as data/ beside the notebook
            os.symlink(data, os.path.join(released, "data"))
        sys.path[:0] = [folder, COMMON]
        os.chdir(released)
        try:
            yield
        finally:
            os.chdir(previous)
            sys.path[:] = path


def verdict(printed):
    """The check's verdict (✓ or ✗, with the lines a long message goes on over), or what it printed instead."""
    lines = printed.splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith(("✓", "✗"))]
    if not starts:
        return (printed.strip().splitlines() or ["(printed nothing)"])[-1]
    return " ".join(line.strip() for line in lines[starts[-1]:] if line.strip())


def answer_text(assignment, name, change=None):
    """The reference answer ``name`` with ``change`` made: on its source, or on the answer cell as built (markers in
    place) for a change written against that form."""
    text = project.reference_source(assignment, name)
    if change is None:
        return text
    try:
        return catalogue.substitute(text, change)
    except ValueError:
        with open(project.solution_file(assignment), encoding="utf-8") as f:
            return catalogue.substitute(build.solution_cell([name], f.read(), assignment), change)


def run_checks(assignment, change=None, until=None, answers=None):
    """Runs the set-up, the answers (the reference's; ``change`` substituted in its cell; ``answers`` maps an item
    to source that replaces its answer whole) and the check cells up to ``until`` (an item; all if None).
    Returns {item: verdict line}."""
    setup, items, checks = notebook_cells(assignment)
    answers = dict(answers or {})
    results = {}
    with in_folder(assignment):
        import publiccheck
        publiccheck._passed.clear()
        publiccheck._failures.clear()
        namespace = {"__name__": "__main__"}
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            for k, source in enumerate(setup):
                exec(compile(source, f"<setup {k}>", "exec"), namespace)
            for name in items:
                if name in answers:
                    text = answers[name]
                else:
                    text = answer_text(assignment, name, change if change is not None and change.cell == name
                                       else None)
                try:
                    exec(compile(text, f"<answer {name}>", "exec"), namespace)
                except Exception as err:   # an answer cell that raises: its check says the name is not defined
                    print(f"answer cell {name} raised {type(err).__name__}: {err}")
        needed = None
        target = dict(checks).get(until, "")
        if until is not None and "require(" in target:
            # a check that names what it builds on: only those checks and its own (the others cannot change it; a
            # check without require() may use what earlier check cells define, so all of those run)
            needed = {until} | set(re.findall(r'"(\w+)"', "".join(re.findall(r"require\(([^)]*)\)", target))))
        for item, source in checks:
            if needed is not None and item not in needed:
                continue
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                try:
                    exec(compile(source, f"<check {item}>", "exec"), namespace)
                except Exception as err:   # a check cell must never raise: record it as such
                    print(f"CHECK CELL RAISED {type(err).__name__}: {err}")
            results[item] = verdict(printed.getvalue())
            if item == until:
                break
    return results


# What a message says when it only locates a mistake: the values or shapes that differ, the gradients that are wrong,
# an error raised, with no sentence on why. Everything else names a cause (checked by reading the messages of the
# mistakes written outside the catalogue, bench/results/public_checks.md).
LOCATES_ONLY = [re.compile(p) for p in (
    r"^✗ \w+: [^:?]{0,160}: \d+ of \d+ values differ; first at index .*\(norm-wise relative error [^)]*\)$",
    r"the check stopped with",
    r"^(?!.*What it raised:).*raised \w+(Error|Exception)[^.]*$",
    r"^✗ \w+: [^:?]{0,160}: expected shape \([\d, ]*\), got \([\d, ]*\)$",
    r"^✗ \w+: [^:?]{0,160}: expected \[.*\] got \[.*\]$",
)]
GRADIENT_LIST = re.compile(r"gradients of \w+ are wrong \(.*?\): (.*)$")


def names_cause(message):
    """Whether a ✗ message names a likely cause: a sentence beyond where the values differ (after a list of wrong
    gradients too), a question in the label of what differs ("(is the padding masked? ...)"), or the cause before
    an error raised ("What it raised: ...")."""
    text = " ".join(message.split())
    if not text.startswith("✗") or any(p.search(text) for p in LOCATES_ONLY):
        return False
    listed = GRADIENT_LIST.search(text)
    return not listed or bool(re.search(r"\. [A-Z]", listed.group(1)))


def agreement(assignment, change, seed=0):
    """Where the public check and the hidden suite disagree on ``change`` (a catalogued Bug or Variant): [] when
    they agree. A bug must make the public check of its own item print ✗ and fail hidden tests of its own item
    and of no other; a variant must pass both. The hidden suite runs in process (``miss_rates.hidden_failures``:
    every test but those of the full training runs) under grader seed ``seed``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import keras
    import miss_rates
    keras.backend.clear_session()
    public = run_checks(assignment, change, until=change.cell).get(change.cell, "(its check did not run)")
    hidden = miss_rates.hidden_failures(assignment, change, seed)
    is_bug = isinstance(change, catalogue.Bug)
    problems = []
    if public.startswith("✗") != is_bug:
        problems.append(f"public check: {public}")
    if is_bug and change.cell not in hidden:
        problems.append(f"the hidden tests of {change.cell} pass")
    problems += [f"hidden {item}: {messages[0][:300]}" for item, messages in hidden.items()
                 if not is_bug or item != change.cell]
    return problems


def measure(assignment, only=None, log=print, bugs=None):
    """[(bug, flagged?, message, seconds)] for every catalogued bug of ``assignment`` (or every one of ``bugs``)."""
    rows = []
    for bug in catalogue.catalogue(assignment) if bugs is None else bugs:
        if only and bug.name not in only:
            continue
        started = time.time()
        import keras
        keras.backend.clear_session()
        results = run_checks(assignment, bug, until=bug.cell)
        message = results.get(bug.cell, "(its check did not run)")
        rows.append((bug, message.startswith("✗"), message, time.time() - started))
        log(f"{assignment} {bug.name} [{bug.cell}] {'FLAGGED' if rows[-1][1] else 'passed'}: {message[:200]}")
    return rows


def escape(text):
    return " ".join(text.split()).replace("|", "\\|")


def report_lines(results, command, seconds):
    lines = ["# Public checks against the bug catalogue", "",
             f"Command: `{command}` ({seconds / 60:.0f} min, one niced core).", "",
             "Each catalogued bug is put into the reference's answers, and the notebook's own check cells run in "
             "process up to the bug's item (set-up, answers, checks; no demonstrations). *Flagged*: the public "
             "check of the bug's own item prints ✗; the message is what it prints. Bugs whose property needs the "
             "hidden data are listed apart and do not count."]
    total_seen = total_flagged = total_named = 0
    for assignment, rows in results.items():
        seen = [r for r in rows if (assignment, r[0].name) not in UNSEEABLE]
        flagged = [r for r in seen if r[1]]
        named = [r for r in flagged if names_cause(r[2])]
        total_seen, total_flagged = total_seen + len(seen), total_flagged + len(flagged)
        total_named += len(named)
        lines += ["", f"## {assignment}", "",
                  f"Flagged by the check of their own item: **{len(flagged)} of {len(seen)}** "
                  f"({len(flagged) / max(len(seen), 1):.0%}); the cause named: **{len(named)} of {len(seen)}** "
                  f"({len(named) / max(len(seen), 1):.0%}).", "",
                  "| bug | item | flagged | cause named | message of the public check |",
                  "| --- | --- | --- | --- | --- |"]
        for bug, hit, message, _ in sorted(rows, key=lambda r: (r[1], r[0].cell, r[0].name)):
            why = UNSEEABLE.get((assignment, bug.name))
            mark = "yes" if hit else ("not seeable: " + why if why else "**no**")
            cause = "yes" if names_cause(message) else "**no**"
            lines.append(f"| {bug.name} | {bug.cell} | {mark} | {cause} | {escape(message)[:400]} |")
    lines[4:4] = [f"All assignments: **{total_flagged} of {total_seen}** seeable bugs flagged "
                  f"({total_flagged / max(total_seen, 1):.1%}), the cause named for **{total_named}** "
                  f"({total_named / max(total_seen, 1):.1%}; `names_cause`: a sentence beyond where the values "
                  "differ).", ""]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", default=",".join(ASSIGNMENTS))
    parser.add_argument("--bugs", help="comma-separated bug names (default: every catalogued bug)")
    parser.add_argument("--markdown", help="write the table here (keeping the notes below the marker)")
    parser.add_argument("--json", help="also write the rows here (one process per assignment, merged with --merge)")
    parser.add_argument("--merge", nargs="*", help="only merge the --json files of earlier runs into --markdown")
    parser.add_argument("--fresh", help="a Python file defining BUGS (Bug objects of one assignment, written outside "
                                        "the catalogue): measure those instead of the catalogue")
    args = parser.parse_args()
    if args.merge:
        results, seconds = {}, 0.0
        for path in args.merge:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            seconds += saved["seconds"]
            for assignment, rows in saved["results"].items():
                bugs = {b.name: b for b in catalogue.catalogue(assignment)}
                kept = results.setdefault(assignment, {})   # a later file's row of a bug replaces an earlier one
                kept.update({name: (bugs[name], hit, message, t) for name, hit, message, t in rows})
        results = {a: [kept[b.name] for b in catalogue.catalogue(a) if b.name in kept] for a, kept in results.items()}
        lines = report_lines(results, "nice -n 10 .venv/bin/python bench/public_checks.py --assignments A --json "
                             "A.json (one per assignment, in parallel), then --merge *.json --markdown FILE", seconds)
        print("\n".join(lines))
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import calibration
        calibration.write_report(args.markdown, lines)
        return
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    only = set(args.bugs.split(",")) if args.bugs else None
    started = time.time()
    fresh = None
    if args.fresh:
        import runpy
        fresh = runpy.run_path(args.fresh)["BUGS"]
    results = {a: measure(a, only, bugs=fresh) for a in args.assignments.split(",")}
    command = "nice -n 10 .venv/bin/python bench/public_checks.py " + " ".join(
        f"{k} {v}" for k, v in (("--assignments", args.assignments), ("--bugs", args.bugs)) if v)
    lines = report_lines(results, command, time.time() - started)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"seconds": time.time() - started, "results": {
                a: [(bug.name, hit, message, t) for bug, hit, message, t in rows] for a, rows in results.items()}}, f)
    print("\n".join(lines))
    if args.markdown:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import calibration
        calibration.write_report(args.markdown, lines)
        print("wrote", args.markdown)


if __name__ == "__main__":
    main()
