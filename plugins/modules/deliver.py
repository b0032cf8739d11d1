#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deliver
short_description: Install eri_sn_cert.pem and ca.pem on an MX-ONE service node (or ca.pem on a download server)
version_added: 0.1.0
description:
  - Builds C(eri_sn_cert.pem) (private key, server certificate, intermediates closest first, root) in memory on
    the controller from the PKI store, checks it as the node would, and installs it with C(ca.pem) on the node
    in one SSH round trip.
  - The files travel on the SSH channel's standard input (not the command line) to a POSIX sh script on the
    node; nodes need coreutils only, no Python.
  - Each file is unpacked beside its target, its SHA-256 checked, and renamed into place; a reader never sees a
    partial file. Nothing is installed if any file cannot be unpacked (for example a full disk).
  - A file whose content and mode already match is left alone. A file that is replaced is first copied to
    C(<name>.previous), the bundle to roll back to.
  - In check mode nothing is sent; the node's files are compared by SHA-256 and mode with what would be installed.
  - This is an action plugin; it honours C(become).
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
options:
  certificate:
    description: The node's certificate in the controller's PKI store. Omit it for a download server (C(ca.pem) only).
    type: dict
    suboptions:
      cert_path:
        description: Server certificate (PEM).
        type: path
        required: true
      key_path:
        description: Its private key (PEM, possibly encrypted).
        type: path
        required: true
      key_passphrase:
        description: Passphrase of the key.
        type: str
      chain_path:
        description: CA chain, closest to the server certificate first; defaults to O(ca_path).
        type: path
  ca_path:
    description: The CA file on the controller that becomes C(ca.pem) on the node. Required unless O(restore).
    type: path
  dest_dir:
    description: Directory on the node.
    type: str
    default: /etc/opt/eri_sn/certs
  bundle_name:
    description: File name of the bundle.
    type: str
    default: eri_sn_cert.pem
  ca_name:
    description: File name of the CA file.
    type: str
    default: ca.pem
  pending_certificate:
    description:
      - Check mode only; the certificate will be (re)issued before delivery (the issuing step said so in this
        check run), so report the bundle as changing (V(would-reissue)) instead of comparing the old one.
      - Deprecated with the P(mxone.pki.delivery_targets#filter) filter that sets it; O(manifest) needs no pending
        flag (the manifest holds each file's hash).
    type: bool
    default: false
  pending_ca:
    description:
      - Check mode only; the CA does not exist yet, so every file would change.
      - Deprecated with the P(mxone.pki.delivery_targets#filter) filter that sets it; use O(manifest).
    type: bool
    default: false
  settings:
    description:
      - C(Key; value) lines to set in the node's configuration files in the same round trip, for example
        C(TlsClientVerificationMode) in C(/etc/opt/eri_sn/ip_telephony.conf). Other lines are kept; earlier lines
        of the key are replaced by one; the file is rewritten atomically and the old one kept as C(.previous).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The configuration file on the node.
        type: str
        required: true
      key:
        description: The setting's name.
        type: str
        required: true
      value:
        description: Its value.
        type: str
        required: true
  activation:
    description:
      - The bundle needs an activation (C(reload)) to take effect. A new install then leaves a marker beside it
        (C(.mxone-activation-pending)) until O(activated) clears it; a run that finds the bundle in place but the
        marker still there reports the node as changed (V(pending)), so an activation lost to an interrupted run
        happens on the next one.
    type: bool
    default: false
  activated:
    description: Only clear the activation marker (after a successful reload) and return.
    type: bool
    default: false
  restore:
    description:
      - Roll back instead; put C(eri_sn_cert.pem.previous) and C(ca.pem.previous) back in place (atomically), where
        they exist, and clear the activation marker. O(certificate) and O(ca_path) are not read.
    type: bool
    default: false
  pending_facts:
    description: Check mode only; facts of the certificate the issuing step would make, shown as the diff's after side.
    type: dict
  targets:
    description:
      - Serve many hosts from one task (use it with C(run_once)); each element is a host name (for O(restore) and
        O(activated)) or a dict with C(host) and the per-host options above (C(certificate), C(ca_path),
        C(dest_dir), C(settings), C(activation), C(pending_certificate), C(pending_ca), C(pending_facts)), or
        C(host) and C(stop), a message to fail that host with and send it nothing.
      - Each certificate's bundle is built and checked once, however many hosts get it; the hosts are served in
        parallel (at most C(forks) at a time), each through the connection and become settings of its own
        inventory variables. One host's failure does not stop the others.
      - The filter P(mxone.pki.delivery_targets#filter) makes this list from the fleet plan.
    type: list
    elements: raw
  manifest:
    description:
      - Serve the hosts of the play from the manifest of the plan step (M(mxone.pki.fleet_manifest),
        C(mxone_fleet.manifest)), instead of O(targets). Each file's bytes are built from the PKI store and must
        hash to the manifest's SHA-256, or nothing is written to that host; in check mode a file the store does not
        hold yet is compared on the node by that hash alone, so no pending flags are needed.
    type: dict
  key_passphrase:
    description: With O(targets), the passphrase of every certificate's key in the PKI store.
    type: str
  pki_host:
    description:
      - Where the PKI store is - V(localhost) (the controller; also when empty) or an inventory host
        (C(mxone_pki_host)), whose store files are then read into the controller's memory once, never written here.
    type: str
    default: localhost
  public_copies:
    description:
      - With a remote O(pki_host), store path to a path on the controller - public certificates (never a key) to
        copy there as they are read, for the TLS checks that run on the controller (C(mxone_fleet.plan.public_copies)).
    type: dict
    default: {}
  report:
    description:
      - One host's entry of an earlier O(targets) result (C(results[inventory_hostname])), returned as this host's
        own result - changed, failed or unreachable, its message, files and diff - without contacting the node.
        So the recap counts each node and handlers are notified per node.
    type: dict
notes:
  - C(eri_sn_cert.pem) is written with mode C(0600), C(ca.pem) with C(0644).
seealso:
  - module: mxone.pki.server_cert
"""

EXAMPLES = r"""
- name: Every node of the play at once, from the plan step's manifest (mxone.pki.fleet_manifest)
  mxone.pki.deliver:
    manifest: "{{ mxone_fleet.manifest }}"
    key_passphrase: "{{ mxone_ca_passphrase }}"
  run_once: true
  register: mxone_deliver_result

- name: Install the system's bundle and CA file on every LIM
  mxone.pki.deliver:
    certificate:
      cert_path: pki/certs/sthlm/server.pem
      key_path: pki/certs/sthlm/server.key
      key_passphrase: "{{ mxone_ca_passphrase }}"
    ca_path: pki/ca/ca.pem
  notify: mxone certificates changed

- name: Put ca.pem where phones fetch it
  mxone.pki.deliver:
    ca_path: pki/ca/ca.pem
    dest_dir: "{{ mxone_download_dir }}"
"""

RETURN = r"""
files:
  description:
    - Status of each file on the node; V(unchanged), V(missing), V(content), V(mode), V(pending) (installed earlier,
      activation not yet done), prefixed V(would-) in check mode; V(would-reissue) when the certificate is yet to be
      issued.
  returned: always
  type: dict
  sample: {/etc/opt/eri_sn/certs/eri_sn_cert.pem: content, /etc/opt/eri_sn/certs/ca.pem: unchanged}
reason:
  description: Why the node changed, per file, or null.
  returned: always
  type: str
  sample: eri_sn_cert.pem content
previous:
  description: Copies of the replaced files, to roll back to.
  returned: success
  type: list
  elements: str
results:
  description: With O(targets), the result of each host (C(changed), C(failed), C(msg), C(files), C(reason), C(previous)).
  returned: with targets
  type: dict
changed_hosts:
  description: With O(targets), the hosts whose files changed.
  returned: with targets
  type: list
  elements: str
failed_hosts:
  description: With O(targets), the hosts that failed (unreachable, a full disk, a stop ...).
  returned: with targets
  type: list
  elements: str
"""
