#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cert_import
short_description: Import a certificate signed by a customer's PKI (PEM, PKCS#7 or PKCS#12)
version_added: 0.1.0
description:
  - Reads what a customer's CA returned for an MX-ONE system and keeps it on the controller as a key,
    a certificate and the CA chain, and optionally as the node files C(eri_sn_cert.pem) and C(ca.pem).
  - Formats; PEM (a certificate file O(src) plus a CA file O(ca_src) holding intermediates and the root in any
    order, with BEGIN/END lines that are not on their own lines repaired), PKCS#7 C(.p7b) in DER or PEM
    (certificate and CA certificates in one file), PKCS#12 C(.pfx) with O(password) (certificate with its
    private key; needs no CSR).
  - For PEM and PKCS#7 the private key is the one M(mxone.pki.cert_request) kept at O(key_path).
  - The chain is ordered by issuer links, closest to the server certificate first, root last.
  - Refused, with nothing written; a key that does not fit the certificate, a chain that does not link to a
    self-signed root, a certificate that is expired or not yet valid, a wrong PKCS#12 password, a file
    without a server certificate.
  - With O(domain) and O(lims), the names are judged by coverage, not equality; the SAN must cover every LIM
    FQDN and every O(extra_dns), exactly or by a wildcard one label deep (RFC 6125; the CN counts only when
    there is no SAN). A missing FQDN is refused, naming it, the file and O(system). A missing IP is a warning
    naming it, or a refusal with O(require_ips). Extra names are reported in RV(coverage), never refused.
  - Text outside PEM blocks (C(Bag Attributes), C(subject=) lines), a UTF-8 BOM and CRLF line ends are ignored.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.issue.backup
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  src:
    description: The file the CA returned (C(.pem)/C(.crt)/C(.cer), C(.p7b), C(.pfx)/C(.p12)) on the controller.
    type: path
    required: true
  ca_src:
    description: For PEM, the CA file with the intermediate(s) and root, in any order.
    type: path
  format:
    description: Format of O(src); V(auto) goes by extension, then content.
    type: str
    choices: [auto, pem, pkcs7, pkcs12]
    default: auto
  password:
    description: Password of a PKCS#12 file.
    type: str
  key_path:
    description:
      - The private key on the controller. For PEM and PKCS#7 it must exist (the CSR's key). For PKCS#12 the
        key inside is written here (mode C(0600)).
    type: path
    required: true
  key_passphrase:
    description: Passphrase of the key at O(key_path) (read, and used to encrypt a key imported from PKCS#12).
    type: str
  cert_path:
    description: Where to keep the imported server certificate (PEM).
    type: path
    required: true
  chain_path:
    description: Where to keep the ordered CA chain (PEM), which is the content of C(ca.pem).
    type: path
  bundle_path:
    description: Also write C(eri_sn_cert.pem) here (mode C(0600)), checked before writing.
    type: path
  now:
    description: Take this ISO 8601 time as the current time for the validity checks. Default is the clock.
    type: str
  domain:
    description: The MX-ONE domain; with O(lims), the names the certificate must cover.
    type: str
  lims:
    description: The LIMs, each C({lim, ip}), as for M(mxone.pki.cert_request).
    type: list
    elements: dict
  lim:
    description: The certificate is for this one LIM (of O(lims)).
    type: int
  extra_dns:
    description: Extra SAN DNS names the certificate must cover.
    type: list
    elements: str
    default: []
  extra_ips:
    description: Extra SAN IPs the certificate should carry (missing ones are treated like LIM IPs).
    type: list
    elements: str
    default: []
  require_ips:
    description: Refuse a certificate whose SAN lacks a wanted IP, instead of warning.
    type: bool
    default: false
  system:
    description: The system the certificate is for, named in a refusal.
    type: str
  renew_before:
    description:
      - Refuse a certificate that expires within this renew-before window, days (V(30)) or share of the lifetime
        (V(10%)), as M(mxone.pki.cert_info) would renew it at once. Unset - only expired certificates are refused.
    type: str
notes:
  - "Runs on the controller; use C(delegate_to: localhost)."
seealso:
  - module: mxone.pki.cert_request
"""

EXAMPLES = r"""
- name: Import the PEM files the customer's CA sent back
  mxone.pki.cert_import:
    src: pki/incoming/sthlm/server.pem
    ca_src: pki/incoming/sthlm/ca.pem
    key_path: pki/certs/sthlm/server.key
    key_passphrase: "{{ mxone_ca_passphrase }}"
    cert_path: pki/certs/sthlm/server.pem
    chain_path: pki/certs/sthlm/chain.pem
    system: sthlm
    domain: sthlm.mx.example.net
    lims: [{lim: 1, ip: 192.0.2.11}, {lim: 2, ip: 192.0.2.12}]
  delegate_to: localhost

- name: Import a PKCS#12 file (key included, no CSR needed)
  mxone.pki.cert_import:
    src: pki/incoming/sthlm/server.pfx
    password: "{{ mxone_pfx_password }}"
    key_path: pki/certs/sthlm/server.key
    key_passphrase: "{{ mxone_ca_passphrase }}"
    cert_path: pki/certs/sthlm/server.pem
    chain_path: pki/certs/sthlm/chain.pem
  delegate_to: localhost
"""

RETURN = r"""
reason:
  description: V(imported) when a new certificate was taken in, V(files_updated) when only derived files changed, or null.
  returned: always
  type: str
  sample: imported
detail:
  description: What was imported or found.
  returned: always
  type: str
format:
  description: The format that was read.
  returned: success
  type: str
  sample: pkcs7
certificate:
  description: Facts of the imported server certificate.
  returned: success
  type: dict
chain:
  description: Subjects of the CA chain, closest to the server certificate first, root last.
  returned: success
  type: list
  elements: str
  sample: ["CN=Example Issuing CA", "CN=Example Root CA"]
repaired:
  description: Whether BEGIN/END lines had to be put on lines of their own.
  returned: success
  type: bool
coverage:
  description:
    - How the certificate covers the wanted names (with O(domain)); V(accepted), V(missing_dns), V(missing_ips),
      V(extra_dns), V(extra_ips), V(require_ips).
  returned: success, with O(domain)
  type: dict
changed_files:
  description: Files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.bundle import build_ca_bundle, build_sn_bundle, check_sn_bundle
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, facts
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE, Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.importer import FORMATS, guess_format, import_signed
from ansible_collections.mxone.pki.plugins.module_utils.keys import dump_private_key, load_private_key, public_key_der
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    backup_argument_spec, facts_diff, facts_of_file, fail, names_from_params, parse_now,
    parse_renew_before)


