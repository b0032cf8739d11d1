#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_plan
short_description: Validate the MX-ONE inventory and return the fleet plan
version_added: 0.1.0
description:
  - Reads the inventory on the controller; every child group of O(systems_group) is one MX-ONE system, every
    host of O(download_group) a phone download server.
  - Validates the whole inventory at once, before any node is touched, and fails listing every problem with
    the host (or group) and the variable; a missing, duplicate or non-integer C(mxone_lim), a C(mxone_lim_ip)
    (or C(ansible_host)) that is not an IP, an invalid or one-label C(mxone_domain), a LIM in two systems,
    a system group without LIMs, a missing C(mxone_system), unknown C(mxone_cert_mode),
    C(mxone_media_encryption_types), C(mxone_reload) or C(mxone_tls_client_verification) values, system-wide
    settings that differ between LIMs of one system, a download server without C(mxone_download_dir).
  - Warns (without failing) about what is not an error but needs a word - an C(mxone_*) variable of a fleet host
    that no part of this collection reads (a typo such as C(mxone_extra_dsn)), once per variable and place (host,
    group, the whole fleet or C(--extra-vars)), with the nearest known name; and a fleet without download servers
    (no O(download_group) or an empty one), whose phones get no C(ca.pem) from the run. The known names are the
    plan's own and every option of every role's C(meta/argument_specs.yml), read at run time, plus the few that
    C(plugins/module_utils/variables.py) lists. Only variable names are looked at, never their values.
  - Returns the plan the roles of this collection work from; systems, their leader (lowest LIM), the
    certificates to issue (one per system, or per LIM with C(mxone_cert_mode=lim)) and which host gets which.
  - This is an action plugin; it runs inside ansible-playbook and needs no connection.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.check_only
options:
  systems_group:
    description: The group whose child groups are the MX-ONE systems.
    type: str
    default: mxone_systems
  download_group:
    description: The group of phone download servers.
    type: str
    default: mxone_download_servers
  encryption_only:
    description: Select only systems with C(mxone_encryption) true (enable_encryption.yml).
    type: bool
    default: false
  lock:
    description:
      - Take the run lock of the PKI store (C(<pki_dir>/.run.lock)), so that two runs never create two CAs or issue
        two certificates for one system. A second run waits up to O(lock_timeout) seconds, then stops with a message
        naming the holder. The lock of a run that is gone (killed) is taken over. Not taken in check mode.
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for another run's lock.
    type: int
    default: 300
  lock_lease:
    description:
      - With a remote O(pki_host), seconds the run's lease on the store's lock lasts (the lock of a run that died
        expires after this long).
    type: int
    default: 1800
  ca_create:
    description:
      - The CA interlock. When the PKI store holds no CA yet, the LIMs of the selected systems (not those in
        C(external) mode) are looked at first - the certificate each serves on 5061 and the CA certificates in its
        C(ca.pem) (one SSH round trip each). If the fleet already trusts a CA, the task fails before any change,
        naming that CA (subject, fingerprint, not-after), where it was seen and the store looked in.
      - V(true) replaces the fleet's CA on purpose (C(mxone_ca_create)).
    type: bool
    default: false
  release:
    description: Only release this run's lock (at the end of a play) and return.
    type: bool
    default: false
  holder:
    description: With O(release) and a remote O(pki_host), the holder of the lease to release (C(plan.lock.holder)).
    type: str
  pki_host:
    description:
      - Where the PKI store is - V(localhost) (the controller; also when empty) or an inventory host
        (C(mxone_pki_host)); the lock is then a lease there (M(mxone.pki.run_lock)) and the CA interlock reads the
        store from there.
    type: str
    default: localhost
  public_dir:
    description:
      - With a remote O(pki_host), the directory on the controller for copies of the store's public certificates
        (the CA, the server certificates and their chains, never a key) that the TLS checks read.
    type: path
    default: pki-public
  pki_dir:
    description:
      - The controller's PKI store; the plan gives each certificate its paths there (C(ca/ca.pem), C(ca/ca.key),
        C(certs/<id>/server.pem), C(server.key), C(server.csr), C(chain.pem)).
    type: path
    default: pki
seealso:
  - module: mxone.pki.server_cert
"""

EXAMPLES = r"""
- name: Validate the inventory and plan the rollout
  mxone.pki.fleet_plan:
  run_once: true
  register: plan

- name: Show the systems
  ansible.builtin.debug:
    msg: "{{ plan.plan.systems | dict2items | map(attribute='key') | list }}"
"""

RETURN = r"""
plan:
  description: The fleet plan.
  returned: success
  type: dict
  contains:
    systems:
      description: By system id; domain, group, leader, hosts, certificates, encryption, media_encryption_types, reload,
        window, timezone.
      type: dict
    hosts:
      description: By LIM host; system, lim, ip, fqdn, certificate (its id), tls_client_verification.
      type: dict
    certificates:
      description: Certificates to keep, by id; system, mode, lim, hosts, domain, lims, extra_dns, extra_ips, names, paths.
      type: dict
    ca:
      description: Paths of the enterprise CA certificate and key.
      type: dict
    download_ca:
      description: Path of the phones' CA file (every CA in use) written for the download servers.
      type: str
    download_servers:
      description: By host; dir, url.
      type: dict
    lock:
      description: The lock taken; path, and seconds waited for it.
      type: dict
    selected_systems:
      description: Systems with at least one host in this play (after C(--limit)); with O(encryption_only), only
        those with C(mxone_encryption) true.
      type: list
      elements: str
    order:
      description: The system ids in inventory order (the order they are activated in).
      type: list
      elements: str
    outside_limit:
      description: System id to the LIMs C(--limit) left out, for the systems it selects only in part.
      type: dict
    fleet_cas:
      description:
        - When the store had no CA - the CAs the fleet trusts (subject, sha256_fingerprint, not_after, served_by,
          in_ca_pem); empty on a fresh fleet.
      type: list
      elements: dict
fleet_cas:
  description: The CAs the fleet trusts, when the CA interlock stopped the run.
  returned: when the interlock failed the task
  type: list
  elements: dict
problems:
  description: Every inventory problem, when validation failed; where (host or group), field, msg.
  returned: failure
  type: list
  elements: dict
"""
