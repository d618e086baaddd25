"""What the calibration scripts share: the sandbox's namespace, channel and student process rebuilt in process
(so that thousands of grading runs need no sandbox start), distribution summaries, and reports that keep their
hand-written notes."""
import contextlib
import os
import signal
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from autograder import project  # noqa: E402
from autograder.sandbox.inside import channel  # noqa: E402
from autograder.trusted.student import StudentError, StudentTimeout  # noqa: E402
from autograder.trusted.reference import caller, harness_namespace  # noqa: E402,F401  (the calibrations' names)
from reports import NOTES_MARKER, write_report  # noqa: E402,F401  (every calibration writes its report with it)


def changed_namespace(assignment, reference, change):
    """The harness namespace with one catalogued Bug or Variant applied to its answer (a top-level function or
    class of the reference, as ``project.reference_source`` gives it), as a submission with that change would hold
    it."""
    from autograder.simulation import catalogue
    text = catalogue.substitute(project.reference_source(assignment, change.cell), change)
    namespace = harness_namespace(assignment, reference)
    exec(compile(text, change.name, "exec"), namespace)
    return namespace


# In process, often on one niced core: slower than the sandbox's two, so a call is cut only well past its own
# timeout (an endless loop in a bug would otherwise stop the whole run).
TIMEOUT_FACTOR = 5
DEFAULT_CALL_TIMEOUT = 60


@contextlib.contextmanager
def deadline(seconds):
    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Student:
    """What the suites read of ``student`` (``call``, ``source``, ``current_item``, ``uses``), over one namespace
    held in process, as StudentProcess does over the sandbox: a failure of the student's side of a call (decoding,
    running, encoding the value) is a StudentError; only the trusted side's encoding of the arguments may raise
    anything else."""

    def __init__(self, assignment, namespace, sources):
        self.assignment, self.namespace, self.sources = assignment, namespace, sources
        self._call = caller(namespace)
        self.current_item, self.uses = None, ()
        self._references = {}

    def source(self, grade_id):
        return self.sources.get(grade_id, "")

    def reference(self, name):
        """The reference of an earlier item defined over this namespace, as the worker does for ``uses``."""
        if name not in self._references:
            defined = dict(self.namespace)
            exec(compile(project.reference_source(self.assignment, name), f"<reference {name}>", "exec"), defined)
            self._references[name] = defined[name]
        return self._references[name]

    def call(self, fn, *args, timeout=None, **kwargs):
        channel.encode(list(args)), channel.encode(kwargs)   # the trusted side's own part: a failure is ours
        saved = [(name, self.namespace.get(name)) for name in self.uses]
        for name in self.uses:
            self.namespace[name] = self.reference(name)
        what = f"your {fn}" if not fn.startswith("_") else f"your {self.current_item or 'code'}"
        try:
            with deadline(TIMEOUT_FACTOR * (timeout or DEFAULT_CALL_TIMEOUT)):
                return self._call(fn, *args, **kwargs)
        except TimeoutError as err:
            raise StudentTimeout(f"{what} did not finish ({err})") from None
        except Exception as err:
            raise StudentError(f"{what} raised an error:\n{type(err).__name__}: {err}") from None
        finally:
            for name, old in saved:
                self.namespace[name] = old


def summary(values, digits=3):
    values = sorted(values)
    return (f"min {values[0]:.{digits}f} · median {statistics.median(values):.{digits}f} · mean "
            f"{statistics.mean(values):.{digits}f} · max {values[-1]:.{digits}f}")


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
