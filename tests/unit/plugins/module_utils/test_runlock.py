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


# The lease rule (a PKI host: the holder's process is on another machine), on a fixed clock.

import json  # noqa: E402

import pytest  # noqa: E402

NOW = 1_800_000_000.0
ME = runlock.lease_id("ctl-a", 4242, "r1")
OTHER = runlock.lease_id("ctl-b", 77, "r2")


@pytest.mark.parametrize("holder, now, state", [
    (None, NOW, "free"),
    ({}, NOW, "free"),
    (runlock.new_lease(ME, NOW - 50, 60), NOW, "mine"),
    (runlock.new_lease(ME, NOW - 500, 60), NOW, "mine"),  # its own expired lease is still its own to refresh
    (runlock.new_lease(OTHER, NOW - 50, 60), NOW, "held"),
    (runlock.new_lease(OTHER, NOW - 60, 60), NOW, "held"),  # up to and including lease_until
    (runlock.new_lease(OTHER, NOW - 61, 60), NOW, "stale"),
    (dict(runlock.new_lease(OTHER, NOW, 60), lease_until="soon"), NOW, "stale"),
    (dict(runlock.new_lease(OTHER, NOW, 60), lease_until=None), NOW, "stale"),
    # a pid lock of a run on the PKI host's own machine: that process is alive (this test's)
    (dict(pid=os.getpid(), host=__import__("socket").gethostname(), since="x"), NOW, "held"),
    # a pid lock of another machine: it cannot be checked, respect it
    (dict(pid=1, host="elsewhere.example", since="x"), NOW, "held"),
])
def test_lease_state(holder, now, state):
    assert runlock.lease_state(holder, ME, now) == state


def test_new_lease_carries_host_pid_run_and_times():
    lease = runlock.new_lease(ME, NOW, 900)
    assert lease == dict(id=ME, host="ctl-a", pid="4242", run="r1", since=NOW, lease_until=NOW + 900)
    assert runlock.new_lease(ME, NOW + 10, 900, since=NOW)["since"] == NOW


class Clock(object):
    def __init__(self, start=NOW):
        self.now = start

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_a_second_run_waits_for_the_lease_then_takes_it_when_it_is_released(tmp_path):
    pki, clock = str(tmp_path / "pki"), Clock()
    mine, waited, waited_for = runlock.acquire_lease(pki, OTHER, 600, now=clock, sleep=clock.sleep)
    assert (waited, waited_for) == (0, None) and mine["lease_until"] == NOW + 600
    releases = iter([False, False, True])

    def sleep(seconds):  # the first run ends while the second waits
        clock.sleep(seconds)
        if next(releases):
            assert runlock.release_lease(pki, OTHER)
    mine, waited, waited_for = runlock.acquire_lease(pki, ME, 600, poll=5, now=clock, sleep=sleep)
    assert mine["id"] == ME and waited == 15 and waited_for["id"] == OTHER


def test_a_lease_taken_at_once_reports_no_wait_however_slow_the_host(tmp_path):
    pki, clock = str(tmp_path / "pki"), Clock()

    def slow():  # every look at the clock 0.3 s later: a loaded PKI host
        clock.now += 0.3
        return clock.now
    runlock.acquire_lease(pki, OTHER, 600, now=clock, sleep=clock.sleep)
    dummy, waited, waited_for = runlock.acquire_lease(pki, ME, 600, timeout=0, now=slow, sleep=clock.sleep,
                                                      replace=OTHER)
    assert (waited, waited_for) == (0, None)


def test_an_expired_lease_is_taken_over_and_a_live_one_stops_the_run_naming_its_holder(tmp_path):
    pki, clock = str(tmp_path / "pki"), Clock()
    runlock.acquire_lease(pki, OTHER, 60, now=clock, sleep=clock.sleep)
    with pytest.raises(runlock.MxonePkiError) as error:
        runlock.acquire_lease(pki, ME, 600, timeout=30, poll=10, now=clock, sleep=clock.sleep)
    assert "run r2 (ansible-playbook pid 77 on ctl-b)" in str(error.value) and "waited 30s" in str(error.value)
    clock.now = NOW + 61  # the first run died: its lease ran out
    mine, waited, dummy = runlock.acquire_lease(pki, ME, 600, now=clock, sleep=clock.sleep)
    assert mine["id"] == ME and waited == 0
    assert not runlock.release_lease(pki, OTHER)  # the dead run's late release does not drop the new lock


def test_refresh_extends_the_lease_and_fails_once_another_run_took_it(tmp_path):
    pki, clock = str(tmp_path / "pki"), Clock()
    runlock.acquire_lease(pki, ME, 60, now=clock, sleep=clock.sleep)
    clock.now += 50
    assert runlock.refresh_lease(pki, ME, 60, now=clock) == runlock.new_lease(ME, NOW + 50, 60, since=NOW)
    clock.now += 200  # the lease ran out; another run took the lock
    runlock.acquire_lease(pki, OTHER, 60, now=clock, sleep=clock.sleep)
    with pytest.raises(runlock.MxonePkiError) as error:
        runlock.refresh_lease(pki, ME, 60, now=clock)
    assert "another run took it" in str(error.value)
    lock = os.path.join(pki, runlock.LOCK_NAME)
    assert json.load(open(lock))["id"] == OTHER and oct(os.stat(lock).st_mode & 0o777) == "0o600"


def test_a_local_run_respects_a_live_lease_and_takes_over_an_expired_one(tmp_path):
    pki = str(tmp_path / "pki")
    os.makedirs(pki)
    lock = os.path.join(pki, runlock.LOCK_NAME)
    with open(lock, "w") as handle:
        json.dump(runlock.new_lease(OTHER, __import__("time").time(), 600), handle)
    with pytest.raises(runlock.MxonePkiError):
        runlock.acquire(pki, os.getpid(), timeout=0, poll=0)
    with open(lock, "w") as handle:
        json.dump(runlock.new_lease(OTHER, __import__("time").time() - 700, 600), handle)
    assert runlock.acquire(pki, os.getpid(), timeout=0, poll=0)[0] == lock
    assert runlock.release(pki, os.getpid())


def test_a_holder_named_as_gone_is_taken_over_at_once_and_no_other(tmp_path):
    pki, clock = str(tmp_path / "pki"), Clock()
    runlock.acquire_lease(pki, OTHER, 600, now=clock, sleep=clock.sleep)
    with pytest.raises(runlock.MxonePkiError) as error:
        runlock.acquire_lease(pki, ME, 600, timeout=0, now=clock, sleep=clock.sleep, replace="ctl-b:78:r3")
    assert error.value.holder["id"] == OTHER  # the controller reads the holder to judge its own dead runs
    mine, waited, dummy = runlock.acquire_lease(pki, ME, 600, timeout=0, now=clock, sleep=clock.sleep, replace=OTHER)
    assert mine["id"] == ME and waited == 0
