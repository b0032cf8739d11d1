# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issuing server certificates for MX-ONE LIMs from the Enterprise CA."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

from ansible_collections.mxone.pki.plugins.module_utils._crypto import ExtendedKeyUsageOID, ec, x509
from ansible_collections.mxone.pki.plugins.module_utils.ca import CLOCK_SKEW, build_name
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    DEFAULT_DIGEST, DEFAULT_KEY_TYPE, generate_private_key, sign)
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS, Wanted, decide

# What the vendor's certificate tool gives a server certificate.
DEFAULT_VALIDITY_DAYS = 364


def san_extension(names):
    general = [x509.DNSName(name) for name in names.sorted_dns()]
    general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in names.sorted_ips()]
    return x509.SubjectAlternativeName(general)


def authority_key_identifier(ca_cert):
    """AKI pointing at the CA's own SKI (a CA made elsewhere may not use SHA-1 of its key)."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issue_server_certificate(ca, public_key, names, now, validity_days=DEFAULT_VALIDITY_DAYS,
                             digest=DEFAULT_DIGEST, subject=None):
    """Sign a TLS server certificate (also usable as client, for mutual TLS routes).

    ``ca`` is a loaded ``CertificateAuthority``; ``names`` a ``naming.Names``.
    The certificate never outlives its CA: peers would reject the chain.
    """
    not_after = min(now + datetime.timedelta(days=validity_days), ca.cert.not_valid_after_utc)
    key_usage = dict(digital_signature=True, content_commitment=False, key_encipherment=True,
                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                     encipher_only=False, decipher_only=False)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        key_usage.update(key_encipherment=False, key_agreement=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(build_name(names.common_name, **(subject or {})))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**key_usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(san_extension(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(ca.cert), critical=False)
    )
    return sign(builder, ca.key, digest, "server certificate")


def renew_or_keep(ca, names, existing, now, key_type=DEFAULT_KEY_TYPE, renew_before=DEFAULT_RENEW_BEFORE_DAYS,
                  force=False, key_policy="keep", validity_days=DEFAULT_VALIDITY_DAYS, digest=DEFAULT_DIGEST):
    """Apply the renewal decision: ``(decision, key, cert)`` after the run.

    The key is kept unless the decision asks for a new one (none yet, a
    key-type policy change, or the rotate policy); then one is made here.
    """
    wanted = Wanted(names, issuer=ca.cert, key_type=key_type)
    decision = decide(existing, wanted, now, renew_before=renew_before, force=force, key_policy=key_policy)
    if not decision.renew:
        return decision, existing.key, existing.cert
    key = generate_private_key(key_type) if decision.new_key else existing.key
    cert = issue_server_certificate(ca, key.public_key(), names, now, validity_days, digest)
    return decision, key, cert
