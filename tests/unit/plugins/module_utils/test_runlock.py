"""One run at a time per PKI store (module_utils/runlock.py), with real processes racing for it."""

import multiprocessing
import os
import time

from ansible_collections.mxone.pki.plugins.module_utils import runlock


def _one_run(pki, log):
    runlock.acquire(pki, os.getpid(), timeout=60, poll=0.005)
    with open(log, "a") as handle:
        handle.write("in %d\n" % os.getpid())
    time.sleep(0.02)
    with open(log, "a") as handle:
        handle.write("out %d\n" % os.getpid())
    assert runlock.release(pki, os.getpid())


def test_runs_started_at_once_on_a_new_store_never_overlap(tmp_path):
    pki, log = str(tmp_path / "pki"), str(tmp_path / "log")
    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=_one_run, args=(pki, log)) for dummy in range(8)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    assert [run.exitcode for run in runs] == [0] * 8
    lines = open(log).read().split()
    events = list(zip(lines[0::2], lines[1::2]))
    assert len(events) == 16
    for index in range(0, 16, 2):  # each "in" is followed by the same run's "out"
        assert events[index][0] == "in" and events[index + 1] == ("out", events[index][1])
    assert not os.path.exists(os.path.join(pki, runlock.LOCK_NAME))


def test_a_stale_lock_is_taken_over_and_a_live_one_waited_for(tmp_path):
    pki = str(tmp_path / "pki")
    os.makedirs(pki)
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    with open(os.path.join(pki, runlock.LOCK_NAME), "w") as handle:
        handle.write('{"pid": %d, "host": "%s"}' % (dead.pid, __import__("socket").gethostname()))
    path, waited = runlock.acquire(pki, os.getpid(), timeout=5, poll=0.01)
    assert runlock.read_holder(path)["pid"] == os.getpid() and waited < 5
    clock = iter([0.0, 0.0, 10.0, 10.0])
    try:
        runlock.acquire(pki, os.getppid(), timeout=1, poll=0, clock=lambda: next(clock), sleep=lambda s: None)
        raise AssertionError("a live holder must make the other run wait and then stop")
    except runlock.MxonePkiError as error:
        assert "another run holds the PKI store" in str(error)
    assert runlock.release(pki, os.getpid())
