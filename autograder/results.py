"""The results of grading: one test, one submission, and their Gradescope form (``results.json``).

Every module that reads or writes results goes through this one. A test's status is recorded, never inferred from
its message; scores are rounded in one place (:func:`points`).

    results = SubmissionResults.from_records(points, records, provenance=...)
    results.score, results.max_score           # rounded totals
    results.items()                            # {grade_id: ItemScore(score, max_score)}
    results.save(path); SubmissionResults.load(path)
"""
from dataclasses import dataclass, field
import json
import os
import tempfile

PASSED, FAILED, GRADER_ERROR, NOT_GRADED = "passed", "failed", "grader error", "not graded"
FLAGGED = "flagged"   # failed with a result no honest submission produces: the instructor is told why
STATUSES = (PASSED, FAILED, GRADER_ERROR, NOT_GRADED, FLAGGED)


def short_name(test):
    """A hidden test's name as people read it: ``test_cell_forward_values`` -> ``cell forward values``."""
    return test.removeprefix("test_").replace("_", " ")


def points(value):
    """Scores as people read them: two decimals (no ``17.428570999999998``)."""
    return round(float(value) + 0.0, 2)


@dataclass
class TestResult:
    """One hidden test of one graded item."""
    item: str                 # the grade_id of the answer cell it grades
    name: str                 # "<grade_id>: <short name>", a few words (the test function's name)
    status: str               # one of STATUSES
    score: float
    max_score: float
    message: str = ""         # for the student; empty when passed
    description: str = ""     # what it checks, whole (the test's docstring)

    @property
    def passed(self):
        return self.status == PASSED

    def to_gradescope(self):
        return {"name": self.name, "description": self.description,
                "status": "passed" if self.passed else "failed", "rnnkit_status": self.status,
                "score": points(self.score), "max_score": points(self.max_score),
                "output": self.message or ("passed" if self.passed else ""),
                "visibility": "visible", "tags": [self.item, f"test_{self.item}"]}

    @classmethod
    def from_gradescope(cls, data):
        status = data.get("rnnkit_status") or data.get("status") or FAILED
        message = "" if status == PASSED else data.get("output", "")
        return cls(item=data["tags"][0], name=data["name"], status=status, score=float(data["score"]),
                   max_score=float(data["max_score"]), message=message, description=data.get("description", ""))


@dataclass
class ItemScore:
    score: float
    max_score: float

    @property
    def lost(self):
        return self.score < self.max_score - 1e-9


@dataclass
class SubmissionResults:
    """Everything the grading of one submission of one assignment produced."""
    tests: list = field(default_factory=list)         # [TestResult] in notebook order of their items
    provenance: dict = field(default_factory=dict)    # submission hash, suite version, seeds, sandbox, versions
    note: str = ""                                     # a message about the whole submission (for the student)
    execution_time: float = 0.0

    @property
    def score(self):
        return points(sum(t.score for t in self.tests))

    @property
    def max_score(self):
        return points(sum(t.max_score for t in self.tests))

    def items(self):
        """grade_id -> :class:`ItemScore`, summed over the item's tests, in order."""
        found = {}
        for test in self.tests:
            entry = found.setdefault(test.item, ItemScore(0.0, 0.0))
            entry.score += test.score
            entry.max_score += test.max_score
        return {item: ItemScore(points(s.score), points(s.max_score)) for item, s in found.items()}

    def item_tests(self, item):
        return [t for t in self.tests if t.item == item]

    @property
    def partial(self):
        """Graded on some items only (the bug-catalogue tests): never kept as a grade."""
        return "only_items" in self.provenance

    # -- building from the hidden suite's records ----------------------------------------------------------
    @classmethod
    def from_records(cls, item_points, records, note="", items=None, **fields):
        """Points per test: an item's points are shared among its tests by weight; a test scores all or nothing.

        Shares are rounded to two decimals, the last one taking the remainder, so that they add up to the item.

        Args:
            item_points: ``{grade_id: points}`` of every autograded item, in notebook order.
            records: what the plugin wrote, one dict per test (:class:`~autograder.grading.job.Record`'s
                fields): ``item``, ``test``, ``doc``, ``weight``, ``status`` and ``message``.
            note: why nothing could run, if so (every item then loses its points with this message).
            items: grade only these items (None: all).
        """
        tests = []
        for grade_id, item_max in item_points.items():
            if items is not None and grade_id not in items:
                continue
            mine = [r for r in records if r.get("item") == grade_id]
            weights = sum(r["weight"] for r in mine)
            if not mine:  # the suite never ran: the whole item is lost, with the reason
                tests.append(TestResult(grade_id, f"{grade_id}: not graded", NOT_GRADED, 0.0, item_max,
                                        note or "no hidden test ran"))
                continue
            shares = [points(item_max * r["weight"] / weights) for r in mine]
            shares[-1] = points(item_max - sum(shares[:-1]))  # two-decimal shares that add up to the item exactly
            for r, share in zip(mine, shares):
                status = r["status"]
                tests.append(TestResult(grade_id, f"{grade_id}: {short_name(r['test'])}", status,
                                        share if status == PASSED else 0.0, share, r.get("message", ""),
                                        description=r.get("doc", "")))
        return cls(tests=tests, note=note or "", **fields)

    @property
    def flagged(self):
        """Tests flagged for the instructor (the reasons are in the grader's log)."""
        return [t for t in self.tests if t.status == FLAGGED]

    # -- the Gradescope form -----------------------------------------------------------------------------------
    def to_gradescope(self):
        data = {"score": self.score, "max_score": self.max_score, "visibility": "visible",
                "stdout_visibility": "hidden", "tests": [t.to_gradescope() for t in self.tests],
                "execution_time": round(self.execution_time, 1), "provenance": self.provenance}
        if self.note:
            data["output"] = self.note
        return data

    @classmethod
    def from_gradescope(cls, data):
        return cls(tests=[TestResult.from_gradescope(t) for t in data.get("tests", [])],
                   provenance=dict(data.get("provenance", {})), note=data.get("output", ""),
                   execution_time=float(data.get("execution_time", 0.0)))

    def save(self, path):
        """Writes ``results.json`` atomically: an interrupted grader or a full disk never leaves half a file."""
        write_atomically(path, json.dumps(self.to_gradescope(), indent=1))

    @classmethod
    def load(cls, path):
        """Reads ``results.json``; raises OSError or ValueError if it is missing or unreadable."""
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            raise ValueError(f"{path} is not a results file")
        try:
            return cls.from_gradescope(data)
        except (KeyError, TypeError, IndexError, AttributeError) as err:
            raise ValueError(f"{path} is not a results file ({type(err).__name__})") from None


def write_atomically(path, text):
    """Writes ``text`` to ``path`` whole or not at all: the old file stays as it was if anything fails (a full
    disk, a killed process), and no temporary file is left behind."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path) + "-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
