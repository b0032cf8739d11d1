#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: activate
short_description: Activate new certificates on an MX-ONE system, check TLS, roll back on failure
version_added: 0.1.0
description:
  - Runs on one LIM of the system (the commands act on the whole system), in the vendor's order and in one SSH
    round trip, each only if the one before succeeded - C(media_encryption_enable -type <t>) for each of
    O(media_encryption_types), C(data_backup), then C(reload --system) or C(reload -u <units>).
  - Then, from the controller, a TLS handshake to every LIM of the system with its chain and C(lim<N>.<domain>)
    checked (with the LIM's own certificate as client certificate where mutual TLS is on), retried while
    the listeners come up.
  - On success every LIM of the system is marked activated (the pending marker next to the bundle goes).
  - When a command or the TLS check fails, the changed LIMs get their previous C(eri_sn_cert.pem) and
    C(ca.pem) back, and if reload had run, reload runs again and TLS is checked again. The task then fails
    with one message - what failed, which LIMs were rolled back, and the state now.
  - In check mode nothing runs; the result says what would.
  - This is an action plugin; the role M(mxone.pki.mxone_activate) calls it from its handler.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  system:
    description: The system's id (C(mxone_system)), for messages.
    type: str
    required: true
  media_encryption_types:
    description: Types for C(media_encryption_enable -type); empty to skip that command.
    type: list
    elements: str
    default: []
  reload:
    description: V(system) runs C(reload --system); V(units) runs C(reload -u) with O(reload_units).
    type: str
    choices: [system, units]
    default: system
  reload_units:
    description: Program units for C(reload -u).
    type: str
    default: SIPLP,IPLP,TLP65,CSTServer
  lims:
    description: The system's LIMs (inventory host names) to mark as activated.
    type: list
    elements: str
    default: []
  changed_lims:
    description: The LIMs whose files this run changed; a rollback restores these.
    type: list
    elements: str
    default: []
  tls_groups:
    description:
      - Endpoints to check after reload, grouped by the CA file they are checked against (C(ca_path)), with
        C(client) (C(cert) and C(key) paths) for mutual-TLS LIMs; the filter P(mxone.pki.verify_endpoints#filter)
        makes them.
    type: list
    elements: dict
    default: []
  client_key_passphrase:
    description: Passphrase of the client keys in O(tls_groups).
    type: str
  tls_retries:
    description: Retries of a LIM that refuses or times out (a listener may need a moment after reload).
    type: int
    default: 5
  tls_retry_delay:
    description: Seconds between retries.
    type: float
    default: 1
"""

EXAMPLES = r"""
- name: Activate the new certificates on the system
  mxone.pki.activate:
    system: sthlm
    media_encryption_types: [extension]
    lims: [sthlm-lim1, sthlm-lim2]
    changed_lims: [sthlm-lim1, sthlm-lim2]
    tls_groups: "{{ mxone_fleet.plan | mxone.pki.verify_endpoints(ansible_play_hosts_all, [5061], 'sthlm') }}"
    client_key_passphrase: "{{ mxone_ca_passphrase }}"
  register: activation
"""

RETURN = r"""
system:
  description: The system.
  returned: always
  type: str
commands:
  description: The commands that ran, in order, with their exit codes (a reload after a rollback last).
  returned: always
  type: list
  elements: dict
  sample: [{command: media_encryption_enable -type extension, rc: 0}, {command: data_backup, rc: 0}, {command: reload --system, rc: 0}]
failure:
  description: What failed (a command with its exit code and output, or the LIMs that did not answer TLS), or null.
  returned: always
  type: str
rolled_back:
  description: The LIMs that got their previous bundle back.
  returned: always
  type: list
  elements: str
tls:
  description: The TLS check after reload, per group (as M(mxone.pki.tls_check) returns it).
  returned: when the commands succeeded
  type: list
  elements: dict
tls_after:
  description: The TLS check after the rollback's reload.
  returned: after a rollback that reloaded
  type: list
  elements: dict
"""
