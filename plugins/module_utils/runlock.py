# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run at a time per PKI store.

Two rollouts on the same store could each create a CA, or each issue a
certificate for one system. A run takes ``<pki>/.run.lock`` (created with
O_EXCL, holding the ansible-playbook PID, host and start time) before it
touches anything, and keeps it until it ends. A lock whose process is gone
(a run that was killed) is stale and taken over. A live one makes the new
run wait up to a timeout, then stop with a message naming the holder.

Checking the lock and taking it (or taking over a stale one) happens under
a short ``flock`` on ``<pki>/.run.lock.guard``: without it, a run could read
a lock file another run has just created but not yet written, take it for
stale, and remove it, and both runs would go on.

With a PKI host (``mxone_pki_host``) the lock lives in the store there and
its holder is a controller on another machine, whose process cannot be
looked at: the holder takes a *lease* instead. Its id is the controller's
host, the ansible-playbook pid and a random run id; ``since`` and
``lease_until`` are epoch seconds. The run's PKI-host steps refresh the
lease; a lease past ``lease_until`` is stale (its run died or lost its
network) and the next run takes the lock over. The rule is
``lease_state()``; ``acquire_lease()``, ``refresh_lease()`` and
``release_lease()`` apply it under the same guard.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import json
import os
import socket
import time

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

LOCK_NAME = ".run.lock"
GUARD_NAME = ".run.lock.guard"


@contextlib.contextmanager
def _guard(pki_dir):
    """Hold the guard while looking at or changing the lock; the kernel drops it if the process dies."""
    fd = os.open(os.path.join(pki_dir, GUARD_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _holder_alive(holder):
    if holder and "lease_until" in holder:  # a PKI-host run's lease: alive until it expires
        return lease_state(holder, None, time.time()) == "held"
    if not holder or holder.get("host") != socket.gethostname():
        return bool(holder)  # another machine's lock cannot be checked: respect it
    return _alive(int(holder.get("pid", 0)))


def acquire(pki_dir, pid, timeout=300.0, poll=0.5, clock=time.monotonic, sleep=time.sleep):
    """Take the lock for run ``pid``; return (path, waited seconds). Re-entrant for the same pid."""
    # Two runs may start at once on a new PKI store: both may find it missing.
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    path = os.path.join(pki_dir, LOCK_NAME)
    me = dict(pid=pid, host=socket.gethostname(), since=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    started = clock()
    while True:
        with _guard(pki_dir):
            holder = read_holder(path) if os.path.exists(path) else None
            if holder and holder.get("pid") == pid and holder.get("host") == me["host"]:
                return path, clock() - started
            if os.path.exists(path) and not _holder_alive(holder):
                os.unlink(path)  # stale: its run is gone
            if not os.path.exists(path):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    json.dump(me, handle)
                return path, clock() - started
        if clock() - started >= timeout:
            raise MxonePkiError(
                "another run holds the PKI store %s (ansible-playbook pid %s on %s since %s); waited %ds. "
                "Let it finish, or remove %s if that process is gone"
                % (pki_dir, (holder or {}).get("pid"), (holder or {}).get("host"), (holder or {}).get("since"),
                   timeout, path),
                file=path)
        sleep(poll)


def _release_if(pki_dir, is_mine):
    """Drop the lock if ``is_mine(holder)``; True when it did."""
    path = os.path.join(pki_dir, LOCK_NAME)
    if not os.path.isdir(pki_dir):
        return False
    with _guard(pki_dir):
        holder = read_holder(path)
        if holder and is_mine(holder):
            os.unlink(path)
            return True
    return False


def release(pki_dir, pid):
    """Drop the controller's pid lock if this run holds it; True when it did."""
    return _release_if(pki_dir, lambda holder: holder.get("pid") == pid and holder.get("host") == socket.gethostname())


# The lease rule (PKI host): plain functions on a holder dict and a clock value.

def lease_id(host, pid, run_id):
    """The holder id of one run: controller host, ansible-playbook pid, random run id."""
    return "%s:%s:%s" % (host, pid, run_id)


def new_lease(holder_id, now, lease_seconds, since=None):
    """The lock file's content for ``holder_id``, valid ``lease_seconds`` from ``now``."""
    host, dummy, rest = holder_id.partition(":")
    pid, dummy, run_id = rest.partition(":")
    return dict(id=holder_id, host=host, pid=pid, run=run_id, since=now if since is None else since,
                lease_until=now + lease_seconds)


def lease_state(holder, holder_id, now):
    """What a lock file means to run ``holder_id`` at ``now``: free, mine, stale or held.

    A lease is held up to and including ``lease_until``; after that it is stale. A lock without a lease
    (a run with the store on its own machine, pid-based) is judged by ``_holder_alive`` instead, so it is
    ``held`` here unless unreadable.
    """
    if not holder:
        return "free"
    if holder_id is not None and holder.get("id") == holder_id:
        return "mine"
    if "lease_until" not in holder:
        return "held" if _holder_alive(holder) else "stale"
    try:
        until = float(holder["lease_until"])
    except (TypeError, ValueError):
        return "stale"  # an unreadable lease protects nothing
    return "held" if now <= until else "stale"


def describe(holder):
    """The holder in words, for the message of the run that waits."""
    if not holder:
        return "nobody"
    if "lease_until" in holder:
        return "run %s (ansible-playbook pid %s on %s) since %s, lease until %s" % (
            holder.get("run"), holder.get("pid"), holder.get("host"), _utc(holder.get("since")),
            _utc(holder.get("lease_until")))
    return "ansible-playbook pid %s on %s since %s" % (holder.get("pid"), holder.get("host"), holder.get("since"))


def _utc(epoch):
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))
    except (TypeError, ValueError):
        return str(epoch)


def _write(path, holder, exclusive):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o600), "w") as handle:
        json.dump(holder, handle)


