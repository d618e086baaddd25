"""Grading on a Dask distributed cluster, for classes that outgrow one machine (``rnnkit autograde --dask``).

One task per submission. A Dask worker needs the project installed (``pip install -e .`` in the same layout) and
the course folder at the same path (a shared file system): it reads the submission and the release there, grades
with a warm grader of its own, and writes ``results.json``; the gradebook and the autograded notebooks are written
on the instructor's side only, one writer for nbgrader's database. A worker lost mid-task (killed, its machine
gone) costs nothing: the scheduler runs the task again elsewhere, and a task that raises is retried
(``RETRIES``); what was graded before an interruption is kept by the usual check of ``results.json``.

    dask scheduler --host 10.0.0.1                                # on one machine
    dask worker tcp://10.0.0.1:8786 --nworkers 2 --nthreads 1     # on each grading machine
    rnnkit autograde --dask tcp://10.0.0.1:8786
"""
import threading
import uuid

from autograder.course import Course
from autograder.errors import RnnkitError
from autograder.results import SubmissionResults

RETRIES = 2
_local = threading.local()


def _pool():
    """One warm grader per Dask worker thread, kept across tasks."""
    from autograder.grading import pool
    if not hasattr(_local, "pool"):
        _local.pool = pool.Pool(1)
    return _local.pool


def grade_task(course_root, assignment, student, level, force, items=None, salt=""):
    """Runs on a Dask worker: grades one submission; returns ``(Gradescope dict, kept?)``."""
    from autograder.grading import batch
    from autograder.sandbox import launch
    launch.best_level(level)  # this worker must offer the level the instructor asked for, or say so
    run, give_back = _pool().runner()
    try:
        results, kept = batch.grade_one(Course(course_root), assignment, student, level, force, items,
                                        runner=run, salt=salt)
    finally:
        give_back()
    return results.to_gradescope(), kept


def client_for(address, workers=2):
    """A Dask client: ``local`` starts a LocalCluster of ``workers`` processes on 127.0.0.1."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise RnnkitError("--dask needs the 'distributed' package: pip install distributed") from None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(address, timeout=30), None
    except OSError as err:
        raise RnnkitError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def results(course, todo, level, force, address, workers=2, items=None, salts=None):
    """Yields ``(student, assignment, (SubmissionResults, kept) or the exception)`` as tasks finish."""
    from distributed import as_completed
    client, cluster = client_for(address, workers)
    run = uuid.uuid4().hex[:8]
    try:
        futures = {client.submit(grade_task, course.root, assignment, student, level, force,
                                 (items or {}).get(student), (salts or {}).get(student, ""), key=f"grade-{assignment}-{student}-{run}", pure=False,
                                 retries=RETRIES): (student, assignment)
                   for student, assignment in todo}
        for future in as_completed(futures):
            student, assignment = futures[future]
            try:
                data, kept = future.result()
                yield student, assignment, (SubmissionResults.from_gradescope(data), kept)
            except Exception as err:
                yield student, assignment, err
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
