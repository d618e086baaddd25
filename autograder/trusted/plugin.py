"""The pytest plugin that runs a hidden suite against one submission (loaded with ``-p autograder.trusted.plugin``).

It reads the :class:`~autograder.grading.job.Job` written by :mod:`autograder.grading.submission` (the cells to
run, the seeds, the sandbox level, the settings), gives the tests their fixtures, and writes a
:class:`~autograder.grading.job.Record` per test: passed or not, and the message for the student. Only
:class:`CheckFailed` messages reach the student; any other exception is the grader's fault, reported as such, and
its traceback goes to the instructor's log alone (a traceback would show hidden test code).
"""
import functools
import os
import zlib

import numpy as np
import pytest

from assignments.common.checklib import CheckFailed
from autograder import project
from autograder.grading.job import Finished, Job, Record
from autograder.results import FAILED, FLAGGED, GRADER_ERROR, PASSED
from autograder.sandbox import launch
from autograder.trusted.student import StudentProcess
from autograder.trusted import suite
from autograder.trusted.suite import FLAGGED_FOR_STUDENT, ITEM_MARKER, Flagged

_records = []


def pytest_addoption(parser):
    parser.addoption("--rnnkit-job", help="job file written by autograder.grading.submission")


def pytest_configure(config):
    config.addinivalue_line("markers", ITEM_MARKER)
    path = config.getoption("--rnnkit-job")
    config._rnnkit_job = job = Job.read(path) if path else None
    if job:
        # Start the student's process now, so that it loads TensorFlow while this one collects the suite.
        launch.become_subreaper()
        settings = suite.SETTINGS = job.settings
        config._rnnkit_student = StudentProcess(
            job.cells, job.release, job.level, limits=job.sandbox_limits(), missing=job.missing,
            threads=settings.threads, load_timeout=settings.load_timeout, call_timeout=settings.call_timeout,
            reference_source=functools.partial(project.reference_source, job.assignment), budget=job.budget,
            wall_factor=settings.wall_factor)
        config._rnnkit_student.start()


def pytest_collection_modifyitems(config, items):
    job = config._rnnkit_job
    if job and job.items is not None:
        keep = [i for i in items if i.get_closest_marker("item") and i.get_closest_marker("item").args[0] in job.items]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def job(request):
    if request.config._rnnkit_job is None:
        pytest.exit("hidden suites run through `rnnkit autograde` (no --rnnkit-job given)", returncode=4)
    return request.config._rnnkit_job


@pytest.fixture(scope="session")
def student(request, job):
    process = request.config._rnnkit_student
    yield process
    process.close()


@pytest.fixture(autouse=True)
def _current_item(request):
    """Tells the student process which item is being checked, so a failed answer cell is named in messages."""
    marker = request.node.get_closest_marker("item")
    if marker and "student" in request.fixturenames:
        student = request.getfixturevalue("student")
        student.current_item, student.uses = marker.args[0], tuple(marker.kwargs.get("uses", ()))


@pytest.fixture(scope="session")
def seed(job):
    return int(job.seed)


@pytest.fixture(scope="session")
def hidden_seed(job):
    """Seeds held-out data (labels, texts): it must never be sent to the student's process, not even as a seed."""
    return int(job.hidden_seed)


@pytest.fixture
def rng(seed, request):
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.failed):
        marker = item.get_closest_marker("item")
        record = Record(test=item.name, doc=_first_paragraph(item.function.__doc__),
                        item=marker.args[0] if marker else None,
                        weight=marker.kwargs.get("weight", 1.0) if marker else 0.0,
                        status=PASSED, seconds=round(call.duration, 3))
        if report.failed:
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, Flagged):
                record.status, record.message, record.instructor_note = FLAGGED, FLAGGED_FOR_STUDENT, str(error)
            elif isinstance(error, CheckFailed):
                record.status, record.message = FAILED, str(error)
            else:  # the whole submission then counts as not graded (a grader failure), never as this score
                record.status, record.traceback = GRADER_ERROR, report.longreprtext[-8000:]
                record.message = "the grader could not complete this check (an error in the grader, not in your code)"
        _records.append(record)


def _first_paragraph(doc):
    """A docstring's first paragraph on one line: a test's description, whole."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def pytest_sessionfinish(session, exitstatus):
    launch.kill_tree(os.getpid(), include_root=False)  # no student process outlives its grading
    job = session.config._rnnkit_job
    if job and exitstatus in (0, 1):  # the suite ran to its end: anything else is no verdict at all
        student = getattr(session.config, "_rnnkit_student", None)
        Finished(records=_records, student_output=student.student_output() if student else "",
                 student_seconds=round(student.spent, 2) if student else 0.0,
                 student_starts=[student.starts, student.cold_starts] if student else [0, 0],
                 student_timeouts=student.timeouts if student else []).write(job.records)