def process_alive(pid):
    """Whether process ``pid`` runs on this machine (a controller looks at its own earlier runs)."""
    return _alive(int(pid))


def acquire_lease(pki_dir, holder_id, lease_seconds, timeout=300.0, poll=1.0, now=time.time, sleep=time.sleep,
                  replace=None):
    """Take the lock for ``holder_id`` with a lease; (holder written, seconds waited, holder waited for or None).

    ``replace``: the id of a holder known to be gone (its controller found its process dead): taken over at once.
    """
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    path = os.path.join(pki_dir, LOCK_NAME)
    started = now()
    waited_for = None
    while True:
        with _guard(pki_dir):
            holder = read_holder(path) if os.path.exists(path) else None
            state = lease_state(holder, holder_id, now())
            if state == "held" and replace and holder.get("id") == replace:
                state = "stale"
            if state in ("mine", "stale") or (state == "free" and os.path.exists(path)):
                os.unlink(path)
            if state != "held":
                since = holder.get("since") if state == "mine" else None
                mine = new_lease(holder_id, now(), lease_seconds, since)
                _write(path, mine, exclusive=True)
                # Waited only if another run held it: a slow first look (a loaded host) is no wait to report.
                return mine, (now() - started) if waited_for else 0, waited_for
        waited_for = holder
        if now() - started >= timeout:
            error = MxonePkiError(
                "another run holds the PKI store %s: %s; waited %ds. Let it finish; its lease expires by itself "
                "if that run is gone" % (pki_dir, describe(holder), timeout), file=path)
            error.holder = holder  # for the controller: is that its own earlier, dead run?
            raise error
        sleep(poll)


def refresh_lease(pki_dir, holder_id, lease_seconds, now=time.time):
    """Extend this run's lease; the holder written. Fails when the lock is no longer this run's."""
    path = os.path.join(pki_dir, LOCK_NAME)
    with _guard(pki_dir):
        holder = read_holder(path) if os.path.exists(path) else None
        if lease_state(holder, holder_id, now()) != "mine":
            raise MxonePkiError(
                "this run's lease on the PKI store %s ran out and %s; stop and run again (a longer "
                "mxone_plan_lock_lease keeps a slow run's lock)" % (
                    pki_dir, ("another run took it: " + describe(holder)) if holder else "the lock is gone"),
                file=path)
        mine = new_lease(holder_id, now(), lease_seconds, holder.get("since"))
        _write(path, mine, exclusive=False)
        return mine


def release_lease(pki_dir, holder_id):
    """Drop the PKI host's lease if this run holds it; True when it did."""
    return _release_if(pki_dir, lambda holder: holder.get("id") == holder_id)
