"""Fast checks of the pure parts (no TensorFlow, no sandbox): scoring, the results file, the cell classifier and
layouts, the cache key, the channel's limits, what the trusted side refuses to parse, and safe exports."""
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import build, notebooks, project, report
from autograder.course import Course
from autograder.grading import gradebook, submission
from autograder.results import FAILED, GRADER_ERROR, NOT_GRADED, PASSED, SubmissionResults, points
from autograder.sandbox.inside import channel


def record(item, test, status, weight=1.0):
    return {"item": item, "test": test, "doc": f"{test} doc", "weight": weight, "status": status,
            "message": "" if status == PASSED else f"{test} failed"}


# -- scoring -----------------------------------------------------------------------------------------------------
def test_an_items_points_are_shared_by_weight_and_add_up_exactly():
    records = [record("f", "a", PASSED, 1), record("f", "b", FAILED, 2), record("f", "c", PASSED, 4),
               record("g", "d", GRADER_ERROR)]
    results = SubmissionResults.from_records({"f": 3.0, "g": 2.0, "h": 1.0}, records, note="")
    shares = [t.max_score for t in results.item_tests("f")]
    assert shares == [0.43, 0.86, 1.71] and sum(shares) == pytest.approx(3.0)   # 3/7 each, remainder last
    assert results.items()["f"].score == points(0.43 + 1.71) and results.items()["f"].lost
    assert results.items()["g"].score == 0
    h = results.item_tests("h")
    assert len(h) == 1 and h[0].status == NOT_GRADED and h[0].max_score == 1.0   # no record: the item is lost
    assert results.max_score == 6.0 and results.score == points(0.43 + 1.71)


def test_scores_are_rounded_in_one_place():
    records = [record("f", str(i), PASSED) for i in range(7)]
    results = SubmissionResults.from_records({"f": 17.0}, records[:6] + [record("f", "x", FAILED)])
    assert results.score == 14.58 and results.max_score == 17 and all(len(str(t.score).split(".")[-1]) <= 2 for t in results.tests)


def test_partial_grading_only_counts_its_items():
    results = SubmissionResults.from_records({"f": 1.0, "g": 2.0}, [record("f", "a", PASSED)], items=["f"],
                                             provenance={"only_items": ["f"]})
    assert list(results.items()) == ["f"] and results.max_score == 1.0 and results.partial


def test_results_round_trip_through_the_gradescope_file(tmp_path):
    results = SubmissionResults.from_records({"f": 2.0}, [record("f", "a", PASSED), record("f", "b", FAILED)],
                                             note="a note", provenance={"seed": 3})
    path = tmp_path / "out" / "results.json"
    results.save(str(path))
    data = json.loads(path.read_text())
    assert data["score"] == 1.0 and data["max_score"] == 2.0 and data["output"] == "a note"
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    assert data["tests"][0]["tags"] == ["f", "test_f"]
    back = SubmissionResults.load(str(path))
    assert back.to_gradescope() == results.to_gradescope()
    assert [t.passed for t in back.tests] == [True, False]   # from the status, never from the message
    assert not [p for p in os.listdir(path.parent) if p.startswith(".results-")]   # the write was atomic


# -- the cell classifier and layouts -----------------------------------------------------------------------------
def cell(kind, grade_id, source="", **meta):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    c = make(source)
    c.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, **meta}
    return c


CELLS = [cell("code", "setup", "import x", locked=True, grade=False, solution=False),
         cell("code", "f", "def f(): ...", solution=True, grade=False),
         cell("code", "test_f", "check(f)", grade=True, solution=False, locked=True, points=3),
         cell("markdown", "why", "because", grade=True, solution=True, points=2),
         cell("code", "demo_plot", "plot()", locked=True, grade=False, solution=False),
         nbformat.v4.new_markdown_cell("prose")]


def test_the_cell_classifier():
    kinds = [notebooks.cell_kind(c) for c in CELLS]
    assert kinds == [notebooks.SETUP, notebooks.ANSWER, notebooks.CHECK, notebooks.WRITTEN, notebooks.OTHER,
                     notebooks.OTHER]
    assert notebooks.checked_item(CELLS[2]) == "f"


def test_layout_and_its_checks():
    layout = notebooks.layout(nbformat.v4.new_notebook(cells=CELLS))
    assert layout.setup == [("setup", "import x")] and layout.answers == ["f"]
    assert layout.points == {"f": 3.0} and layout.manual == {"why": 2.0}
    assert layout.check({"f"}) == []
    errors = layout.check({"f", "g"})
    assert errors == ["hidden tests refer to 'g', which is not an answer cell"]
    assert layout.check(set()) == ["item 'f' has no hidden test"]


