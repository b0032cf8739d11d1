#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_manifest
short_description: The rollout's plan step - certificates of the fleet and the manifest of what every host must hold
version_added: 0.1.0
description:
  - One step where the PKI store is (the controller in-process, or the PKI host C(mxone_pki_host)), after the
    enterprise CA step (M(mxone.pki.enterprise_ca)) - each certificate of the selected systems issued, renewed or
    kept by the collection's renewal decision (as M(mxone.pki.server_cert) does), or taken from the customer's PKI
    (CSR out, the drop folder imported and judged; C(module_utils/external.py)), then the phones' CA file - and returns the manifest.
  - "The manifest (plain data, no key bytes, no passphrase): per host the files it must hold (node path, SHA-256 of
    the exact bytes, mode, owner policy, why) or why it gets nothing; per system whether a delivery that changes
    its files activates it, or why not; every stop with its reason and the hosts it stops; the certificate
    outcomes and the CA's. M(mxone.pki.deliver) delivers from it."
  - In check mode the whole chain is worked out in memory (a CA that M(mxone.pki.enterprise_ca) would create or
    re-sign included), so the manifest's hashes are the ones a real run would deliver; nothing is written.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  plan:
    description: The fleet plan (C(mxone_fleet.plan), from M(mxone.pki.fleet_plan)).
    type: dict
    required: true
  play_hosts:
    description: The hosts of the play (the manifest has an entry for each of them that gets files or a stop).
    type: list
    elements: str
    required: true
  selected:
    description: Ids of the certificates to work on (those of the selected systems still in the play).
    type: list
    elements: str
    required: true
  key_passphrase:
    description: Passphrase of the CA key and of the keys in the PKI store (C(mxone_ca_passphrase)).
    type: str
    required: true
  ca:
    description: How M(mxone.pki.enterprise_ca) makes or re-signs the CA, for a check run that must work it out.
    type: dict
    default: {}
    suboptions:
      common_name:
        description: Subject CN of a new CA.
        type: str
        default: MXOneEnterpriseCA
      key_type:
        description: Key of a new CA.
        type: str
        default: rsa3072
        choices: [rsa2048, rsa3072, rsa4096, ec-p256]
      validity_days:
        description: Lifetime of the CA certificate in days.
        type: int
        default: 3650
      renew_before:
        description: Re-sign the CA this many days before its end.
        type: int
        default: 180
  ca_changed:
    description: The CA step changed the CA in this run (a real run's answer; a check run works it out).
    type: bool
    default: false
  issue:
    description: How server certificates are issued and renewed (the mxone_issue role's variables).
    type: dict
    default: {}
    suboptions:
      key_type:
        description: Key of new server certificates.
        type: str
        default: rsa2048
        choices: [rsa2048, rsa3072, rsa4096, ec-p256]
      key_policy:
        description: V(keep) the key across renewals or V(rotate) it.
        type: str
        default: keep
        choices: [keep, rotate]
      digest:
        description: Signature hash.
        type: str
        default: sha256
        choices: [sha256, sha384, sha512]
      validity_days:
        description: Lifetime of new server certificates in days.
        type: int
        default: 364
      renew_before:
        description: Renew-before window, days (V(30)) or a share of the lifetime (V(10%)).
        type: str
        default: "30"
      force:
        description: Re-issue every selected certificate.
        type: bool
        default: false
  partial_ok:
    description: Deliver to a system the limit selects only in part although its certificate or CA changes.
    type: bool
    default: false
  subjects:
    description: Per system id, the customer-PKI CSR's subject besides the CN.
    type: dict
    default: {}
  pfx_passwords:
    description: Per system id, the password of a C(server.pfx) in its drop folder.
    type: dict
    default: {}
  now:
    description: The time of the decisions (ISO 8601); the real clock by default. For tests.
    type: str
"""

EXAMPLES = r"""
- name: Certificates of the fleet, and what every host must hold
  mxone.pki.fleet_manifest:
    plan: "{{ mxone_fleet.plan }}"
    play_hosts: "{{ ansible_play_hosts }}"
    selected: "{{ mxone_fleet.plan.certificates | list }}"
    key_passphrase: "{{ mxone_ca_passphrase }}"
  run_once: true
  register: manifest
"""

RETURN = r"""
manifest:
  description: The manifest (C(hosts), C(systems), C(stops), C(certificates), C(ca), C(waiting), C(download_ca)).
  returned: success
  type: dict
results:
  description: One outcome per certificate, shaped like M(mxone.pki.server_cert)'s results (C(item.key) = id).
  returned: success
  type: list
  elements: dict
waiting:
  description: System id -> why it waits for its customer's CA.
  returned: success
  type: dict
changed_files:
  description: Files of the PKI store written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.external import DOWNLOAD_DIR_MODE, Staged
from ansible_collections.mxone.pki.plugins.module_utils.files import Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.ca import (
    DEFAULT_CA_COMMON_NAME, DEFAULT_CA_KEY_TYPE, DEFAULT_CA_RENEW_BEFORE_DAYS, DEFAULT_CA_VALIDITY_DAYS)
from ansible_collections.mxone.pki.plugins.module_utils.issue import DEFAULT_VALIDITY_DAYS
from ansible_collections.mxone.pki.plugins.module_utils.keys import DEFAULT_DIGEST, DEFAULT_KEY_TYPE, DIGESTS, KEY_TYPES
from ansible_collections.mxone.pki.plugins.module_utils.manifest import build_manifest
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    facts_diff, fail, parse_now, parse_renew_before)
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS, KEY_POLICIES


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them.

    The defaults are those of enterprise_ca and server_cert, from the same constants.
    """
    key_types = list(KEY_TYPES)
    return dict(argument_spec=dict(
        plan=dict(type="dict", required=True),
        play_hosts=dict(type="list", elements="str", required=True),
        selected=dict(type="list", elements="str", required=True),
        key_passphrase=dict(type="str", required=True, no_log=True),
        ca=dict(type="dict", default={}, options=dict(
            common_name=dict(type="str", default=DEFAULT_CA_COMMON_NAME),
            key_type=dict(type="str", default=DEFAULT_CA_KEY_TYPE, choices=key_types, no_log=False),
            validity_days=dict(type="int", default=DEFAULT_CA_VALIDITY_DAYS),
            renew_before=dict(type="int", default=DEFAULT_CA_RENEW_BEFORE_DAYS))),
        ca_changed=dict(type="bool", default=False),
        issue=dict(type="dict", default={}, options=dict(
            key_type=dict(type="str", default=DEFAULT_KEY_TYPE, choices=key_types, no_log=False),
            key_policy=dict(type="str", default="keep", choices=list(KEY_POLICIES), no_log=False),
            digest=dict(type="str", default=DEFAULT_DIGEST, choices=list(DIGESTS)),
            validity_days=dict(type="int", default=DEFAULT_VALIDITY_DAYS),
            renew_before=dict(type="str", default=str(DEFAULT_RENEW_BEFORE_DAYS)),
            force=dict(type="bool", default=False))),
        partial_ok=dict(type="bool", default=False),
        subjects=dict(type="dict", default={}),
        pfx_passwords=dict(type="dict", default={}, no_log=True),
        now=dict(type="str"),
    ))


def _mode_of(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def run(module):
    """The module's work; its action plugin calls this too, in-process on the controller."""
    require_cryptography(module)
    params = module.params
    store = Staged(read_bytes, _mode_of)
    try:
        issue = dict(params["issue"], renew_before=parse_renew_before(params["issue"]["renew_before"]))
        manifest, warnings = build_manifest(
            store, params["plan"], params["play_hosts"], params["selected"], parse_now(params["now"]),
            params["key_passphrase"], module.check_mode, issue, ca_options=params["ca"],
            ca_changed=params["ca_changed"], partial_ok=params["partial_ok"], subjects=params["subjects"],
            pfx_passwords=params["pfx_passwords"])
        writer = Writer(module)
        for path, (content, mode) in store.staged.items():
            writer.stage(path, content, mode)
        download_ca = params["plan"].get("download_ca")
        if download_ca in writer.changed_paths and not module.check_mode:
            os.makedirs(os.path.dirname(download_ca), DOWNLOAD_DIR_MODE, exist_ok=True)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    for warning in warnings:
        module.warn(warning)
    result = dict(changed=bool(writer.changed_paths), manifest=manifest, results=manifest["certificates"],
                  waiting=manifest["waiting"], changed_files=writer.changed_paths)
    if module._diff:
        result["diff"] = [facts_diff(o["item"]["value"]["paths"]["cert"], o["previous"], o["certificate"])
                          for o in manifest["certificates"] if o.get("renew") and o.get("changed")]
    module.exit_json(**result)


def main():
    run(AnsibleModule(supports_check_mode=True, **module_kwargs()))


if __name__ == "__main__":
    main()
