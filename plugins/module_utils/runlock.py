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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import time

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

LOCK_NAME = ".run.lock"


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
    if not os.path.isdir(pki_dir):
        os.makedirs(pki_dir, mode=0o700)
    path = os.path.join(pki_dir, LOCK_NAME)
    me = dict(pid=pid, host=socket.gethostname(), since=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    started = clock()
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            holder = read_holder(path)
            if holder and holder.get("pid") == pid and holder.get("host") == me["host"]:
                return path, clock() - started
            if not _holder_alive(holder):
                try:
                    os.unlink(path)  # stale: its run is gone
                except FileNotFoundError:
                    pass
                continue
            if clock() - started >= timeout:
                raise MxonePkiError(
                    "another run holds the PKI store %s (ansible-playbook pid %s on %s since %s); waited %ds. "
                    "Let it finish, or remove %s if that process is gone"
                    % (pki_dir, holder.get("pid"), holder.get("host"), holder.get("since"), timeout, path),
                    file=path)
            sleep(poll)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        return path, clock() - started


def release(pki_dir, pid):
    """Drop the lock if this run holds it; True when it did."""
    path = os.path.join(pki_dir, LOCK_NAME)
    holder = read_holder(path)
    if holder and holder.get("pid") == pid and holder.get("host") == socket.gethostname():
        os.unlink(path)
        return True
    return False
