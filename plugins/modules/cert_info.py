#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cert_info
short_description: Read an MX-ONE certificate or eri_sn_cert.pem and say what a renewal would decide
version_added: 0.1.0
description:
  - Reads a certificate (PEM or DER) or an C(eri_sn_cert.pem) bundle on the controller and returns its names,
    issuer, dates, days left and fingerprints. Never returns key material.
  - For a bundle, also checks it as the service node would (order key, certificate, intermediates, root;
    BEGIN/END lines; key fits; chain verifies; dates) and returns the first problem, naming the block.
  - Returns the collection's renewal decision for the certificate (renew or not, and why), against the
    wanted names (O(domain), O(lims)...) and issuing CA (O(ca_cert_path)) when given.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.attributes
  - mxone.pki.attributes.read_only
  - mxone.pki.cryptography
options:
  path:
    description: The certificate or C(eri_sn_cert.pem) to read.
    type: path
    required: true
  key_path:
    description: The certificate's private key, to check that it fits (not needed for a bundle).
    type: path
  key_passphrase:
    description: Passphrase of O(key_path).
    type: str
  ca_cert_path:
    description: The CA that should have issued the certificate; a certificate from another gives V(issuer_changed).
    type: path
  domain:
    description: Wanted MX-ONE domain; with O(lims), the names the decision compares against.
    type: str
  lims:
    description: Wanted LIMs, each C({lim, ip}), as for M(mxone.pki.server_cert).
    type: list
    elements: dict
  lim:
    description: The certificate is for this one LIM.
    type: int
  extra_dns:
    description: Wanted extra SAN DNS names.
    type: list
    elements: str
    default: []
  extra_ips:
    description: Wanted extra SAN IPs.
    type: list
    elements: str
    default: []
  common_name:
    description: The wanted CN, as for M(mxone.pki.server_cert); V(ip) - the LIM's IP address.
    type: str
    choices: [name, ip]
    default: name
  names_match:
    description:
      - V(exact) - the names must be the wanted ones (certificates this collection issues).
      - V(cover) - the coverage rule of M(mxone.pki.cert_import) (a customer's CA signed it); extra names are fine,
        a missing FQDN gives V(names_changed), a missing IP too only with O(require_ips).
    type: str
    choices: [exact, cover]
    default: exact
  require_ips:
    description: With O(names_match=cover), a missing wanted IP gives V(names_changed).
    type: bool
    default: false
  key_type:
    description: Key type the policy wants; another gives V(key_policy).
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ec-p256]
  renew_before:
    description: Renew-before window, days (V(30)) or share of the lifetime (V(10%)).
    type: str
    default: "30"
  now:
    description: Take this ISO 8601 time as the current time (what will the decision be on that day?).
    type: str
seealso:
  - module: mxone.pki.server_cert
"""

EXAMPLES = r"""
- name: What would a renewal say of Stockholm's certificate in 60 days?
  mxone.pki.cert_info:
    path: pki/certs/sthlm/server.pem
    ca_cert_path: pki/ca/ca.pem
    domain: sthlm.mx.example.net
    lims: [{lim: 1, ip: 192.0.2.11}, {lim: 2, ip: 192.0.2.12}]
    renew_before: 60
  delegate_to: localhost
  register: info

- name: Fail when a bundle would not load on a node
  ansible.builtin.assert:
    that: info.bundle is not defined or info.bundle.valid
    fail_msg: "{{ info.bundle.error | default('') }}"
"""

RETURN = r"""
exists:
  description: Whether O(path) exists.
  returned: always
  type: bool
certificate:
  description: Facts of the (server) certificate; subject, common_name, dns, ips, issuer, serial, not_before,
    not_after, days_left, expired, sha256_fingerprint, public_key_sha256.
  returned: when the file could be read
  type: dict
bundle:
  description: For an C(eri_sn_cert.pem); V(valid), the V(error) naming the block, and the V(chain) subjects.
  returned: when O(path) holds a private key block
  type: dict
decision:
  description: The renewal decision; V(renew), V(reason), V(detail), V(new_key).
  returned: always
  type: dict
  sample: {renew: true, reason: expiring, detail: "expires in 12 day(s) (2027-01-05); renew-before window 30 day(s)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.bundle import check_sn_bundle
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import KEY_TYPES
from ansible_collections.mxone.pki.plugins.module_utils.files import read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    fail, load_existing, names_from_params, parse_now, parse_renew_before)
from ansible_collections.mxone.pki.plugins.module_utils.pem import PRIVATE_KEY_LABELS
from ansible_collections.mxone.pki.plugins.module_utils.renewal import NAME_MATCHES, Existing, Wanted, decide


def read_bundle(data, path, now):
    """(Existing, bundle report) for an eri_sn_cert.pem."""
    try:
        checked = check_sn_bundle(data, now, source=path)
    except MxonePkiError as error:
        try:
            leaf = load_certificate(data, source=path)
        except MxonePkiError:
            leaf = None
        return Existing(leaf, None, error.msg), {"valid": False, "error": error.msg, "chain": []}
    chain = [c.subject.rfc4514_string() for c in checked.chain]
    return Existing(checked.leaf, checked.key), {"valid": True, "error": None, "chain": chain}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            key_path=dict(type="path", no_log=False),
            key_passphrase=dict(type="str", no_log=True),
            ca_cert_path=dict(type="path"),
            domain=dict(type="str"),
            lims=dict(type="list", elements="dict"),
            lim=dict(type="int"),
            extra_dns=dict(type="list", elements="str", default=[]),
            extra_ips=dict(type="list", elements="str", default=[]),
            key_type=dict(type="str", choices=list(KEY_TYPES), no_log=False),
            renew_before=dict(type="str", default="30"),
            now=dict(type="str"),
            common_name=dict(type="str", default="name", choices=["name", "ip"]),
            names_match=dict(type="str", default="exact", choices=list(NAME_MATCHES)),
            require_ips=dict(type="bool", default=False),
        ),
        required_together=[("domain", "lims")],
        supports_check_mode=True,
    )
    require_cryptography(module)
    params = module.params
    result = dict(changed=False)
    try:
        now = parse_now(params["now"])
        data = read_bytes(params["path"])
        result["exists"] = data is not None
        bundle_report = None
        if data is None:
            existing = Existing()
        elif any(("-----BEGIN %s-----" % label).encode() in data for label in PRIVATE_KEY_LABELS):
            existing, bundle_report = read_bundle(data, params["path"], now)
            result["bundle"] = bundle_report
        else:
            existing = load_existing(params["path"], params["key_path"], params["key_passphrase"])
            existing.key_checked = bool(params["key_path"])
        issuer = None
        if params["ca_cert_path"]:
            issuer_data = read_bytes(params["ca_cert_path"])
            if issuer_data is None:
                raise MxonePkiError("%s does not exist" % params["ca_cert_path"], file=params["ca_cert_path"],
                                    field="ca_cert_path")
            issuer = load_certificate(issuer_data, source=params["ca_cert_path"])
        if existing.cert is not None:
            result["certificate"] = facts(existing.cert, now)
        # no names given (no domain): decide checks none, only dates, issuer and key count
        wanted_names = names_from_params(params) if params["domain"] else None
        wanted = Wanted(wanted_names, issuer, params["key_type"], match=params["names_match"],
                        require_ips=params["require_ips"])
        decision = decide(existing, wanted, now,
                          parse_renew_before(params["renew_before"]))
        result["decision"] = decision.as_dict()
    except MxonePkiError as error:
        fail(module, error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
