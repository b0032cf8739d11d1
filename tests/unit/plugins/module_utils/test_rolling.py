"""Rolling activation across systems (module_utils/rolling.py): order, parallelism, stop after failure, window."""

import datetime
import threading
import time

import pytest

from ansible_collections.mxone.pki.plugins.module_utils import rolling
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

UTC = datetime.timezone.utc


class FakeClock(object):
    """A clock that moves only when an activation 'takes' time; thread-safe."""

    def __init__(self, start):
        self.now = start
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.now

    def advance(self, seconds):
        with self.lock:
            self.now += datetime.timedelta(seconds=seconds)


def sequential(outcomes, clock=None, log=None):
    """An activate() that records its start and takes 60 s of fake time; fails where outcomes say so."""
    def activate(system):
        if log is not None:
            log.append((system, clock() if clock else None))
        if clock:
            clock.advance(60)
        return dict(state="failed" if outcomes.get(system) else "activated", failed=bool(outcomes.get(system)))
    return activate


@pytest.mark.parametrize("value,total,expected", [
    (1, 10, 1), ("3", 10, 3), ("25%", 10, 3), ("10%", 3, 1), ("100%", 7, 7), (" 50 % ", 5, 3),
])
def test_parallel_count(value, total, expected):
    assert rolling.parallel_count(value, total) == expected


@pytest.mark.parametrize("value", [0, -1, "0%", "150%", "two", True, "1.5"])
def test_parallel_count_refuses_and_names_the_variable(value):
    with pytest.raises(MxonePkiError) as error:
        rolling.parallel_count(value, 4)
    assert error.value.field == "mxone_activate_parallel"


def test_order_puts_the_named_systems_first_then_inventory_order():
    assert rolling.activation_order(["a", "b", "c", "d"], ["c", "x", "a"]) == ["c", "a", "b", "d"]
    assert rolling.activation_order(["a", "b"]) == ["a", "b"]


def test_one_at_a_time_in_order_with_a_fake_clock():
    clock = FakeClock(datetime.datetime(2026, 11, 30, 22, 0, tzinfo=UTC))
    log = []
    results = rolling.run_rolling(["a", "b", "c"], sequential({}, clock, log), parallel=1, now=clock)
    assert [s for s, dummy in log] == ["a", "b", "c"]
    assert [(t - log[0][1]).seconds for dummy, t in log] == [0, 60, 120]  # each starts when the one before ended
    assert all(r["state"] == "activated" for r in results.values())


def test_the_first_failure_stops_the_rest_by_default():
    log = []
    results = rolling.run_rolling(["a", "b", "c"], sequential({"a": True}, log=log), parallel=1)
    assert [s for s, dummy in log] == ["a"]  # a is the canary
    assert results["b"] == dict(state="stopped", failed=False, reason="not activated: stopped after a failed")
    assert results["c"]["state"] == "stopped"


def test_max_failures_tolerates_that_many():
    log = []
    results = rolling.run_rolling(["a", "b", "c", "d"], sequential({"a": True, "b": True}, log=log), parallel=1,
                                  max_failures=1)
    assert [s for s, dummy in log] == ["a", "b"]
    assert results["c"]["reason"] == "not activated: stopped after a, b failed"


def test_parallel_never_runs_more_than_k_and_running_ones_finish_after_a_failure():
    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def activate(system):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if system in ("a", "b"):
            gate.wait()  # a and b are running at the same time
        if system == "b":
            time.sleep(0.3)  # a fails while b still runs
        with lock:
            running[0] -= 1
        return dict(state="failed" if system == "a" else "activated", failed=system == "a")

    results = rolling.run_rolling(["a", "b", "c", "d"], activate, parallel=2)
    assert peak[0] == 2
    assert results["a"]["state"] == "failed" and results["b"]["state"] == "activated"  # b was already running
    assert results["c"]["state"] == results["d"]["state"] == "stopped"


def test_a_window_that_closes_during_the_run_stops_new_starts():
    clock = FakeClock(datetime.datetime(2026, 11, 30, 4, 28, tzinfo=UTC))
    window = rolling.Window("22:00-04:30", "UTC")

    def hold(system, now):
        is_open, when = window.state(now)
        return None if is_open else "outside %s; opens at %s" % (window, when.isoformat())

    log = []
    results = rolling.run_rolling(["a", "b", "c"], sequential({}, clock, log), parallel=1, hold=hold, now=clock)
    assert [s for s, dummy in log] == ["a", "b"]  # 04:28 and 04:29 are inside; c would start at 04:30
    assert results["c"] == dict(state="pending", failed=False,
                                reason="outside 22:00-04:30 (UTC); opens at 2026-11-30T22:00:00+00:00")


@pytest.mark.parametrize("text,at,is_open,when", [
    ("22:00-04:30", "2026-11-30T21:59", False, "2026-11-30T22:00"),
    ("22:00-04:30", "2026-11-30T22:00", True, "2026-12-01T04:30"),
    ("22:00-04:30", "2026-12-01T03:00", True, "2026-12-01T04:30"),
    ("22:00-04:30", "2026-12-01T04:30", False, "2026-12-01T22:00"),
    ("01:00-05:00", "2026-11-30T12:00", False, "2026-12-01T01:00"),
    ("00:00-24:00", "2026-11-30T12:00", True, "2026-12-01T00:00"),
])
def test_window_state(text, at, is_open, when):
    zone = rolling.time_zone("Europe/Stockholm")
    now = datetime.datetime.fromisoformat(at).replace(tzinfo=zone)
    state, moment = rolling.Window(text, "Europe/Stockholm").state(now.astimezone(UTC))
    assert state is is_open
    assert moment.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes") == when


def test_window_in_another_zone_than_the_controller():
    window = rolling.Window("22:00-04:30", "Asia/Tokyo")  # UTC+9: 22:00 there is 13:00 UTC
    assert window.state(datetime.datetime(2026, 11, 30, 13, 30, tzinfo=UTC))[0] is True
    assert window.state(datetime.datetime(2026, 11, 30, 20, 0, tzinfo=UTC))[0] is False


@pytest.mark.parametrize("text,zone,field", [
    ("22-04", None, "mxone_activate_window"), ("25:00-04:00", None, "mxone_activate_window"),
    ("10:00-10:00", None, "mxone_activate_window"), ("22:00-04:30", "Mars/Olympus", "mxone_activate_timezone"),
])
def test_bad_windows_name_the_variable(text, zone, field):
    with pytest.raises(MxonePkiError) as error:
        rolling.Window(text, zone)
    assert error.value.field == field
