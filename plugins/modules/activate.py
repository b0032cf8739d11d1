#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: activate
short_description: Activate new certificates on MX-ONE systems, one system at a time, waiting for each reload
version_added: 0.1.0
description:
  - Runs once for the fleet (C(run_once)); O(systems) lists the systems whose certificates changed (the filter
    P(mxone.pki.activation_plan#filter) makes it). They are activated in inventory order (O(order) first),
    O(parallel) at a time; once more than O(max_failures) systems have failed no new system starts, and a system
    whose maintenance window is closed is not started (unless O(now)). Systems not started keep their delivered
    bundle pending (the marker beside it), so the next run activates them.
  - Per system, on one LIM (the commands act on the whole system), in the vendor's order and in one SSH round
    trip, each only if the one before succeeded - C(media_encryption_enable -type <t>) for each of its
    C(media_encryption_types), C(data_backup), then C(reload --system) or C(reload -u <units>).
  - A reload keeps every TLS listener of the system down for tens of seconds to minutes. So the controller then
    polls every LIM (TLS on 5061, chain and C(lim<N>.<domain>) checked, with the LIM's own certificate as client
    certificate where mutual TLS is on), with backoff, until each serves the certificate the PKI store holds for
    it, printing progress at least every O(progress_interval) seconds, up to O(timeout) seconds.
  - The system is rolled back only when a command failed, a LIM came back with another certificate (the old one,
    say) or one that fails the check, or the timeout passed - its changed LIMs get their previous
    C(eri_sn_cert.pem) and C(ca.pem) back, and if reload had run, reload runs again (retried while an earlier
    reload is still settling) and the controller waits for the previous certificate the same way.
  - On success every LIM of the system is marked activated (the pending marker next to the bundle goes).
  - With O(report), a host turns its system's part of the fleet result (RV(by_host)) into its own result - failed
    for a failed system, or one not started after another failed.
  - In check mode nothing runs; the result says per system what would run, or why it would wait.
  - This is an action plugin; the role M(mxone.pki.mxone_activate) calls it from its handlers.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.check_only
options:
  systems:
    description:
      - The systems to activate, one dict each, as P(mxone.pki.activation_plan#filter) returns them - C(system) (id),
        C(host) (the LIM that runs the commands), C(lims) (to mark activated), C(changed_lims) (what a rollback
        restores), C(media_encryption_types), C(reload) (V(system) or V(units)), C(window) and C(timezone) (its
        maintenance window, or null), C(expected) (LIM to the PKI store path of the certificate it must serve) and
        C(tls_groups) (endpoints grouped by C(ca_path), with C(client) C(cert)/C(key) for mutual-TLS LIMs) and
        C(command_path) (the directory of the vendor commands, put first on C(PATH); default C(/opt/eri_sn/bin)).
    type: list
    elements: dict
    default: []
  reload_units:
    description: Program units for C(reload -u).
    type: str
    default: SIPLP,IPLP,TLP65,CSTServer
  client_key_passphrase:
    description: Passphrase of the client keys in the C(tls_groups).
    type: str
  parallel:
    description: How many systems reload at the same time - a number, or a share of O(systems) such as C(25%).
    type: raw
    default: 1
  max_failures:
    description: Failed systems tolerated before no new system starts; 0 makes the first system a canary.
    type: int
    default: 0
  order:
    description: System ids to activate first, in this order; the rest follow in the order of O(systems).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait after reload for every LIM to serve its certificate.
    type: float
    default: 900
  now:
    description: Activate even where a system's maintenance window is closed.
    type: bool
    default: false
  progress_interval:
    description: Seconds between progress lines while waiting.
    type: float
    default: 30
  report:
    description: A host's part of a fleet result (an item of RV(by_host)), to show as this host's own result.
    type: dict
  licence:
    description:
      - Instead of activating, read C(license_status) on the leader of each of these systems, every leader at once,
        and return what each printed as RV(licence). Each item is a system of the fleet plan
        (C(mxone_fleet.plan.systems)) - C(system), C(leader) (the LIM asked; only if it is in the play) and
        C(command_path) (put first on the C(PATH), as for the activation commands). Read-only; it changes nothing.
        Judge each answer with P(mxone.pki.licence_problem#filter); RV(stopped) lists the systems it stops.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Activate the changed systems, two at a time, stopping after the first failure
  mxone.pki.activate:
    systems: "{{ mxone_fleet.plan | mxone.pki.activation_plan(mxone_deliver_result, ansible_play_hosts, ansible_play_hosts_all) }}"
    client_key_passphrase: "{{ mxone_ca_passphrase }}"
    parallel: 2
    timeout: 900
  run_once: true
  register: activation

- name: Each system's result on the LIM that ran its commands
  mxone.pki.activate:
    report: "{{ activation.by_host[inventory_hostname] }}"
  when: inventory_hostname in activation.by_host
"""

RETURN = r"""
systems:
  description:
    - Per system - C(state) (V(activated), V(failed), V(stopped) when not started after another failed, V(pending)
      when its window is closed, V(would-activate) in check mode), C(host), C(commands) (with exit codes, a reload
      after a rollback last), C(waited) (C(back) - seconds until each LIM served the new certificate, C(failed),
      C(elapsed)), C(outage) (C(start), C(end), C(seconds) - from reload's return to the last LIM back),
      C(failure), C(rolled_back), C(reason) and C(msg).
  returned: always
  type: dict
  sample:
    sthlm:
      state: activated
      host: sthlm-lim1
      commands: [{command: media_encryption_enable -type extension, rc: 0}, {command: data_backup, rc: 0},
                 {command: reload --system, rc: 0}]
      waited: {back: {sthlm-lim1: 41.5, sthlm-lim2: 43.0}, failed: {}, elapsed: 43.0}
      outage: {start: "2026-11-30T22:01:10+00:00", end: "2026-11-30T22:01:53+00:00", seconds: 43.0}
      failure: null
      rolled_back: []
order:
  description: The systems in the order they were (or would have been) started.
  returned: always
  type: list
  elements: str
parallel:
  description: How many systems could reload at once.
  returned: always
  type: int
by_host:
  description: Per host that runs a system's commands, what it reports with O(report).
  returned: always
  type: dict
licence:
  description:
    - With O(licence) - per system, the result of C(license_status) on its leader - C(rc), C(stdout), C(stderr);
      or C(unreachable) and C(msg) when the leader could not be reached.
  returned: when O(licence) is given
  type: dict
  sample:
    sthlm: {rc: 0, stdout: "VOIP-SECURITY   yes\n", stderr: ""}
stopped:
  description:
    - With O(licence) - the systems the licence check stops, in the order given - the licence is no or
      unreadable, the command failed, or the leader could not be asked (not in the play, unreachable).
  returned: when O(licence) is given
  type: list
  elements: str
"""