# -- what the trusted side refuses --------------------------------------------------------------------------------
def test_notebooks_must_be_regular_files_of_bounded_size(tmp_path):
    real = tmp_path / "real.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=CELLS), str(real))
    (tmp_path / "link.ipynb").symlink_to(real)
    with pytest.raises(notebooks.NotebookError, match="symbolic link"):
        notebooks.read(str(tmp_path / "link.ipynb"))
    with pytest.raises(notebooks.NotebookError, match="not a regular file"):
        notebooks.read(str(tmp_path))
    with pytest.raises(notebooks.NotebookError, match="over the grader's limit"):
        notebooks.read_bytes(str(real), limit=100)
    many = tmp_path / "many.ipynb"
    many.write_text(json.dumps({"cells": [{}] * (notebooks.MAX_CELLS + 1), "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    with pytest.raises(notebooks.NotebookError, match="cells, over the grader's limit"):
        notebooks.read(str(many))
    deep = tmp_path / "deep.ipynb"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(notebooks.NotebookError):
        notebooks.read(str(deep))
    assert notebooks.read(str(real)).cells


def test_replies_nested_too_deep_are_refused():
    deep = []
    for _ in range(channel.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        channel.decode(channel.encode(deep))
    with pytest.raises(ValueError):
        channel.loads(b"[" * 200000 + b"]" * 200000)
    shallow = [[[1]]]
    assert channel.decode(channel.encode(shallow)) == shallow


def test_a_symlinked_timestamp_is_not_followed(tmp_path):
    course = Course(str(tmp_path / "course"))
    folder = os.path.dirname(course.submitted_notebook("mallory", "01_x"))
    os.makedirs(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("2020-01-01 00:00:00 UTC")
    os.symlink(secret, os.path.join(folder, "timestamp.txt"))
    assert gradebook._timestamp_text(course, "mallory", "01_x") is None
    os.unlink(os.path.join(folder, "timestamp.txt"))
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write("2024-05-01 10:00:00.000000 UTC")
    assert gradebook._timestamp_text(course, "mallory", "01_x").startswith("2024-05-01")


def test_csv_cells_never_start_a_formula(tmp_path):
    path = report.write_csv(str(tmp_path / "x.csv"), ["student", "score"],
                            [["=HYPERLINK(\"http://x\")", 1], ["+1", 2], ["-cmd", 3], ["@SUM(A1)", 4], ["ada", 5]])
    rows = path and (tmp_path / "x.csv").read_text().splitlines()
    assert [r.split(",")[0].strip('"') for r in rows[1:]] == ["'=HYPERLINK(\"\"http://x\"\")", "'+1", "'-cmd",
                                                              "'@SUM(A1)", "ada"]


# -- the cache key ---------------------------------------------------------------------------------------------------
def test_the_suite_version_covers_the_whole_grader():
    files = {os.path.relpath(p, project.ROOT) for p in project.grading_files("01_rnn_cell")}
    for expected in ("autograder/hidden/01_rnn_cell/test_01_rnn_cell.py", "autograder/hidden/01_rnn_cell/harness.py",
                     "solutions/rnn_cell.py", "autograder/trusted/plugin.py", "autograder/trusted/student.py",
                     "autograder/sandbox/inside/worker.py", "autograder/sandbox/inside/channel.py",
                     "autograder/sandbox/launch.py", "assignments/common/checklib.py",
                     "assignments/01_rnn_cell/rnn_checks.py"):
        assert expected in files, expected
    assert not [f for f in files if f.endswith(".pyc")]


def test_kept_results_follow_the_submission_the_grader_and_the_sandbox(tmp_path):
    course = Course(str(tmp_path / "course"))
    path = course.submitted_notebook("ada", "01_rnn_cell")
    os.makedirs(os.path.dirname(path))
    nbformat.write(nbformat.v4.new_notebook(cells=CELLS), path)
    digest = submission.hashlib.sha256(open(path, "rb").read()).hexdigest()

    def keep(**provenance):
        base = {"submission_sha256": digest, "suite_version": submission.suite_version("01_rnn_cell"),
                "sandbox": "unshare"}
        SubmissionResults.from_records({"f": 1.0}, [record("f", "a", PASSED)],
                                       provenance={**base, **provenance}).save(course.results_file("ada", "01_rnn_cell"))
        return submission.already_graded(course, "ada", "01_rnn_cell", "unshare")

    assert keep() is not None
    assert keep(suite_version="0" * 16) is None            # another grader: regrade
    assert keep(submission_sha256="0" * 64) is None        # another submission: regrade
    assert keep(sandbox="none") is None                    # graded in a weaker sandbox: regrade
    assert keep(sandbox="bubblewrap") is not None          # a stronger one is kept
    assert keep(only_items=["f"]) is None                  # a partial grading never counts


def test_seeds_are_keyed_with_the_course_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNKIT_SECRET", raising=False)   # the tests' fixed secret (conftest) off: each course its own
    one, two = Course(str(tmp_path / "one")), Course(str(tmp_path / "two"))
    assert one.secret() == one.secret() != two.secret()
    assert oct(os.stat(one.path(".rnnkit-secret")).st_mode & 0o777) == "0o600"
    seeds = submission.grading_seeds(one.secret(), "01_x", "abc")
    assert seeds == submission.grading_seeds(one.secret(), "01_x", "abc")      # a regrade reproduces them
    assert seeds != submission.grading_seeds(two.secret(), "01_x", "abc")      # unknowable without the secret
    assert seeds[0] != seeds[1]                                                # the hidden seed is not the public one
    assert seeds != submission.grading_seeds(one.secret(), "01_x", "abc", salt="1")


# -- the installed command -----------------------------------------------------------------------------------------------
def test_the_installed_rnnkit_script_runs():
    script = shutil.which("rnnkit", path=os.path.dirname(sys.executable))
    assert script, "the rnnkit entry point is not installed next to this Python"
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "autograde" in proc.stdout and "validate" in proc.stdout


def test_the_class_table_names_items_in_full_with_two_decimals(tmp_path):
    from autograder import grades
    items, graded = {"seq_data_iter_random": 2.0, "seq_data_iter_sequential": 17.0}, {}
    for student, passed in (("ada", True), ("ben", False)):
        records = [record(item, f"t{i}", PASSED if passed or i < 5 else FAILED)
                   for item in items for i in range(7)]
        results = SubmissionResults.from_records(items, records)   # the gradebook gets these points
        graded[student] = grades.Grade(student, "03_x", status=grades.GRADED, items=[
            grades.Item(item, grades.AUTOGRADED, score.score, score.max_score, grades.GRADED)
            for item, score in results.items().items()])
    table = report.render_table("03_x", graded)
    header = table.splitlines()[1]
    assert "seq_data_iter_random" in header and "seq_data_iter_sequential" in header
    ben = [line for line in table.splitlines() if line.startswith("ben")][0]
    assert "12.15/17" in ben and "1.45/2" in ben and "13.6 / 19" in ben    # two-decimal shares, never 12.142857...


def test_a_flagged_check_scores_zero_and_stays_flagged_in_the_file(tmp_path):
    from autograder.results import FLAGGED
    flagged = {**record("f", "b", FLAGGED), "message": "neutral sentence"}
    results = SubmissionResults.from_records({"f": 2.0}, [record("f", "a", PASSED), flagged])
    assert [t.name for t in results.flagged] == ["f: b"] and results.flagged[0].description == "b doc"
    assert results.score == 1.0
    results.save(str(tmp_path / "r.json"))
    back = SubmissionResults.load(str(tmp_path / "r.json"))
    assert back.flagged and back.flagged[0].message == "neutral sentence" and not back.flagged[0].passed


def test_two_builds_release_the_same_bytes(tmp_path, built):
    """A grading's seeds are keyed with the submission's hash: a rebuilt assignment must not change it (nbformat's
    random cell ids once did, so each test run drew other grader seeds)."""
    course, _ = built
    assignment = course.built_assignments()[0]
    again = Course(str(tmp_path / "again"))
    build.build(again, [assignment], log=lambda *_: None)
    names = os.listdir(course.release_dir(assignment))
    for name in [n for n in names if n.endswith(".ipynb")]:
        with open(os.path.join(course.release_dir(assignment), name), "rb") as first, \
                open(os.path.join(again.release_dir(assignment), name), "rb") as second:
            assert first.read() == second.read(), name


def test_scratch_folders_of_a_killed_process_are_removed_by_the_next(tmp_path, monkeypatch):
    """A folder named after a process that no longer runs is removed when the next one of its kind is made; one of
    a running process, one named the older way and another kind are kept."""
    import subprocess
    import sys
    import tempfile
    from autograder import scratch
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"rnnkit-grade-{dead.pid}-abc"
    alive = tmp_path / f"rnnkit-grade-{os.getpid()}-def"
    older = tmp_path / "rnnkit-grade-12345678"
    other = tmp_path / f"rnnkit-zygote-{dead.pid}-ghi"
    for path in (orphan, alive, older, other):
        (path / "inside").mkdir(parents=True)
    with scratch.folder("rnnkit-grade-") as made:
        assert os.path.basename(made).startswith(f"rnnkit-grade-{os.getpid()}-")
        assert not orphan.exists() and alive.exists() and older.exists() and other.exists()
    assert not os.path.exists(made)
    if os.getuid() == 0:   # a root grader hands its folders to a sandbox's uid: those are its own too
        from autograder.sandbox.launch import SANDBOX_UID_BASE
        handed = tmp_path / f"rnnkit-grade-{dead.pid}-jkl"
        handed.mkdir()
        os.chown(handed, SANDBOX_UID_BASE + 5, SANDBOX_UID_BASE + 5)
        scratch.remove_orphans("rnnkit-grade-")
        assert not handed.exists()
