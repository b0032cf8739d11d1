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
from ansible_collections.mxone.pki.plugins.module_utils.keys import DEFAULT_DIGEST, hash_algorithm
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
    return builder.sign(key, hash_algorithm(digest)), subject_warnings(subject)


def load_csr(data):
    return x509.load_pem_x509_csr(data)


def dump_csr(csr):
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_names(csr):
    return names_of_certificate(csr)
