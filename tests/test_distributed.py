"""Grading on a Dask cluster (a LocalCluster on 127.0.0.1, behind TLS): every submission graded once, the gradebook
written on the instructor's side, a worker killed in the middle of a grading costs nothing, and nothing without the
cluster's certificate (student code on the same machine) can talk to the scheduler."""
import os
import signal
import threading
import time

import pytest

from autograder.errors import RnnkitError
from autograder.grading import batch
from autograder.grading import distributed as dask_grading
from autograder.simulation import catalogue, submissions

distributed = pytest.importorskip("distributed")
from distributed.security import Security  # noqa: E402
A1 = "01_rnn_cell"


def kill_a_busy_worker(address, security, killed, stop):
    """Watches the scheduler; kills the process of the first worker seen running a grading task."""
    with distributed.Client(address, timeout=30, security=security) as watcher:
        pids = watcher.run(os.getpid)
        while not stop.is_set():
            busy = [worker for worker, tasks in watcher.processing().items() if tasks]
            if busy:
                time.sleep(1.0)  # well inside the grading: the warm grader and the sandbox are running
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)


def test_dask_grades_a_class_and_survives_a_killed_worker(built, level):
    course, answers = built
    reference = answers[A1]
    bug = catalogue.catalogue(A1)[0]
    class_ = {"dask-ref": reference, "dask-stubs": None, "dask-bug": catalogue.apply(reference, bug),
              "dask-ref2": reference}
    for student, spec in class_.items():
        submissions.submit(course, student, A1, spec)
    security = Security.temporary()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       protocol="tls://", security=security, dashboard_address=None)
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=kill_a_busy_worker, args=(cluster.scheduler_address, security, killed, stop))
    watcher.start()
    try:
        assert cluster.scheduler_address.startswith("tls://")
        with pytest.raises(OSError):  # no certificate, no connection: what student code on this machine would try
            distributed.Client(cluster.scheduler_address.replace("tls://", "tcp://"), timeout=3)
        graded, failures = batch.autograde(course, [A1], list(class_), level, force=True,
                                           dask=cluster.scheduler_address, dask_security=security,
                                           echo=lambda *_: None)
    finally:
        stop.set()
        watcher.join()
        cluster.close()
    assert killed, "no worker was seen grading"
    assert failures == 0
    scores = {student: graded[(student, A1)] for student in class_}
    assert scores["dask-ref"].score == scores["dask-ref"].max_score == scores["dask-ref2"].score > 0
    assert scores["dask-stubs"].score == 0
    assert scores["dask-bug"].items()[bug.cell].lost
    for student in class_:  # written on the shared course folder by the workers, read back by the instructor
        assert os.path.exists(course.results_file(student, A1))
        assert os.path.exists(os.path.join(course.autograded_dir(student, A1), f"{A1}.ipynb"))


def test_dask_refuses_an_unencrypted_scheduler_and_a_sandbox_sharing_the_network():
    with pytest.raises(RnnkitError, match="only tls://"):
        dask_grading.client_for("tcp://127.0.0.1:8786")
    with pytest.raises(RnnkitError, match="own network"):
        dask_grading.check_level("none")
