"""Grading on a Dask distributed cluster, for classes that outgrow one machine (``rnnkit autograde --dask``).

This module only schedules: one task per :class:`~autograder.grading.job.Task`, graded on the worker by the same
:func:`autograder.grading.submission.grade` as on this machine, which returns an
:class:`~autograder.grading.job.Outcome`. A Dask worker needs the project installed (``pip install -e .`` in the
same layout) and the course folder at the same path (a shared file system): it reads the submission and the
release there, grades with a warm grader of its own, and writes ``results.json``; the gradebook and the
autograded notebooks are written on the instructor's side only, one writer for nbgrader's database. A worker lost
mid-task (killed, its machine gone) costs nothing: the scheduler runs the task again elsewhere.

Every connection is authenticated and encrypted (Dask's TLS security): ``--dask local`` starts a
``LocalCluster`` on 127.0.0.1 with a temporary certificate that only this process holds, so student code on the
same machine cannot reach the scheduler; a remote scheduler is reached at a ``tls://`` address with the
certificates of Dask's own configuration (``distributed.comm.tls`` in ``~/.config/dask/``).

    dask scheduler --host 10.0.0.1 --tls-ca-file ca.pem --tls-cert cert.pem --tls-key key.pem
    dask worker tls://10.0.0.1:8786 --nworkers 2 --nthreads 1 --tls-ca-file ca.pem --tls-cert cert.pem --tls-key key.pem
    rnnkit autograde --dask tls://10.0.0.1:8786
"""
import threading
import uuid

from autograder.errors import RnnkitError
from autograder.grading.job import GRADER_FAILURE, Outcome

_local = threading.local()


def grade_task(task):
    """Runs on a Dask worker: grades one submission with this worker thread's warm grader (kept across tasks)."""
    from autograder.grading import pool
    from autograder.sandbox import launch
    launch.best_level(task.level)  # this worker must offer the level the instructor asked for, or say so
    if not hasattr(_local, "pool"):
        _local.pool = pool.Pool(1, task.settings.warm)
    return _local.pool.grade(task).to_dict()


def check_level(level):
    """Student code at level ``none`` shares the host's network, and so could reach the cluster: refuse it."""
    if level == "none":
        raise RnnkitError("--dask needs a sandbox with its own network (bubblewrap or unshare): at level 'none' "
                          "student code could reach the Dask scheduler and workers")


def client_for(address, workers=2, security=None):
    """A Dask client (and the cluster it started, or None): ``local`` starts a LocalCluster of ``workers``
    processes on 127.0.0.1 behind a temporary TLS certificate."""
    try:
        from distributed import Client, LocalCluster
        from distributed.security import Security
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise RnnkitError("--dask needs the 'distributed' package: pip install distributed") from None
    if address == "local":
        security = Security.temporary()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               protocol="tls://", security=security, dashboard_address=None)
        return Client(cluster, security=security), cluster
    if not address.startswith("tls://"):
        raise RnnkitError(f"--dask {address}: only tls:// addresses are accepted (an unencrypted scheduler runs "
                          "code for anyone who reaches it); start the scheduler and workers with Dask's TLS "
                          "options, or use --dask local")
    try:
        return Client(address, timeout=30, security=security), None
    except OSError as err:
        raise RnnkitError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def schedule(tasks, address, workers=2, security=None):
    """Grades ``tasks`` on the cluster at ``address``; yields each :class:`Outcome` as it is ready."""
    from distributed import as_completed
    tasks = list(tasks)
    if not tasks:
        return
    check_level(tasks[0].level)
    client, cluster = client_for(address, workers, security)
    run = uuid.uuid4().hex[:8]
    try:
        futures = {client.submit(grade_task, task, key=f"grade-{task.assignment}-{task.student}-{run}",
                                 pure=False): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield Outcome.from_dict(future.result())
            except Exception as err:  # the task itself failed on every worker it was tried on
                yield Outcome(futures[future], GRADER_FAILURE, reason=f"on the Dask cluster: {type(err).__name__}: {err}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
