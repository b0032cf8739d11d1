#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: run_lock
short_description: Take, refresh or release a run's lease on a PKI store on the PKI host
version_added: 0.2.0
description:
  - One run at a time per PKI store. With a PKI host (C(mxone_pki_host)) the store and its run lock
    C(<pki_dir>/.run.lock) are on that host, and the run's controller is another machine whose process cannot
    be looked at from there. The run holds a I(lease) instead - holder id (controller host, ansible-playbook
    pid, a random run id), C(since) and C(lease_until) - refreshed by the run's steps on the PKI host and
    released at its end. A lease past its end is stale and taken over.
  - Runs on the PKI host (C(delegate_to)); M(mxone.pki.fleet_plan) calls it there to take the lock, and the roles
    to refresh and release it. Needs no cryptography.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
attributes:
  check_mode:
    support: none
    details: The lock is a run's own bookkeeping; the roles do not take it in check mode.
  diff_mode:
    support: none
options:
  pki_dir:
    description: The PKI store on this host (created, mode C(0700), when missing).
    type: path
    required: true
  holder:
    description: This run's holder id, C(<controller host>:<pid>:<run id>).
    type: str
    required: true
  state:
    description:
      - V(acquired) - take the lock, waiting up to O(timeout) seconds for another run's lease.
      - V(refreshed) - extend this run's lease; fails when it ran out and another run took the lock.
      - V(released) - drop the lock if this run holds it.
    type: str
    choices: [acquired, refreshed, released]
    default: acquired
  lease:
    description: Seconds the lease lasts from now (each refresh starts it again).
    type: int
    default: 1800
  timeout:
    description: Seconds to wait for another run's lease before failing with a message naming its holder.
    type: int
    default: 300
  poll:
    description: Seconds between two looks at a held lock.
    type: float
    default: 1.0
  replace:
    description:
      - The holder id of a run known to be gone (O(state=acquired)) - M(mxone.pki.fleet_plan) passes the id of an
        earlier run of the same controller whose ansible-playbook process is dead, so a failed run's lease does
        not make the next run wait for it to expire. Taken over at once; any other holder is waited for.
    type: str
  probe:
    description: Paths on this host to report as existing or not (O(state=acquired)), e.g. the CA certificate.
    type: list
    elements: path
    default: []
notes:
  - The controller's own store (C(mxone_pki_host=localhost), the default) keeps its pid-based lock in
    M(mxone.pki.fleet_plan); a live lease is respected there too.
seealso:
  - module: mxone.pki.fleet_plan
"""

EXAMPLES = r"""
- name: Refresh this run's lease on the PKI store
  mxone.pki.run_lock:
    pki_dir: "{{ mxone_fleet.plan.pki_dir }}"
    holder: "{{ mxone_fleet.plan.lock.holder }}"
    lease: "{{ mxone_fleet.plan.lock.lease }}"
    state: refreshed
  delegate_to: "{{ mxone_fleet.plan.pki_host }}"
  run_once: true
"""

RETURN = r"""
lock:
  description: The lock file's content after the run (O(state=acquired) or V(refreshed)).
  returned: success, unless O(state=released)
  type: dict
  contains:
    id:
      description: Holder id.
      type: str
    since:
      description: When this run took the lock, epoch seconds.
      type: float
    lease_until:
      description: End of the lease, epoch seconds.
      type: float
path:
  description: The lock file.
  returned: always
  type: str
  sample: /srv/mxone-pki/.run.lock
waited:
  description: Seconds this run waited for another run's lease (O(state=acquired)).
  returned: when O(state=acquired)
  type: float
waited_for:
  description: The holder this run waited for, in words, or null.
  returned: when O(state=acquired)
  type: str
released:
  description: Whether this run's lock was dropped (O(state=released)).
  returned: when O(state=released)
  type: bool
holder:
  description: On failure to take the lock, the holder's lock file content (id, host, pid, run, since, lease_until).
  returned: when another run holds the lock
  type: dict
exists:
  description: For each O(probe) path, whether it exists.
  returned: when O(state=acquired)
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.runlock import (
    LOCK_NAME, acquire_lease, describe, refresh_lease, release_lease)


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them."""
    return dict(argument_spec=dict(
        pki_dir=dict(type="path", required=True),
        holder=dict(type="str", required=True),
        state=dict(type="str", choices=["acquired", "refreshed", "released"], default="acquired"),
        lease=dict(type="int", default=1800),
        timeout=dict(type="int", default=300),
        poll=dict(type="float", default=1.0),
        probe=dict(type="list", elements="path", default=[]),
        replace=dict(type="str"),
    ))


def run(module):
    """The module's work; its action plugin calls this too, in-process on the controller."""
    params = module.params
    pki_dir, holder = params["pki_dir"], params["holder"]
    path = os.path.join(pki_dir, LOCK_NAME)
    try:
        if params["state"] == "released":
            module.exit_json(changed=False, path=path, released=release_lease(pki_dir, holder))
        if params["state"] == "refreshed":
            module.exit_json(changed=False, path=path, lock=refresh_lease(pki_dir, holder, params["lease"]))
        lock, waited, waited_for = acquire_lease(pki_dir, holder, params["lease"], float(params["timeout"]),
                                                 params["poll"], replace=params["replace"])
    except MxonePkiError as error:
        extra = dict(holder=error.holder) if getattr(error, "holder", None) else {}
        module.fail_json(msg=str(error), **dict(error.context(), **extra))
    module.exit_json(changed=False, path=path, lock=lock, waited=round(waited, 1),
                     waited_for=describe(waited_for) if waited_for else None,
                     exists=dict((p, os.path.exists(p)) for p in params["probe"]))


def main():
    run(AnsibleModule(supports_check_mode=False, **module_kwargs()))


if __name__ == "__main__":
    main()