def read_required(path, field):
    data = read_bytes(path)
    if data is None:
        raise MxonePkiError("%s does not exist" % path, file=path, field=field)
    return data


def main():
    argument_spec = backup_argument_spec()
    argument_spec.update(
        src=dict(type="path", required=True),
        ca_src=dict(type="path"),
        format=dict(type="str", default="auto", choices=list(FORMATS)),
        password=dict(type="str", no_log=True),
        key_path=dict(type="path", required=True, no_log=False),
        key_passphrase=dict(type="str", no_log=True),
        cert_path=dict(type="path", required=True),
        chain_path=dict(type="path"),
        bundle_path=dict(type="path"),
        now=dict(type="str"),
        domain=dict(type="str"),
        lims=dict(type="list", elements="dict"),
        lim=dict(type="int"),
        extra_dns=dict(type="list", elements="str", default=[]),
        extra_ips=dict(type="list", elements="str", default=[]),
        require_ips=dict(type="bool", default=False),
        system=dict(type="str"),
        renew_before=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_together=[("domain", "lims")],
                           supports_check_mode=True)
    require_cryptography(module)
    params = module.params
    try:
        now = parse_now(params["now"])
        src = read_required(params["src"], "src")
        ca_data = read_required(params["ca_src"], "ca_src") if params["ca_src"] else None
        fmt = guess_format(src, params["src"]) if params["format"] == "auto" else params["format"]
        key_data = read_bytes(params["key_path"])
        existing_key = None
        if key_data is not None:
            existing_key = load_private_key(key_data, params["key_passphrase"], source=params["key_path"],
                                            field="key_passphrase")
        elif fmt != "pkcs12":
            raise MxonePkiError("%s does not exist: PEM and PKCS#7 imports need the key the CSR was made with"
                                % params["key_path"], file=params["key_path"], field="key_path")
        wanted = names_from_params(params) if params["domain"] else None
        imported = import_signed(src, params["src"], now, ca_data=ca_data, ca_source=params["ca_src"],
                                 key=None if fmt == "pkcs12" else existing_key, password=params["password"],
                                 fmt=fmt, wanted=wanted, require_ips=params["require_ips"], system=params["system"],
                                 renew_before=(parse_renew_before(params["renew_before"])
                                               if params["renew_before"] is not None else None))
        before = facts_of_file(params["cert_path"], now)
        writer = Writer(module, backup=params["backup"])
        if existing_key is None or public_key_der(existing_key) != public_key_der(imported.key):
            writer.stage(params["key_path"], dump_private_key(imported.key, params["key_passphrase"]), KEY_MODE)
        new_cert = writer.stage(params["cert_path"], dump_certificate(imported.leaf), PUBLIC_MODE)
        if params["chain_path"]:
            writer.stage(params["chain_path"], build_ca_bundle(imported.chain), PUBLIC_MODE)
        if params["bundle_path"]:
            bundle = build_sn_bundle(imported.key, imported.leaf, imported.chain)
            check_sn_bundle(bundle, now, source=params["bundle_path"])
            writer.stage(params["bundle_path"], bundle, KEY_MODE)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    if imported.repaired:
        module.warn("BEGIN/END lines in %s were not on lines of their own; repaired" % params["src"])
    if imported.coverage is not None:
        for warning in imported.coverage.warnings():
            module.warn("%s%s: %s" % (params["src"], " (system %s)" % params["system"] if params["system"] else "",
                                      warning))
    after = facts(imported.leaf, now)
    if new_cert:
        reason, detail = "imported", "certificate %s (serial %s) from %s" % (after["subject"], after["serial"], fmt)
    elif writer.changed_paths:
        reason, detail = "files_updated", "certificate already imported; updated %s" % ", ".join(writer.changed_paths)
    else:
        reason, detail = None, "certificate already imported"
    result = dict(changed=bool(writer.changed_paths), reason=reason, detail=detail, format=fmt, certificate=after,
                  chain=[c.subject.rfc4514_string() for c in imported.chain], repaired=imported.repaired,
                  changed_files=writer.changed_paths)
    if imported.coverage is not None:
        result["coverage"] = imported.coverage.as_dict()
    if module._diff:
        result["diff"] = facts_diff(params["cert_path"], before, after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
