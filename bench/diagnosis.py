"""Known mistakes by name: the failure signatures of every catalogued bug, and how well they name a mistake.

    nice -n 10 .venv/bin/python bench/diagnosis.py grade [--assignments 01_rnn_cell,...] [--seeds 20]
    nice -n 10 .venv/bin/python bench/diagnosis.py analyse [--markdown bench/results/diagnosis.md]

``grade`` runs, for every catalogued bug of a non-training item and every grader seed 0..N-1, the tests of the
bug's own item in process (``bench/signatures.py``: a fresh namespace per seed, the plugin's rng) and records the
signature hashes (``autograder.diagnosis.signature``) in ``bench/results/diagnosis_runs.json`` (merged per
assignment, so assignments can be graded apart). ``analyse`` measures, for each rule, over every (bug, seed) whose
item failed:

* held-out bug (an unseen mistake): the bug's own signatures left out of the table; a hint is correct when it is
  the bug's own hint (the cause it shares with other bugs), wrong when it is another;
* held-out seed (a known mistake): the table holds every bug, but this bug only from its other seeds;

precision = correct / hints given, recall = correct / (bug, seed) pairs; then writes the table of the chosen rule to
``autograder/diagnosis_signatures.json``.
"""
import argparse
import gzip
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = os.path.join(HERE, "results", "diagnosis_runs.json.gz")   # every failed test's message, per bug and seed
ASSIGNMENTS = ("01_rnn_cell", "02_sentiment", "03_char_lm")
RULES = {"fine": {"coarse": False, "min_support": 1}, "fine+coarse": {"coarse": True, "min_support": 1},
         "fine, 2 bugs": {"coarse": False, "min_support": 2}}
# An assignment's rule is the one with the highest recall on unseen mistakes (then on known ones, then the simplest)
# among those whose precision is at least these on both; when none is, the assignment gets no hints (a wrong hint
# is worse than none).
UNSEEN_PRECISION, KNOWN_PRECISION = 0.95, 0.95


def choose(results):
    """The chosen rule's name from {rule name: counts}, or None."""
    def precision(part):
        return part[1] / part[0] if part[0] else 0.0
    fit = [(counts["unseen"][1], counts["known"][1], -list(RULES).index(name), name) for name, counts in results.items()
           if precision(counts["unseen"]) >= UNSEEN_PRECISION and precision(counts["known"]) >= KNOWN_PRECISION]
    return max(fit)[-1] if fit else None


def grade(assignments, seeds, only=None):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    sys.path.insert(0, HERE)
    import miss_rates
    from signatures import grade_change
    import tensorflow as tf
    from autograder import diagnosis
    from autograder.simulation import catalogue
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    runs = {}
    for assignment in assignments:
        started = time.time()
        runnable = {t[2] for t in miss_rates.suite_tests(assignment) if miss_rates.runnable(t)[0]}
        out = runs[assignment] = {"seeds": seeds, "bugs": {}, "skipped": []}
        for bug in catalogue.catalogue(assignment):
            if only and bug.name not in only and bug.cell not in only:
                continue
            if bug.cell not in runnable:
                out["skipped"].append(bug.name)
                continue
            row = out["bugs"][bug.name] = {"cell": bug.cell, "failed": {}}
            for seed in range(seeds):
                records = grade_change(assignment, bug, seed, clear=seed == 0)
                row["failed"][str(seed)] = [[r["item"], r["doc"], r["message"][:2000]] for r in records
                                            if r["status"] != "passed"]
            sigs = signatures_of(row)
            print(f"{assignment} {bug.name}: {len({tuple(s) for s in sigs.values() if s})} fine "
                  f"signature(s) over {seeds} seeds", flush=True)
            out["seconds"] = round(time.time() - started)
            save(assignment, out, only)   # after every bug: an interrupted run keeps what it measured
        out["complete"] = True
        save(assignment, out, only)
        print(f"{assignment}: {out['seconds']} s", flush=True)


