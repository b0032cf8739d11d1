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


def release(pki_dir, pid):
    """Drop the lock if this run holds it; True when it did."""
    path = os.path.join(pki_dir, LOCK_NAME)
    if not os.path.isdir(pki_dir):
        return False
    with _guard(pki_dir):
        holder = read_holder(path)
        if holder and holder.get("pid") == pid and holder.get("host") == socket.gethostname():
            os.unlink(path)
            return True
    return False
