#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: server_cert
short_description: Issue and renew an MX-ONE server certificate from the Enterprise CA
version_added: 0.1.0
description:
  - Issues the TLS server certificate of an MX-ONE system on the controller, signed by the Enterprise CA.
  - By default one certificate per system, shared by all its LIMs; CN C(*.<domain>), every LIM's FQDN
    C(lim<N>.<domain>) as SAN DNS and every LIM's IP as SAN IP, plus O(extra_dns) and O(extra_ips).
    With O(lim), a certificate for that LIM only (CN C(lim<N>.<domain>)).
  - Basic Constraints C(CA:FALSE), Extended Key Usage serverAuth and clientAuth (for mutual TLS SIP routes),
    subject and authority key identifiers, a random serial.
  - Whether to issue is decided once, by the collection's renewal decision, which gives the reason
    (V(missing), V(unreadable), V(key_mismatch), V(issuer_changed), V(names_changed), V(key_policy),
    V(expiring), V(forced)). Renewal keeps the private key (new validity dates only) unless
    O(key_policy=rotate).
  - Optionally writes the node files C(eri_sn_cert.pem) (O(bundle_path)) and C(ca.pem) (O(ca_bundle_path)),
    checked before they are written.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.ca
  - mxone.pki.ca.names
  - mxone.pki.issue
  - mxone.pki.issue.lifetime
  - mxone.pki.issue.backup
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  cert_path:
    description: Where the certificate (PEM) is kept on the controller.
    type: path
    required: true
  key_path:
    description: Where the certificate's private key is kept on the controller (mode C(0600)).
    type: path
    required: true
  key_passphrase:
    description:
      - Encrypt the private key at rest with this passphrase. Without it the key file is plain PKCS#8
        (still mode C(0600)).
    type: str
  key_type:
    default: rsa2048
  key_policy:
    description:
      - V(keep) the private key across renewals (the vendor's way) or V(rotate) it at every renewal.
      - A kept key whose type is not O(key_type) is replaced (reason V(key_policy)).
    type: str
    choices: [keep, rotate]
    default: keep
  renew_before:
    default: "30"
  bundle_path:
    description:
      - Also write C(eri_sn_cert.pem) here (key, certificate, CA chain; mode C(0600)), checked before writing.
    type: path
  ca_bundle_path:
    description: Also write C(ca.pem) here (the CA chain that phones and peers trust).
    type: path
  now:
    description: Take this ISO 8601 time as the current time (what-if runs and tests). Default is the clock.
    type: str
notes:
  - "Runs on the controller; use C(delegate_to: localhost)."
seealso:
  - module: mxone.pki.enterprise_ca
  - module: mxone.pki.cert_info
"""

EXAMPLES = r"""
- name: One wildcard certificate for the Stockholm system
  mxone.pki.server_cert:
    ca_cert_path: pki/ca/ca.pem
    ca_key_path: pki/ca/ca.key
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    cert_path: pki/certs/sthlm/server.pem
    key_path: pki/certs/sthlm/server.key
    key_passphrase: "{{ mxone_ca_passphrase }}"
    domain: sthlm.mx.example.net
    lims:
      - {lim: 1, ip: 192.0.2.11}
      - {lim: 2, ip: 192.0.2.12}
    extra_dns: [malmo.mx.example.net]
  delegate_to: localhost
  register: cert

- name: A certificate for LIM 2 only (a TLS SIP route that needs its own)
  mxone.pki.server_cert:
    ca_cert_path: pki/ca/ca.pem
    ca_key_path: pki/ca/ca.key
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    cert_path: pki/certs/sthlm-lim2/server.pem
    key_path: pki/certs/sthlm-lim2/server.key
    key_passphrase: "{{ mxone_ca_passphrase }}"
    domain: sthlm.mx.example.net
    lims: [{lim: 2, ip: 192.0.2.12}]
    lim: 2
    renew_before: 10%
  delegate_to: localhost
"""

RETURN = r"""
reason:
  description: Why the certificate was issued, or null when it was kept. V(bundle) when only the bundle files changed.
  returned: always
  type: str
  sample: names_changed
detail:
  description: What the decision found, e.g. which names were added.
  returned: always
  type: str
  sample: "DNS added: lim3.sthlm.mx.example.net; IP added: 192.0.2.13"
new_key:
  description: Whether a new private key was made.
  returned: always
  type: bool
certificate:
  description: Facts of the certificate after the run (subject, dns, ips, issuer, serial, not_after, days_left, fingerprints).
  returned: success
  type: dict
  sample: {common_name: "*.sthlm.mx.example.net", dns: [lim1.sthlm.mx.example.net], days_left: 363}
previous:
  description: Facts of the certificate found before the run ({} when there was none).
  returned: success
  type: dict
renew:
  description: The renewal decision; whether a new certificate was (or, in check mode, would be) issued.
  returned: success
  type: bool
changed_files:
  description: Files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
backup_files:
  description: Backups made, by path.
  returned: when O(backup=true) and a file was overwritten
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.bundle import build_ca_bundle, build_sn_bundle, check_sn_bundle
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, facts
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE, Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.issue import renew_or_keep
from ansible_collections.mxone.pki.plugins.module_utils.keys import dump_private_key
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    backup_argument_spec, ca_argument_spec, exit_with_facts, facts_of_file, fail, key_argument_spec, lifetime_argument_spec,
    load_ca_from_params, load_existing, names_argument_spec, names_from_params, parse_now, parse_renew_before)
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS


