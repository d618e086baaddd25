"""What the calibration scripts share: the sandbox's namespace and channel rebuilt in process (so that thousands
of grading runs need no sandbox start), distribution summaries, and reports that keep their hand-written notes."""
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from autograder import project  # noqa: E402
from autograder.sandbox.inside import channel  # noqa: E402

NOTES_MARKER = "<!-- notes below this line are written by hand and kept when the script rewrites the file -->"


def harness_namespace(assignment, reference, **replacements):
    """What the sandbox holds after a submission's cells ran: the set-up's imports, the reference's answers
    (``replacements`` stand in for some of them, as a student's would), then the assignment's harness."""
    namespace = {"np": np, "tf": tf, "keras": keras}
    namespace.update({name: value for name, value in vars(reference).items() if not name.startswith("__")})
    namespace.update(replacements)
    with open(project.harness(assignment), encoding="utf-8") as f:
        exec(compile(f.read(), f"harness_{assignment}.py", "exec"), namespace)
    return namespace


def changed_namespace(assignment, reference, change):
    """The harness namespace with one catalogued Bug or Variant applied to its answer (a top-level function or
    class of the reference), as a submission with that change would hold it."""
    import ast
    with open(project.solution_file(assignment), encoding="utf-8") as f:
        source = f.read()
    node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == change.cell)
    text = ast.get_source_segment(source, node)
    assert text.count(change.old) == 1, change.name
    namespace = harness_namespace(assignment, reference)
    exec(compile(text.replace(change.old, change.new), change.name, "exec"), namespace)
    return namespace


def caller(namespace):
    """A stand-in for ``student.call``: values cross the same channel encoding as in the sandbox."""
    objects = {}

    def keep(obj):
        objects[len(objects) + 1] = obj
        return len(objects)

    def call(name, *args, timeout=None, **kwargs):
        args = channel.decode(channel.encode(list(args)), tf.constant, objects.__getitem__)
        kwargs = channel.decode(channel.encode(kwargs), tf.constant, objects.__getitem__) if kwargs else {}
        return channel.decode(channel.encode(namespace[name](*args, **kwargs), keep=keep))
    return call


def summary(values, digits=3):
    values = sorted(values)
    return (f"min {values[0]:.{digits}f} · median {statistics.median(values):.{digits}f} · mean "
            f"{statistics.mean(values):.{digits}f} · max {values[-1]:.{digits}f}")


def write_report(path, lines):
    """Writes ``lines`` to ``path``, keeping whatever was written by hand below the notes marker."""
    kept = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
        if NOTES_MARKER in old:
            kept = old[old.index(NOTES_MARKER) + len(NOTES_MARKER):].strip("\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(list(lines) + ["", NOTES_MARKER, kept]).rstrip("\n") + "\n")


def grading_runs(grading_run, harness_namespace, variants, names, seeds, variant_seeds):
    """The reference over every seed, then each named variant (a realistic way of getting the assignment wrong,
    or right differently) over the first ``variant_seeds`` seeds. ``variants[name]`` is
    ``(correct?, *replacements for harness_namespace)``. Returns (reference runs, {name: runs})."""
    reference_ns = harness_namespace()
    reference = []
    for seed in seeds:
        reference.append(grading_run(seed, reference_ns))
        print("reference", reference[-1], flush=True)
    runs = {}
    for name in names:
        namespace = harness_namespace(*variants[name][1:])
        runs[name] = []
        for seed in seeds[:variant_seeds]:
            runs[name].append(grading_run(seed, namespace))
            print(name, runs[name][-1], flush=True)
    return reference, runs
