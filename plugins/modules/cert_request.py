#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cert_request
short_description: Write a CSR for an MX-ONE system (or LIM) to be signed by a customer's own PKI
version_added: 0.1.0
description:
  - Writes a PKCS#10 certificate signing request with the MX-ONE names (CN C(*.<domain>) and every
    C(lim<N>.<domain>) and LIM IP as SAN, or one LIM's with O(lim)) and the subject fields given.
  - The private key is made once and B(kept), because only it fits the certificate the customer's CA signs. A new CSR
    (names or subject changed, or O(force)) reuses it. Import the signed result with M(mxone.pki.cert_import).
  - Warns when O(subject.state) is a two-letter abbreviation; Mitel Connect and many CAs want full names.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.ca.names
  - mxone.pki.issue
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  csr_path:
    description: Where to write the CSR (PEM) on the controller.
    type: path
    required: true
  key_path:
    description: The CSR's private key on the controller (mode C(0600)); made if missing, kept otherwise.
    type: path
    required: true
  key_passphrase:
    description: Encrypt the private key at rest with this passphrase.
    type: str
  key_type:
    default: rsa2048
  digest:
    description: Signature hash of the CSR (the customer's CA chooses the certificate's own).
    choices: [sha256, sha384, sha512]
  subject:
    description: Subject fields besides the CN, which the names give.
    type: dict
    default: {}
    suboptions:
      country:
        description: Two-letter ISO country code (C).
        type: str
      state:
        description: State or province (ST), the full name.
        type: str
      locality:
        description: City (L).
        type: str
      organization:
        description: Organisation (O).
        type: str
      organizational_unit:
        description: Organisational unit (OU).
        type: str
  force:
    description: Write a new CSR even if the present one fits (same key).
    type: bool
    default: false
notes:
  - "Runs on the controller; use C(delegate_to: localhost)."
seealso:
  - module: mxone.pki.cert_import
"""

EXAMPLES = r"""
- name: CSR for the Stockholm system, for the customer's CA
  mxone.pki.cert_request:
    csr_path: pki/certs/sthlm/server.csr
    key_path: pki/certs/sthlm/server.key
    key_passphrase: "{{ mxone_ca_passphrase }}"
    domain: sthlm.mx.example.net
    lims:
      - {lim: 1, ip: 192.0.2.11}
      - {lim: 2, ip: 192.0.2.12}
    subject:
      country: SE
      state: Stockholm
      organization: Example Telecom
  delegate_to: localhost
"""

RETURN = r"""
reason:
  description: Why the CSR was written (V(missing), V(key_mismatch), V(names_changed), V(subject_changed), V(forced)), or null.
  returned: always
  type: str
  sample: missing
detail:
  description: What was found.
  returned: always
  type: str
new_key:
  description: Whether a new private key was made (only when there was none).
  returned: always
  type: bool
csr:
  description: Facts of the CSR (subject, common_name, dns, ips, public_key_sha256).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.csr import (
    SUBJECT_FIELDS, build_csr, csr_facts, csr_reason, dump_csr, load_csr, subject_warnings)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE, Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    dump_private_key, generate_private_key, load_private_key)
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    fail, key_argument_spec, names_argument_spec, names_from_params)


def read_csr(path):
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return load_csr(data)
    except ValueError:
        return None  # unreadable: write a good one over it


def main():
    argument_spec = names_argument_spec()
    argument_spec.update(key_argument_spec())
    argument_spec.update(
        csr_path=dict(type="path", required=True),
        key_path=dict(type="path", required=True, no_log=False),
        key_passphrase=dict(type="str", no_log=True),
        subject=dict(type="dict", default={}, options=dict((field, dict(type="str")) for field in SUBJECT_FIELDS)),
        force=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_cryptography(module)
    params = module.params
    subject = dict((k, v) for k, v in (params["subject"] or {}).items() if v)
    try:
        names = names_from_params(params)
        key_data = read_bytes(params["key_path"])
        key = None
        if key_data is not None:
            key = load_private_key(key_data, params["key_passphrase"], source=params["key_path"],
                                   field="key_passphrase")
        existing = read_csr(params["csr_path"])
        reason, detail = csr_reason(existing, key, names, subject)
        if reason is None and params["force"]:
            reason, detail = "forced", "new CSR forced; the key is kept"
        writer = Writer(module)
        new_key = key is None
        if new_key:
            key = generate_private_key(params["key_type"])
            writer.stage(params["key_path"], dump_private_key(key, params["key_passphrase"]), KEY_MODE)
        csr = existing
        if reason is not None:
            csr = build_csr(key, names, subject, params["digest"])[0]
            writer.stage(params["csr_path"], dump_csr(csr), PUBLIC_MODE)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    for warning in subject_warnings(subject):  # every run, until the subject is fixed
        module.warn(warning)
    after = csr_facts(csr)
    result = dict(changed=bool(writer.changed_paths), reason=reason, detail=detail, new_key=new_key, csr=after,
                  csr_path=params["csr_path"])
    if module._diff:
        before = csr_facts(existing) if existing is not None else {}
        result["diff"] = dict(before=before, after=after, before_header=params["csr_path"],
                              after_header=params["csr_path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