def stage_node_files(writer, params, key, cert, chain, now):
    """Stage eri_sn_cert.pem / ca.pem when asked; the bundle is checked before it can be written."""
    if params["bundle_path"]:
        bundle = build_sn_bundle(key, cert, chain)
        check_sn_bundle(bundle, now, source=params["bundle_path"])
        writer.stage(params["bundle_path"], bundle, KEY_MODE)
    if params["ca_bundle_path"]:
        writer.stage(params["ca_bundle_path"], build_ca_bundle(chain), PUBLIC_MODE)


def module_kwargs():
    """AnsibleModule's validation arguments; the module and its in-process action plugin share them."""
    spec = ca_argument_spec()
    spec.update(names_argument_spec())
    spec.update(key_argument_spec())
    spec.update(lifetime_argument_spec(renew_before=str(DEFAULT_RENEW_BEFORE_DAYS)))
    spec.update(backup_argument_spec())
    spec.update(
        cert_path=dict(type="path", required=True),
        key_path=dict(type="path", required=True, no_log=False),
        key_passphrase=dict(type="str", no_log=True),
        key_policy=dict(type="str", default="keep", choices=["keep", "rotate"], no_log=False),
        bundle_path=dict(type="path"),
        ca_bundle_path=dict(type="path"),
        now=dict(type="str"),
    )
    return dict(argument_spec=spec)


def run(module):
    """The module's work; its action plugin calls this too, in-process on the controller."""
    require_cryptography(module)
    params = module.params
    try:
        now = parse_now(params["now"])
        names = names_from_params(params)
        if module.check_mode and read_bytes(params["ca_cert_path"]) is None:
            # A check run before the CA exists: a real run would create the CA first, then issue.
            module.exit_json(changed=True, reason="missing", new_key=True, certificate=names.as_dict(), previous={},
                             renew=True,
                             detail="the CA does not exist yet; a certificate would be issued after it is created",
                             changed_files=[p for p in (params["key_path"], params["cert_path"],
                                                        params["bundle_path"], params["ca_bundle_path"]) if p])
        ca = load_ca_from_params(params)
        before = facts_of_file(params["cert_path"], now)
        existing = load_existing(params["cert_path"], params["key_path"], params["key_passphrase"])
        decision, key, cert = renew_or_keep(
            ca, names, existing, now, key_type=params["key_type"],
            renew_before=parse_renew_before(params["renew_before"]), force=params["force"],
            key_policy=params["key_policy"], validity_days=params["validity_days"], digest=params["digest"])
        writer = Writer(module, backup=params["backup"])
        if decision.new_key:
            writer.stage(params["key_path"], dump_private_key(key, params["key_passphrase"]), KEY_MODE)
        if decision.renew:
            writer.stage(params["cert_path"], dump_certificate(cert), PUBLIC_MODE)
        stage_node_files(writer, params, key, cert, [ca.cert], now)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    reason = decision.reason or ("bundle" if writer.changed_paths else None)
    detail = decision.detail if decision.reason or not reason else "bundle files out of date: %s" % (
        ", ".join(writer.changed_paths))
    after = facts(cert, now)
    result = dict(changed=bool(writer.changed_paths), reason=reason, detail=detail, new_key=decision.new_key,
                  certificate=after, previous=before, renew=decision.renew, changed_files=writer.changed_paths)
    exit_with_facts(module, result, params["cert_path"], before, after, writer)


def main():
    run(AnsibleModule(supports_check_mode=True, **module_kwargs()))


if __name__ == "__main__":
    main()
