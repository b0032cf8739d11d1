#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: external_certs
short_description: Customer PKI for a fleet - CSR out, signed certificate in, the phones' CA file
version_added: 0.1.0
description:
  - For each external certificate of the fleet plan (C(mxone_cert_mode=external)) in one step on the controller,
    the work of M(mxone.pki.cert_request), M(mxone.pki.cert_import) and M(mxone.pki.cert_info) in turn.
  - Writes or keeps the CSR C(<pki_dir>/certs/<id>/server.csr); its key is made once and kept.
  - Reads the drop folder C(<pki_dir>/incoming/<id>/) - C(server.pfx), else C(server.p7b), else C(server.pem)
    (+ C(ca.pem)) - and imports it; a file that does not cover the plan's names, or would be renewed at once, is
    refused before anything is written, and that system waits (the error is in its message).
  - Judges the certificate in place by the collection's renewal decision (coverage of the names, issued by its
    imported chain, the renew-before window). A system with no certificate, or one to renew, waits, with
    instructions naming the CSR and the drop folder.
  - Writes the phones' CA file O(download_ca_path) - every CA in use (the enterprise CA when a certificate of the
    fleet is its own, then every imported external chain of the whole fleet, sorted by certificate id), each
    certificate once.
  - In check mode every decision is taken in memory, and nothing is written (no scratch directory).
  - Used by the role M(mxone.pki.mxone_issue); its results are shaped like M(mxone.pki.server_cert)'s.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.cryptography
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  certificates:
    description: The fleet plan's certificates (C(mxone_fleet.plan.certificates)), the whole fleet's.
    type: dict
    required: true
  selected:
    description: Ids of the external certificates to work on; by default every external one.
    type: list
    elements: str
  pki_dir:
    description: The PKI store on the controller; the drop folders are C(<pki_dir>/incoming/<id>/).
    type: path
    required: true
  ca_cert_path:
    description: The enterprise CA certificate (in the phones' CA file when a certificate of the fleet is its own).
    type: path
    required: true
  download_ca_path:
    description: The phones' CA file this step writes.
    type: path
    required: true
  key_passphrase:
    description: Passphrase of the keys in the PKI store (the CSR keys, a PKCS#12's key once imported).
    type: str
    required: true
  key_type:
    description: Key of a new CSR.
    type: str
    default: rsa2048
    choices: [rsa2048, rsa3072, rsa4096, ec-p256]
  renew_before:
    description: Renew-before window, days (V(30)) or a share of the lifetime (V(10%)).
    type: str
    default: "30"
  subjects:
    description: Per system id, the CSR's subject besides the CN (the fields of M(mxone.pki.cert_request)'s subject).
    type: dict
    default: {}
  pfx_passwords:
    description: Per system id, the password of a C(server.pfx) in its drop folder.
    type: dict
    default: {}
  now:
    description: The time of the renewal decision (ISO 8601); the real clock by default. For tests.
    type: str
"""

EXAMPLES = r"""
- name: Customer PKI of the selected systems
  mxone.pki.external_certs:
    certificates: "{{ mxone_fleet.plan.certificates }}"
    pki_dir: "{{ mxone_fleet.plan.pki_dir }}"
    ca_cert_path: "{{ mxone_fleet.plan.ca.cert }}"
    download_ca_path: "{{ mxone_fleet.plan.download_ca }}"
    key_passphrase: "{{ mxone_ca_passphrase }}"
  run_once: true
  delegate_to: localhost
  register: external
"""

RETURN = r"""
results:
  description:
    - One per certificate, shaped like M(mxone.pki.server_cert)'s results (C(item.key) = certificate id, C(changed),
      C(reason), C(detail), C(renew), C(previous), C(certificate)); a waiting system's C(detail) is its message.
  returned: always
  type: list
  elements: dict
waiting:
  description: System id -> why it waits for its customer's CA (nothing is delivered to it).
  returned: always
  type: dict
download_ca_path:
  description: The phones' CA file (O(download_ca_path)).
  returned: always
  type: str
no_download_ca:
  description: No CA is in use yet (every system waits); the download servers keep their C(ca.pem).
  returned: always
  type: bool
pending_ca_paths:
  description: In check mode, the CA files a real run would write (they cannot be read yet).
  returned: always
  type: list
  elements: str
changed_files:
  description: Files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.external import DOWNLOAD_DIR_MODE, Staged, run_external
from ansible_collections.mxone.pki.plugins.module_utils.files import Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.keys import KEY_TYPES
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    facts_diff, fail, parse_now, parse_renew_before)


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them."""
    return dict(argument_spec=dict(
        certificates=dict(type="dict", required=True),
        selected=dict(type="list", elements="str"),
        pki_dir=dict(type="path", required=True),
        ca_cert_path=dict(type="path", required=True),
        download_ca_path=dict(type="path", required=True),
        key_passphrase=dict(type="str", required=True, no_log=True),
        key_type=dict(type="str", default="rsa2048", choices=list(KEY_TYPES)),
        renew_before=dict(type="str", default="30"),
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
    certificates = params["certificates"]
    selected = params["selected"]
    if selected is None:
        selected = [i for i, c in certificates.items() if c.get("mode") == "external"]
    store = Staged(read_bytes, _mode_of)
    try:
        done = run_external(store, certificates, selected, parse_now(params["now"]), params["key_passphrase"],
                            parse_renew_before(params["renew_before"]), params["pki_dir"], params["ca_cert_path"],
                            params["download_ca_path"], subjects=params["subjects"],
                            pfx_passwords=params["pfx_passwords"], key_type=params["key_type"])
        writer = Writer(module)
        for path, (content, mode) in store.staged.items():
            writer.stage(path, content, mode)
        if params["download_ca_path"] in writer.changed_paths and not module.check_mode:
            os.makedirs(os.path.dirname(params["download_ca_path"]), DOWNLOAD_DIR_MODE, exist_ok=True)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    for warning in done["warnings"]:
        module.warn(warning)
    pending = []
    if module.check_mode:
        pending = done["chains_changed"] + ([params["download_ca_path"]]
                                            if done["download_ca_changed"] or done["chains_changed"] else [])
    result = dict(changed=bool(writer.changed_paths), results=done["outcomes"], waiting=done["waiting"],
                  download_ca_path=params["download_ca_path"], no_download_ca=done["no_download_ca"],
                  pending_ca_paths=pending, changed_files=writer.changed_paths)
    if module._diff:
        result["diff"] = [facts_diff(o["item"]["value"]["paths"]["cert"], o["previous"], o["certificate"])
                          for o in done["outcomes"] if o.get("reason") == "imported"]
    module.exit_json(**result)


def main():
    run(AnsibleModule(supports_check_mode=True, **module_kwargs()))


if __name__ == "__main__":
    main()
