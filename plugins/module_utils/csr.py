# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate signing requests for a customer's own PKI."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mxone.pki.plugins.module_utils._crypto import ExtendedKeyUsageOID, serialization, x509
from ansible_collections.mxone.pki.plugins.module_utils.ca import build_name
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import san_extension
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    DEFAULT_DIGEST, public_key_der, public_key_fingerprint, sign)
from ansible_collections.mxone.pki.plugins.module_utils.naming import names_of_certificate

SUBJECT_FIELDS = ("country", "state", "locality", "organization", "organizational_unit")


def subject_warnings(subject):
    warnings = []
    state = (subject or {}).get("state")
    if state and re.fullmatch(r"[A-Za-z]{2}", state.strip()):
        warnings.append("state %r looks like an abbreviation; Mitel Connect and many public CAs want the "
                        "full state or province name" % state)
    return warnings


def build_csr(key, names, subject=None, digest=DEFAULT_DIGEST):
    """Return ``(csr, warnings)``: CN and SANs from ``names``, other subject fields as given."""
    subject = dict(subject or {})
    unknown = set(subject) - set(SUBJECT_FIELDS)
    if unknown:
        raise MxonePkiError("unknown subject field(s) %s" % ", ".join(sorted(unknown)), field="subject")
    country = subject.get("country")
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise MxonePkiError("country %r must be a two-letter ISO code such as SE" % country, field="subject.country")
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(build_name(names.common_name, **subject))
        .add_extension(san_extension(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
    )
    return sign(builder, key, digest, "CSR"), subject_warnings(subject)


def load_csr(data):
    return x509.load_pem_x509_csr(data)


def dump_csr(csr):
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_names(csr):
    return names_of_certificate(csr)


def csr_reason(csr, key, names, subject=None):
    """Why the CSR at hand does not do (reason, detail), or (None, detail) when it does."""
    if csr is None:
        return "missing", "no CSR yet"
    if key is None:
        return "missing", "the CSR's private key is missing"
    if public_key_der(csr.public_key()) != public_key_der(key):
        return "key_mismatch", "the CSR was made for another key"
    have = csr_names(csr)
    if have != names:
        return "names_changed", "CSR names %s, wanted %s" % (have.as_dict(), names.as_dict())
    wanted_subject = build_name(names.common_name, **dict(subject or {}))
    if csr.subject != wanted_subject:
        return "subject_changed", "subject %s, wanted %s" % (csr.subject.rfc4514_string(),
                                                             wanted_subject.rfc4514_string())
    return None, "CSR up to date"


def csr_facts(csr):
    names = csr_names(csr)
    return {"subject": csr.subject.rfc4514_string(), "common_name": names.common_name,
            "dns": names.sorted_dns(), "ips": names.sorted_ips(),
            "public_key_sha256": public_key_fingerprint(csr.public_key())}
