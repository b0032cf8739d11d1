#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: device_cert
short_description: Issue and renew a certificate for a Mitel system other than MX-ONE, in that system's format
version_added: 0.1.0
description:
  - Issues, on the controller and from the fleet's Enterprise CA, the certificate of a MiVoice 5000 server or
    gateway, a TA7100 gateway (Dgw firmware), a TLS SIP proxy (Kamailio, OpenSIPS), a phone's client
    certificate (Bothway mode), or a Mitel Connect server, and writes it in the format that system takes.
  - "Names by O(kind): V(mivoice5000): CN is the first of O(tel_ips) (the PBX's telephony IP address), SAN every
    TEL and ADMIN IP and FQDN (O(tel_ips), O(admin_ips), O(tel_fqdns), O(admin_fqdns)). Other kinds: CN
    O(common_name) (an FQDN or IP; a wildcard for V(connect); a plain label such as a MAC address for V(phone)),
    repeated in the SAN, plus O(dns) and O(ips)."
  - Every certificate has Basic Constraints C(CA:FALSE), Extended Key Usage serverAuth and clientAuth, and
    a notBefore 5 minutes in the past, so a device with a slightly slow clock never gets a certificate that
    is not yet valid (MiVoice 5000 refuses one). A stored certificate that is not yet valid is re-issued
    (reason V(not_yet_valid)).
  - Whether to issue is decided by the collection's renewal decision (reasons V(missing), V(unreadable),
    V(key_mismatch), V(issuer_changed), V(names_changed), V(key_policy), V(not_yet_valid), V(expiring), V(forced)); renewal keeps
    the private key unless O(key_policy=rotate).
  - "Files written to O(dest_dir) by O(format), besides C(ca.pem) (the CA certificate, PEM):
    V(mivoice5000_pkcs12): C(<name>.p12), password-protected PKCS#12 with the key, the certificate and the CA
    chain (O(pkcs12_legacy) for SHA1/3DES protection that older appliances need);
    V(dgw_pem): C(<name>-host.pem), the unencrypted private key followed by the certificate (the Dgw host
    certificate), and C(ca.der) (the CA as a DER other certificate; C(ca.pem) is the PEM one);
    V(pem_parts): C(<name>.crt) and C(<name>.key) (unencrypted), as a SIP proxy or a phone reads them;
    V(connect_text): C(<name>-import.txt), the signed certificate, its RSA private key (PKCS#1) and the chain,
    in the order the Mitel Connect Mobility Router imports them."
  - With O(kind=connect), or when O(csr_subject) is given, also C(<name>.csr), a CSR for the same key with the
    subject fields and alternative names (for a public CA); an abbreviated state name is an error
    (O(csr_state_check)).
  - Returns the days left and a warning when a certificate is within O(warn_days) of its end (MiVoice 5000
    itself warns 14 days before; after the end its calls are no longer encrypted).
  - Files holding a private key are mode C(0600). Nothing is uploaded to the device; MiVoice 5000, TA7100 and
    Connect take these files through their web interfaces.
author:
  - mxone.pki contributors (!UNKNOWN)
extends_documentation_fragment:
  - mxone.pki.ca
  - mxone.pki.issue
  - mxone.pki.issue.lifetime
  - mxone.pki.issue.backup
  - mxone.pki.attributes
  - mxone.pki.attributes.check_and_diff
  - mxone.pki.cryptography
options:
  kind:
    description: What the certificate is for; sets the name rule and the defaults of O(format), O(renew_before)
      and O(warn_days).
    type: str
    required: true
    choices: [mivoice5000, ta7100, sip_proxy, phone, connect]
  format:
    description:
      - The device file(s) to write to O(dest_dir). Default by O(kind) - V(mivoice5000) V(mivoice5000_pkcs12),
        V(ta7100) V(dgw_pem), V(sip_proxy) and V(phone) V(pem_parts), V(connect) V(connect_text).
      - V(connect_text) needs an RSA O(key_type).
    type: str
    choices: [mivoice5000_pkcs12, dgw_pem, pem_parts, connect_text]
  common_name:
    description:
      - CN of the certificate for every O(kind) but V(mivoice5000); an FQDN or an IP address, repeated in the SAN.
      - Required unless O(kind=mivoice5000).
    type: str
  dns:
    description: More SAN DNS names (not for V(mivoice5000), which uses O(tel_fqdns) and O(admin_fqdns)).
    type: list
    elements: str
    default: []
  ips:
    description: More SAN IP addresses (not for V(mivoice5000), which uses O(tel_ips) and O(admin_ips)).
    type: list
    elements: str
    default: []
  tel_ips:
    description:
      - MiVoice 5000 only. The PBX's telephony (TEL) IP addresses; the first is the certificate's CN. Without
        network separation, the PBX's one IP address.
    type: list
    elements: str
    default: []
  admin_ips:
    description: MiVoice 5000 only. The ADMIN interface's IP addresses (SAN).
    type: list
    elements: str
    default: []
  tel_fqdns:
    description: MiVoice 5000 only. FQDNs of the TEL interface (SAN).
    type: list
    elements: str
    default: []
  admin_fqdns:
    description: MiVoice 5000 only. FQDNs of the ADMIN interface (SAN).
    type: list
    elements: str
    default: []
  cert_path:
    description: Where the certificate (PEM) is kept on the controller.
    type: path
    required: true
  key_path:
    description: Where its private key is kept on the controller (mode C(0600)).
    type: path
    required: true
  key_passphrase:
    description: Encrypt the kept private key with this passphrase (device files get the key as each device needs it).
    type: str
  key_type:
    default: rsa2048
  key_policy:
    description:
      - V(keep) the private key across renewals or V(rotate) it at every renewal.
      - A kept key whose type is not O(key_type) is replaced (reason V(key_policy)).
    type: str
    choices: [keep, rotate]
    default: keep
  renew_before:
    description:
      - Renew when the certificate ends within this window - days (V(14), V(14d)) or a share of its lifetime (V(10%)).
      - Default V(14) for V(mivoice5000) (the PBX's own warning threshold), V(30) for the other kinds.
  warn_days:
    description: Return a RV(warning) when a certificate ends within this many days. Default V(14).
    type: int
  dest_dir:
    description: Directory on the controller for the device files. Without it only O(cert_path) and O(key_path) are kept.
    type: path
  name:
    description: Stem of the device file names, for example the inventory host name.
    type: str
    default: device
  pkcs12_password:
    description: Password of the PKCS#12 file; required for V(mivoice5000_pkcs12). MiVoice 5000 asks for it at import.
    type: str
  pkcs12_legacy:
    description: Protect the PKCS#12 with SHA1/3DES and a SHA-1 MAC (older appliances) instead of AES-256 and SHA-256.
    type: bool
    default: false
  pem_key_format:
    description:
      - Unencrypted key format in V(dgw_pem) and V(pem_parts) - V(pkcs8) (C(BEGIN PRIVATE KEY)) or V(traditional)
        (C(BEGIN RSA PRIVATE KEY) / C(BEGIN EC PRIVATE KEY)).
      - Default V(traditional) for V(dgw_pem), V(pkcs8) for V(pem_parts). V(connect_text) is always PKCS#1.
    type: str
    choices: [pkcs8, traditional]
  csr_subject:
    description: Subject fields of the CSR; the CN comes from O(common_name).
    type: dict
    suboptions:
      country:
        description: Two-letter ISO country code, for example V(US).
        type: str
      state:
        description: The full state or province name (V(California), not V(CA)).
        type: str
      locality:
        description: City.
        type: str
      organization:
        description: Organization.
        type: str
      organizational_unit:
        description: Organizational unit.
        type: str
  csr_state_check:
    description: What an abbreviated state name in O(csr_subject) does - V(error) (Mitel Connect wants the full name) or V(warn).
    type: str
    choices: [error, warn]
    default: error
  now:
    description: Take this ISO 8601 time as the current time (what-if runs and tests). Default is the clock.
    type: str
notes:
  - "Runs on the controller; use C(delegate_to: localhost)."
  - A PKCS#12 file is rewritten only when its content, password or protection would change (its random salts
    make every build differ byte for byte).
seealso:
  - module: mxone.pki.enterprise_ca
  - module: mxone.pki.server_cert
"""

EXAMPLES = r"""
- name: MiVoice 5000 system certificate as PKCS#12 (CN = TEL IP, SAN = TEL and ADMIN IPs and FQDNs)
  mxone.pki.device_cert:
    ca_cert_path: pki/ca/ca.pem
    ca_key_path: pki/ca/ca.key
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    kind: mivoice5000
    tel_ips: [10.148.65.84]
    admin_ips: [10.148.66.84]
    tel_fqdns: [pbx-paris.example.net]
    cert_path: pki/devices/pbx-paris/cert.pem
    key_path: pki/devices/pbx-paris/key.pem
    key_passphrase: "{{ mxone_ca_passphrase }}"
    dest_dir: pki/devices/pbx-paris
    name: pbx-paris
    pkcs12_password: "{{ mivoice5000_pkcs12_password }}"
  delegate_to: localhost
  register: pbx

- name: TA7100 host certificate (key then certificate, one PEM) and the CA as PEM and DER
  mxone.pki.device_cert:
    ca_cert_path: pki/ca/ca.pem
    ca_key_path: pki/ca/ca.key
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    kind: ta7100
    common_name: ta7100-lyon.example.net
    ips: [192.0.2.71]
    cert_path: pki/devices/ta7100-lyon/cert.pem
    key_path: pki/devices/ta7100-lyon/key.pem
    dest_dir: pki/devices/ta7100-lyon
    name: ta7100-lyon
  delegate_to: localhost

- name: Mitel Connect Mobility Router - import text and a CSR with the full state name
  mxone.pki.device_cert:
    ca_cert_path: pki/ca/ca.pem
    ca_key_path: pki/ca/ca.key
    ca_passphrase: "{{ mxone_ca_passphrase }}"
    kind: connect
    common_name: mr.example.com
    dns: [mobility.example.com]
    csr_subject: {country: US, state: California, locality: Santa Clara, organization: Example}
    cert_path: pki/devices/mr/cert.pem
    key_path: pki/devices/mr/key.pem
    dest_dir: pki/devices/mr
    name: mr
  delegate_to: localhost
"""

RETURN = r"""
reason:
  description: Why the certificate was issued, or null when it was kept; V(files) when only device files changed.
  returned: always
  type: str
  sample: expiring
detail:
  description: What the decision found.
  returned: always
  type: str
  sample: "expires in 10 day(s) (2027-03-01); renew-before window 14 day(s)"
new_key:
  description: Whether a new private key was made.
  returned: always
  type: bool
renew:
  description: Whether a new certificate was (or, in check mode, would be) issued.
  returned: success
  type: bool
certificate:
  description: Facts of the certificate after the run (subject, dns, ips, issuer, serial, not_before, not_after, days_left, fingerprints).
  returned: success
  type: dict
  sample: {common_name: "10.148.65.84", ips: ["10.148.65.84", "10.148.66.84"], days_left: 363}
previous:
  description: Facts of the certificate found before the run ({} when there was none).
  returned: success
  type: dict
days_left:
  description: Whole days until the certificate after the run ends.
  returned: success
  type: int
  sample: 363
warning:
  description:
    - Set when the certificate found before the run, or the one after it, ends within O(warn_days); null otherwise.
  returned: success
  type: str
  sample: "the certificate in the store ends on 2027-03-01, in 10 day(s) (threshold 14 days); ..."
files:
  description: The device files by role (C(ca_pem), C(pkcs12), C(host_pem), C(ca_der), C(cert), C(key), C(import_text), C(csr)).
  returned: success
  type: dict
  sample: {pkcs12: pki/devices/pbx-paris/pbx-paris.p12, ca_pem: pki/devices/pbx-paris/ca.pem}
pkcs12_encryption:
  description: How the PKCS#12 file is protected, V(aes) or V(legacy).
  returned: when O(format=mivoice5000_pkcs12)
  type: str
csr:
  description: Facts of the CSR (subject, dns, ips, public key fingerprint).
  returned: when a CSR is written
  type: dict
csr_warnings:
  description: Warnings about the CSR subject (only with O(csr_state_check=warn)).
  returned: when a CSR is written
  type: list
  elements: str
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxone.pki.plugins.module_utils._crypto import require_cryptography
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, facts
from ansible_collections.mxone.pki.plugins.module_utils.connect import (
    STATE_CHECKS, build_connect_csr, build_import_text, check_import_text, connect_names)
from ansible_collections.mxone.pki.plugins.module_utils.csr import SUBJECT_FIELDS, csr_facts, dump_csr
from ansible_collections.mxone.pki.plugins.module_utils.devices import (
    FORMATS, KEY_FORMATS, KINDS, device_files, device_names, expiry_warning, kind_defaults, plain_private_key)
from ansible_collections.mxone.pki.plugins.module_utils.dgw import (
    build_host_pem, check_host_pem, other_certificates)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE, Writer, read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.issue import renew_or_keep
from ansible_collections.mxone.pki.plugins.module_utils.keys import dump_private_key
from ansible_collections.mxone.pki.plugins.module_utils.mivoice5000 import (
    build_pkcs12, pkcs12_matches, system_names)
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import (
    backup_argument_spec, ca_argument_spec, exit_with_facts, facts_of_file, fail, key_argument_spec, lifetime_argument_spec,
    load_ca_from_params, load_existing, parse_now, parse_renew_before)
from ansible_collections.mxone.pki.plugins.module_utils.phones import client_names


def wanted_names(params):
    """The names the certificate must carry, by kind (each rule lives in its kind's module_utils file)."""
    kind = params["kind"]
    if kind == "mivoice5000":
        return system_names(params["tel_ips"], params["admin_ips"], params["tel_fqdns"], params["admin_fqdns"])
    if not params["common_name"]:
        raise MxonePkiError("common_name is required for kind %s" % kind, field="common_name")
    if kind == "connect":
        return connect_names(params["common_name"], params["dns"], params["ips"])
    if kind == "phone":
        return client_names(params["common_name"], params["dns"], params["ips"])
    return device_names(params["common_name"], params["dns"], params["ips"], allow_wildcard=False)


def wants_csr(params):
    return params["kind"] == "connect" or bool(params["csr_subject"])


def file_paths(params, fmt, ca_count=1):
    """The device files by role, as paths in dest_dir (names from the device-file table, devices.device_files)."""
    dest = params["dest_dir"]
    if not dest:
        return {}
    names = device_files(fmt, params["name"], csr=wants_csr(params), ca_count=ca_count)
    return dict((role, [os.path.join(dest, n) for n in name] if isinstance(name, list) else os.path.join(dest, name))
                for role, name in names.items())


def stage_device_files(writer, params, fmt, names, key, cert, chain, now):
    """Build, check and stage the device files; return ``(files, extra_result)``."""
    extra = {}
    if not params["dest_dir"]:
        return {}, extra
    ca_pem, ca_ders = other_certificates(chain)
    files = file_paths(params, fmt, len(ca_ders))
    writer.stage(files["ca_pem"], ca_pem, PUBLIC_MODE)
    if fmt == "mivoice5000_pkcs12":
        path, legacy = files["pkcs12"], params["pkcs12_legacy"]
        current = read_bytes(path)
        if pkcs12_matches(current, params["pkcs12_password"], key, cert, chain, legacy):
            data = current  # same content: keep the file (a rebuild differs only by its random salts)
        else:
            data = build_pkcs12(key, cert, chain, params["pkcs12_password"], now, legacy=legacy, source=path)
        writer.stage(path, data, KEY_MODE)
        extra["pkcs12_encryption"] = "legacy" if legacy else "aes"
    elif fmt == "dgw_pem":
        data = build_host_pem(key, cert, params["pem_key_format"] or "traditional")
        check_host_pem(data, source=files["host_pem"])
        writer.stage(files["host_pem"], data, KEY_MODE)
        for path, der in zip(files["ca_der"], ca_ders):
            writer.stage(path, der, PUBLIC_MODE)
    elif fmt == "pem_parts":
        writer.stage(files["cert"], dump_certificate(cert), PUBLIC_MODE)
        writer.stage(files["key"], plain_private_key(key, params["pem_key_format"] or "pkcs8"), KEY_MODE)
    elif fmt == "connect_text":
        data = build_import_text(key, cert, chain)
        check_import_text(data, source=files["import_text"])
        writer.stage(files["import_text"], data, KEY_MODE)
    if "csr" in files:
        subject = dict((k, v) for k, v in (params["csr_subject"] or {}).items() if v)
        csr, warnings = build_connect_csr(key, names, subject, params["csr_state_check"], digest=params["digest"])
        writer.stage(files["csr"], dump_csr(csr), PUBLIC_MODE)
        extra.update(csr=csr_facts(csr), csr_warnings=warnings)
    return files, extra


def main():
    argument_spec = ca_argument_spec()
    argument_spec.update(key_argument_spec())
    # No renew_before default here: it depends on kind (mivoice5000: 14 days).
    argument_spec.update(lifetime_argument_spec(renew_before=None))
    argument_spec.update(backup_argument_spec())
    argument_spec.update(
        kind=dict(type="str", required=True, choices=sorted(KINDS)),
        format=dict(type="str", choices=list(FORMATS)),
        common_name=dict(type="str"),
        dns=dict(type="list", elements="str", default=[]),
        ips=dict(type="list", elements="str", default=[]),
        tel_ips=dict(type="list", elements="str", default=[]),
        admin_ips=dict(type="list", elements="str", default=[]),
        tel_fqdns=dict(type="list", elements="str", default=[]),
        admin_fqdns=dict(type="list", elements="str", default=[]),
        cert_path=dict(type="path", required=True),
        key_path=dict(type="path", required=True, no_log=False),
        key_passphrase=dict(type="str", no_log=True),
        key_policy=dict(type="str", default="keep", choices=["keep", "rotate"], no_log=False),
        warn_days=dict(type="int"),
        dest_dir=dict(type="path"),
        name=dict(type="str", default="device"),
        pkcs12_password=dict(type="str", no_log=True),
        pkcs12_legacy=dict(type="bool", default=False),
        pem_key_format=dict(type="str", choices=list(KEY_FORMATS), no_log=False),
        csr_subject=dict(type="dict", options=dict((field, dict(type="str")) for field in SUBJECT_FIELDS)),
        csr_state_check=dict(type="str", default="error", choices=list(STATE_CHECKS)),
        now=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("format", "mivoice5000_pkcs12", ("pkcs12_password",))])
    require_cryptography(module)
    params = module.params
    kind = params["kind"]
    defaults = kind_defaults(kind)
    fmt = params["format"] or defaults["format"]
    warn_days = defaults["warn_days"] if params["warn_days"] is None else params["warn_days"]
    if fmt == "mivoice5000_pkcs12" and not params["pkcs12_password"]:
        module.fail_json(msg="pkcs12_password is required for the mivoice5000_pkcs12 format: MiVoice 5000 imports "
                             "only a password-protected PKCS#12", field="pkcs12_password")
    if "/" in params["name"] or params["name"] in ("", ".", ".."):
        module.fail_json(msg="name must be a plain file name stem", field="name")
    try:
        now = parse_now(params["now"])
        names = wanted_names(params)
        renew_before = parse_renew_before(params["renew_before"] if params["renew_before"] is not None
                                          else defaults["renew_before"])
        if module.check_mode and read_bytes(params["ca_cert_path"]) is None:
            # A check run before the CA exists: a real run would create the CA first, then issue.
            files = file_paths(params, fmt)
            paths = [params["key_path"], params["cert_path"]]
            paths += [p for role, p in sorted(files.items()) if role != "ca_der"] + files.get("ca_der", [])
            module.exit_json(changed=True, reason="missing", new_key=True, renew=True, certificate=names.as_dict(),
                             previous={}, days_left=None, warning=None, files=files,
                             detail="the CA does not exist yet; a certificate would be issued after it is created",
                             changed_files=paths)
        ca = load_ca_from_params(params)
        before = facts_of_file(params["cert_path"], now)
        existing = load_existing(params["cert_path"], params["key_path"], params["key_passphrase"])
        decision, key, cert = renew_or_keep(
            ca, names, existing, now, key_type=params["key_type"], renew_before=renew_before,
            force=params["force"], key_policy=params["key_policy"],
            validity_days=params["validity_days"], digest=params["digest"])
        writer = Writer(module, backup=params["backup"])
        if decision.new_key:
            writer.stage(params["key_path"], dump_private_key(key, params["key_passphrase"]), KEY_MODE)
        if decision.renew:
            writer.stage(params["cert_path"], dump_certificate(cert), PUBLIC_MODE)
        files, extra = stage_device_files(writer, params, fmt, names, key, cert, [ca.cert], now)
        writer.commit()
    except MxonePkiError as error:
        fail(module, error)
    for text in extra.get("csr_warnings") or []:
        module.warn(text)
    after = facts(cert, now)
    warning = expiry_warning(kind, cert, now, warn_days)
    if warning is None and existing.cert is not None and decision.renew:
        previous_warning = expiry_warning(kind, existing.cert, now, warn_days, what="certificate in the store")
        if previous_warning:
            device_files = [p for p in writer.changed_paths if p not in (params["cert_path"], params["key_path"])]
            warning = "%s; a new one %s%s" % (
                previous_warning, "would be issued" if module.check_mode else "was issued",
                ": upload %s to the device" % ", ".join(device_files) if device_files else "")
    if warning:
        module.warn(warning)
    reason = decision.reason or ("files" if writer.changed_paths else None)
    detail = decision.detail if decision.reason or not reason else "device files out of date: %s" % (
        ", ".join(writer.changed_paths))
    result = dict(changed=bool(writer.changed_paths), reason=reason, detail=detail, new_key=decision.new_key,
                  renew=decision.renew, certificate=after, previous=before, days_left=after["days_left"],
                  warning=warning, files=files, changed_files=writer.changed_paths)
    result.update(extra)
    exit_with_facts(module, result, params["cert_path"], before, after, writer)


if __name__ == "__main__":
    main()
