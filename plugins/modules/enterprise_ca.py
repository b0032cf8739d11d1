#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: enterprise_ca
short_description: Create and keep the MX-ONE Enterprise CA on the controller
version_added: 0.1.0
description:
  - Creates a root CA (default subject C(CN=MXOneEnterpriseCA)) that signs the server certificates of every
    MX-ONE system of a fleet, so that phones and TLS SIP routes between systems trust one CA.
  - The CA key is written PKCS#8-encrypted with O(ca_passphrase), mode C(0600); it never leaves the controller.
  - An existing CA is loaded and kept. It is never replaced silently. When its certificate comes within
    O(renew_before) days of its end, it is re-signed with the B(same key and subject) (new dates only), so every
    certificate it issued keeps verifying.
  - A CA certificate without its key, or a key that does not fit it, is an error, not a reason to start over.
    Only O(force=true) makes a new CA, which invalidates every certificate the old one issued.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.ca
  - mxone.pki.issue
  - mxone.pki.issue.backup
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  common_name:
    description: Subject common name of a new CA. An existing CA keeps its name (a warning says so if it differs).
    type: str
    default: MXOneEnterpriseCA
  organization:
    description: Subject organisation (O) of a new CA.
    type: str
  country:
    description: Subject country (C) of a new CA, a two-letter code.
    type: str
  key_type:
    default: rsa3072
  validity_days:
    description: Lifetime of the CA certificate in days (ten years by default; server certificates renew yearly).
    type: int
    default: 3650
  renew_before:
    description: Re-sign the CA certificate (same key) when fewer than this many days are left.
    type: int
    default: 180
  force:
    description: Replace the CA with a new key. Every certificate issued by the old CA stops verifying.
    type: bool
    default: false
  now:
    description: Take this ISO 8601 time as the current time (what-if runs and tests). Default is the clock.
    type: str
notes:
  - "Runs on the controller; use C(delegate_to: localhost) and C(run_once: true) in plays over service nodes."
seealso:
  - module: mxone.pki.server_cert
  - module: mxone.pki.cert_info
"""

EXAMPLES = r"""
- name: Create or keep the fleet's enterprise CA
  mxone.pki.enterprise_ca:
    ca_cert_path: "{{ playbook_dir }}/pki/ca/ca.pem"
    ca_key_path: "{{ playbook_dir }}/pki/ca/ca.key"
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    organization: Example Telecom
  delegate_to: localhost
  run_once: true
  register: ca

- name: Say why the CA changed
  ansible.builtin.debug:
    msg: "{{ ca.reason }}: {{ ca.detail }}"
  when: ca is changed
"""

RETURN = r"""
reason:
  description:
    Why the CA was written (V(missing), V(not_yet_valid), V(expiring), V(forced)), or null when nothing changed.
  returned: always
  type: str
  sample: missing
detail:
  description: One sentence saying what was found.
  returned: always
  type: str
  sample: no CA yet
ca:
  description: Facts of the CA certificate after the run (in check mode, of the one that would be written).
  returned: success
  type: dict
  contains:
    subject:
      description: Subject, RFC 4514.
      type: str
      sample: CN=MXOneEnterpriseCA
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
      sample: "2036-11-22T12:00:00+00:00"
    days_left:
      description: Whole days until not_after.
      type: int
      sample: 3649
    sha256_fingerprint:
      description: SHA-256 fingerprint of the certificate.
      type: str
      sample: "1d:05:e1:80:..."
backup_files:
  description: Backups made, by path.
  returned: when O(backup=true) and a file was overwritten
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.ca import (
    DEFAULT_CA_COMMON_NAME, DEFAULT_CA_KEY_TYPE, DEFAULT_CA_RENEW_BEFORE_DAYS, DEFAULT_CA_VALIDITY_DAYS, plan_ca)
from ansible_collections.mxone.pki.plugins.module_utils.certs import common_name, dump_certificate, facts
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE, Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.keys import dump_private_key
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    backup_argument_spec, ca_argument_spec, exit_with_facts, facts_of_file, fail, key_argument_spec, parse_now)


def plan(params, now):
    """``(authority, decision)`` for the CA that should exist after the run (``ca.plan_ca`` on the files)."""
    cert_path, key_path = params["ca_cert_path"], params["ca_key_path"]
    return plan_ca(read_bytes(cert_path), read_bytes(key_path), params["ca_passphrase"], now,
                   common_name=params["common_name"], key_type=params["key_type"],
                   validity_days=params["validity_days"], digest=params["digest"],
                   renew_before=params["renew_before"], force=params["force"], cert_source=cert_path,
                   key_source=key_path, organization=params["organization"], country=params["country"])


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them."""
    spec = ca_argument_spec()
    spec.update(key_argument_spec(DEFAULT_CA_KEY_TYPE))
    spec.update(backup_argument_spec())
    spec.update(
        common_name=dict(type="str", default=DEFAULT_CA_COMMON_NAME),
        organization=dict(type="str"),
        country=dict(type="str"),
        validity_days=dict(type="int", default=DEFAULT_CA_VALIDITY_DAYS),
        renew_before=dict(type="int", default=DEFAULT_CA_RENEW_BEFORE_DAYS),
        force=dict(type="bool", default=False),
        now=dict(type="str"),
    )
    return dict(argument_spec=spec)


def run(module):
    """The module's work; its action plugin calls this too, in-process on the controller."""
    require_cryptography(module)
    params = module.params
    try:
        now = parse_now(params["now"])
        before = facts_of_file(params["ca_cert_path"], now)
        authority, decision = plan(params, now)
        reason, detail = decision.reason, decision.detail
        existing_cn = common_name(authority.cert.subject)
        if reason is None and existing_cn != params["common_name"]:
            module.warn("the existing CA is named %r, not %r; it is kept (a CA is never replaced silently)"
                        % (existing_cn, params["common_name"]))
        writer = Writer(module, backup=params["backup"])
        if decision.new_key:
            writer.stage(params["ca_key_path"], dump_private_key(authority.key, params["ca_passphrase"]), KEY_MODE)
        if reason is not None:
            writer.stage(params["ca_cert_path"], dump_certificate(authority.cert), PUBLIC_MODE)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    after = facts(authority.cert, now)
    result = dict(changed=reason is not None, reason=reason, detail=detail, ca=after)
    exit_with_facts(module, result, params["ca_cert_path"], before, after, writer)


def main():
    run(AnsibleModule(supports_check_mode=True, **module_kwargs()))


if __name__ == "__main__":
    main()
