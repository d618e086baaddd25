"""The one typed unit of grading, defined once and used on every hop.

    Task      what a scheduler hands out: one student's submission of one assignment (local pool or Dask)
      │ submission.grade()
    Job       what the trusted grading process needs (job.json, mode 0600, read by the pytest plugin)
      │ the hidden suite, in the trusted child
    Record    one hidden test's verdict; Finished is the plugin's whole answer (records.json)
      │ submission.grade()
    Outcome   what comes back to the instructor's side: graded, kept, or a grader failure (never a grade)

Every class here is plain data (JSON in, JSON out), so that the hops between processes and machines carry the
same thing and nothing else.
"""
from dataclasses import asdict, dataclass, field, fields
import json
import os

from autograder.results import SubmissionResults
from autograder.settings import Settings

# what an Outcome says happened
GRADED = "graded"                 # graded now; results.json and the gradebook hold the grade
KEPT = "kept"                     # graded before, unchanged since: nothing was run
GRADER_FAILURE = "grader failure"  # the grader could not finish: no grade was given, the next run tries again


def _plain(cls, data):
    """``cls`` from a dict, ignoring keys it does not have (a newer writer's extras)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Task:
    """One submission to grade: what a scheduler sends to a local grader or a Dask worker."""
    course_root: str
    student: str
    assignment: str
    level: str
    force: bool = False
    items: tuple = None       # grade only these items (bug-catalogue tests); such results are never kept
    salt: str = ""            # other grader seeds (rnnkit validate)
    settings: Settings = Settings()   # the instructor's side's, read once (autograder.settings.load)

    @property
    def key(self):
        return (self.student, self.assignment)

    def to_dict(self):
        data = asdict(self)
        data["items"] = list(self.items) if self.items is not None else None
        return data

    @classmethod
    def from_dict(cls, data):
        data = dict(data, settings=Settings.from_dict(data.get("settings")))
        if data.get("items") is not None:
            data["items"] = tuple(data["items"])
        return _plain(cls, data)


@dataclass
class Job:
    """Everything the trusted grading process needs to grade one submission; written once, read once."""
    assignment: str
    cells: list               # [{"grade_id", "source", "kind"}]: set-up cells, answer cells, the harness
    missing: list             # answer cells the submission lacks
    release: str              # the released assignment folder (the sandbox's scratch folder is a copy)
    level: str
    seed: int
    hidden_seed: int          # never crosses into the sandbox, never written into results
    budget: float
    records: str              # where the plugin writes its Finished
    items: list = None
    settings: Settings = Settings()

    def sandbox_limits(self):
        """The resource limits of this job's student processes (see :meth:`Settings.sandbox_limits`)."""
        return self.settings.sandbox_limits(self.budget)

    def write(self, path):
        """Writes the job for the grader's eyes only (0600, never over an existing file)."""
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(asdict(self), f)

    @classmethod
    def read(cls, path):
        with open(path) as f:
            data = json.load(f)
        return _plain(cls, dict(data, settings=Settings.from_dict(data.get("settings"))))

    def pytest_args(self, job_path, suite):
        """How the trusted child runs the hidden ``suite`` on this job. Without assertion rewriting (the suites
        raise their own messages) and pytest's unraisable-exception plugin (its garbage collections at exit, over
        TensorFlow's heap): together about half of a warm Assignment 1 grading."""
        return [suite, "-p", "autograder.trusted.plugin", f"--rnnkit-job={job_path}", "-q", "-p", "no:cacheprovider",
                "--assert=plain", "-p", "no:unraisableexception", "-p", "no:threadexception",
                "--no-header", "--tb=native", "--durations=8", "-o", "addopts=", f"--rootdir={os.path.dirname(suite)}"]


@dataclass
class Record:
    """One hidden test's verdict, as the plugin writes it."""
    test: str                 # the test function's name
    item: str                 # the grade_id it grades
    doc: str = ""             # the test's docstring, whole (first paragraph)
    weight: float = 1.0
    status: str = "passed"    # one of results.STATUSES
    message: str = ""         # for the student
    seconds: float = 0.0
    traceback: str = ""       # a grader error's, for the instructor's log only
    instructor_note: str = ""  # why a test was flagged, for the instructor only

    @classmethod
    def from_dict(cls, data):
        return _plain(cls, data)


@dataclass
class Finished:
    """The plugin's whole answer, written when the suite has finished (its absence means it did not)."""
    records: list             # [Record]
    student_output: str = ""
    student_seconds: float = 0.0
    student_starts: list = field(default_factory=lambda: [0, 0])   # processes started [all, without a zygote]
    student_timeouts: list = field(default_factory=list)  # [{"item", "by": "cpu" or "wall", ...}] (sandbox.cpu)

    def write(self, path):
        data = asdict(self)
        tmp = path + ".partial"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path):
        """The plugin's answer, or None if it never finished writing it."""
        try:
            with open(path) as f:
                data = json.load(f)
            finished = _plain(cls, data)
            finished.records = [Record.from_dict(r) for r in data["records"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return finished


@dataclass
class Outcome:
    """What grading one :class:`Task` came to. ``results`` is the :class:`~autograder.results.SubmissionResults`
    for GRADED and KEPT (typed all the way: the Gradescope dict is made only for a hop between processes, and
    for ``results.json``); a GRADER_FAILURE has a ``reason`` instead and is never a grade."""
    task: Task
    status: str
    results: SubmissionResults = None
    reason: str = ""
    seconds: float = 0.0

    @property
    def failed(self):
        return self.status == GRADER_FAILURE

    def to_dict(self):
        return {"task": self.task.to_dict(), "status": self.status, "reason": self.reason, "seconds": self.seconds,
                "results": self.results.to_gradescope() if self.results is not None else None}

    @classmethod
    def from_dict(cls, data):
        results = data.get("results")
        return cls(Task.from_dict(data["task"]), data["status"],
                   SubmissionResults.from_gradescope(results) if results is not None else None,
                   reason=data.get("reason", ""), seconds=data.get("seconds", 0.0))