def read_runs(path=RUNS):
    if not os.path.exists(path):
        return {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def save(assignment, out, only=None):
    """Writes ``out`` as the runs of ``assignment``; with ``only`` (a regrade of some bugs), merges its bugs into the
    recorded ones instead (same seeds)."""
    merged = read_runs()   # another run may have written meanwhile
    if only and assignment in merged and merged[assignment]["seeds"] == out["seeds"]:
        merged[assignment]["bugs"].update(out["bugs"])
    else:
        merged[assignment] = out
    with gzip.open(RUNS + f".{os.getpid()}.tmp", "wt", encoding="utf-8") as f:
        json.dump(merged, f, indent=0, sort_keys=True)
    os.replace(RUNS + f".{os.getpid()}.tmp", RUNS)


def signatures_of(row):
    """{seed: (fine, coarse) or None} of one bug's recorded failures, with today's normalisation."""
    from autograder import diagnosis
    out = {}
    for seed, failed in row["failed"].items():
        records = [{"item": item, "doc": doc, "status": "failed", "message": message} for item, doc, message in failed]
        out[seed] = diagnosis.signature(records, row["cell"])
    return out


def entries_of(bugs, leave_out=None):
    """Table rows from the runs: {bug, cell, fine, coarse}; ``leave_out`` = (bug, seed) drops that one run."""
    rows = []
    for name, row in bugs.items():
        sigs = [s for seed, s in row["signatures"].items() if s and (name, seed) != leave_out]
        rows.append({"bug": name, "cell": row["cell"], "fine": sorted({s[0] for s in sigs}),
                     "coarse": sorted({s[1] for s in sigs})})
    return rows


def measure(assignment, bugs, hint_of, rule):
    from autograder.diagnosis import diagnose
    counts = {"runs": 0, "unseen": [0, 0, 0], "known": [0, 0, 0]}   # [hints given, correct, wrong]
    wrong = []
    table = entries_of(bugs)
    for name, row in bugs.items():
        for seed, sig in row["signatures"].items():
            if not sig:
                continue
            counts["runs"] += 1
            for mode, entries, exclude in (("unseen", table, {name}),
                                           ("known", entries_of(bugs, (name, seed)), set())):
                hint, found = diagnose(entries, row["cell"], tuple(sig), hint_of, exclude=exclude, **rule)
                if hint:
                    counts[mode][0] += 1
                    ok = hint == hint_of[name]
                    counts[mode][1 if ok else 2] += 1
                    if not ok and seed == "0":
                        wrong.append((mode, name, sorted(found)))
    return counts, wrong


def load_runs(path=RUNS):
    """The recorded runs, each bug with its signatures under today's normalisation (``row["signatures"]``)."""
    runs = read_runs(path)
    for out in runs.values():
        for row in out["bugs"].values():
            row["signatures"] = {seed: list(sig) if sig else None for seed, sig in signatures_of(row).items()}
    return runs


def analyse(markdown):
    sys.path.insert(0, os.path.dirname(HERE))
    from autograder.simulation import catalogue
    runs = load_runs()
    lines = ["# Known mistakes by name: diagnosis precision and recall", "",
             "Commands: `nice -n 10 .venv/bin/python bench/diagnosis.py grade --seeds 20` (in process, every "
             "catalogued bug of a non-training item, the tests of its own item, grader seeds 0..19), then "
             "`... bench/diagnosis.py analyse --markdown bench/results/diagnosis.md`.", "",
             "A hint is given when the failed item's signature (which tests failed, their messages with the numbers "
             "blanked; *coarse*: which tests failed) was produced by catalogued bugs that all carry the same hint. "
             "**Unseen**: the diagnosed bug's own signatures are held out (a mistake the catalogue does not hold); "
             "correct = the bug's own hint (the cause it shares with others). **Known**: only the diagnosed run's "
             "seed is held out. Precision = correct / hints given; recall = correct / runs whose item failed.", ""]
    total = {"runs": 0, "unseen": [0, 0, 0], "known": [0, 0, 0]}   # under each assignment's chosen rule
    chosen = {}
    for assignment in ASSIGNMENTS:
        if assignment not in runs:
            continue
        bugs = runs[assignment]["bugs"]
        hint_of = {b.name: b.student_hint for b in catalogue.catalogue(assignment)}
        bugs = {k: v for k, v in bugs.items() if k in hint_of}
        hinted = len(set(hint_of.values()))
        graded = len(bugs) + len(runs[assignment]["skipped"])
        partial = "" if graded >= len(hint_of) else \
            f" (**partial**: the run was stopped after {len(bugs)} of the catalogue's {len(hint_of)} bugs)"
        lines += [f"## {assignment}", "", f"{len(bugs)} bugs graded{partial} over {runs[assignment]['seeds']} seeds "
                  f"({runs[assignment].get('seconds', '?')} s); {hinted} distinct hints among "
                  f"{len(hint_of)} catalogued bugs; not run (training items): "
                  f"{', '.join(runs[assignment]['skipped']) or 'none'}.", "",
                  "| rule | runs | unseen: hints | precision | recall | known: hints | precision | recall |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        results, wrongs = {}, {}
        for rule_name, rule in RULES.items():
            counts, wrongs[rule_name] = measure(assignment, bugs, hint_of, rule)
            results[rule_name] = counts
            lines.append(row_of(rule_name, counts))
        chosen[assignment] = choose(results)
        for key in ("unseen", "known"):
            total[key] = [a + b for a, b in zip(total[key], results[chosen[assignment]][key])] \
                if chosen[assignment] else total[key]
        total["runs"] += results[next(iter(RULES))]["runs"]
        lines += ["", f"Chosen rule: **{chosen[assignment] or 'none: no hints for this assignment'}** (the highest "
                  f"unseen recall with precision >= {UNSEEN_PRECISION:.0%} unseen and >= {KNOWN_PRECISION:.0%} "
                  "known)."]
        shown = chosen[assignment] or "fine"
        if wrongs[shown]:
            lines += ["", f"Wrong hints under `{shown}`, seed 0: "
                      + "; ".join(f"{mode} `{name}` got the hint of {', '.join(f'`{b}`' for b in found)}"
                                  for mode, name, found in wrongs[shown][:30])]
        lines.append("")
    lines += ["## All assignments, each under its chosen rule (an assignment without one gives no hints)", "",
              "| rule | runs | unseen: hints | precision | recall | known: hints | precision | recall |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |", row_of("chosen", total), "",
              "Written to `autograder/diagnosis_signatures.json`: "
              + ", ".join(f"{a}: {chosen.get(a) or 'no hints'}" for a in runs) + "."]
    table = {"seeds": {a: runs[a]["seeds"] for a in runs},
             "assignments": {a: {"rule": RULES[chosen[a]] if chosen.get(a) else None,
                                 "entries": entries_of(runs[a]["bugs"])} for a in runs}}
    with open(os.path.join(os.path.dirname(HERE), "autograder", "diagnosis_signatures.json"), "w") as f:
        json.dump(table, f, indent=0, sort_keys=True)
    print("\n".join(lines))
    if markdown:
        sys.path.insert(0, HERE)
        import calibration
        calibration.write_report(markdown, lines)


def row_of(rule_name, counts):
    def part(given, correct, _wrong):
        precision = f"{correct / given:.1%}" if given else "-"
        return f"{given} | {precision} | {correct / counts['runs']:.1%}" if counts["runs"] else "0 | - | -"
    return f"| {rule_name} | {counts['runs']} | {part(*counts['unseen'])} | {part(*counts['known'])} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("grade", "analyse"))
    parser.add_argument("--assignments", default=",".join(ASSIGNMENTS))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--only", help="grade: regrade only these bugs or the bugs of these items (comma-separated)")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if args.step == "grade":
        grade(args.assignments.split(","), args.seeds, set(args.only.split(",")) if args.only else None)
    else:
        analyse(args.markdown)


if __name__ == "__main__":
    main()
