# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MX-ONE Enterprise CA: create it once, then load and keep it.

A renewal of the CA certificate re-signs the same key with new dates, so
every certificate it issued keeps verifying (the vendor's meaning of
renewal). A CA is never replaced silently: ``plan_ca`` refuses whenever
the store is half there or does not match, unless asked to replace.
Whether to renew is ``renewal.decide``'s answer, as for every certificate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.mxone.pki.plugins.module_utils._crypto import NameOID, x509
from ansible_collections.mxone.pki.plugins.module_utils.certs import is_ca, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    DEFAULT_DIGEST, DEFAULT_KEY_TYPE, generate_private_key, key_fits_certificate, load_private_key, sign)
from ansible_collections.mxone.pki.plugins.module_utils.renewal import Decision, Existing, Wanted, decide

DEFAULT_CA_COMMON_NAME = "MXOneEnterpriseCA"
# Ten years: long enough that the phones' trust store (ca.pem on the
# download server) rarely changes; server certificates renew yearly below it.
DEFAULT_CA_VALIDITY_DAYS = 3650
# Half a year: the CA is re-signed well before any certificate it issued could outlive it.
DEFAULT_CA_RENEW_BEFORE_DAYS = 180
DEFAULT_CA_KEY_TYPE = "rsa3072"
# Backdate notBefore a little so nodes with a slightly slow clock accept it.
CLOCK_SKEW = datetime.timedelta(minutes=5)


def build_name(common_name, organization=None, organizational_unit=None, country=None, state=None,
               locality=None):
    attributes = []
    for oid, value in ((NameOID.COUNTRY_NAME, country), (NameOID.STATE_OR_PROVINCE_NAME, state),
                       (NameOID.LOCALITY_NAME, locality), (NameOID.ORGANIZATION_NAME, organization),
                       (NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit),
                       (NameOID.COMMON_NAME, common_name)):
        if value:
            attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def sign_ca_certificate(key, subject, now, validity_days=DEFAULT_CA_VALIDITY_DAYS, digest=DEFAULT_DIGEST):
    """A self-signed root: CA:TRUE, keyCertSign + cRLSign, SKI (= AKI)."""
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=True, crl_sign=True, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    return sign(builder, key, digest, "CA certificate")


def create_ca(now, common_name=DEFAULT_CA_COMMON_NAME, key_type=DEFAULT_KEY_TYPE,
              validity_days=DEFAULT_CA_VALIDITY_DAYS, digest=DEFAULT_DIGEST, **subject):
    key = generate_private_key(key_type)
    return key, sign_ca_certificate(key, build_name(common_name, **subject), now, validity_days, digest)


def renew_ca(key, cert, now, validity_days=DEFAULT_CA_VALIDITY_DAYS, digest=DEFAULT_DIGEST):
    """Same key, same subject, new dates: issued certificates stay valid."""
    return sign_ca_certificate(key, cert.subject, now, validity_days, digest)


class CertificateAuthority(object):
    """A loaded CA: its certificate and (decrypted, in memory only) key."""

    def __init__(self, key, cert):
        self.key = key
        self.cert = cert

    @property
    def ski(self):
        return x509.SubjectKeyIdentifier.from_public_key(self.cert.public_key()).digest


def load_ca(cert_data, key_data, passphrase, cert_source="CA certificate", key_source="CA key"):
    """Load and check a CA: a CA certificate, and the key that fits it."""
    cert = load_certificate(cert_data, source=cert_source)
    if not is_ca(cert):
        raise MxonePkiError("%s is not a CA certificate (Basic Constraints CA:TRUE missing)" % cert_source,
                            file=cert_source)
    key = load_private_key(key_data, passphrase, source=key_source, field="ca_passphrase", own_store=True)
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("%s does not fit %s: they are not one CA" % (key_source, cert_source),
                            file=key_source)
    return CertificateAuthority(key, cert)


def _existing_ca(cert_data, key_data, passphrase, cert_source, key_source):
    """The CA store as ``renewal.Existing``, or a refusal where a new CA would be the only way on.

    Where ``decide`` would renew a server certificate (unreadable, key missing or not fitting), a CA
    must not be replaced: every certificate it issued would stop verifying. So those are errors here.
    A key without its certificate is fine: a certificate can be made again for it.
    """
    if cert_data is None and key_data is None:
        return Existing()
    if key_data is None:
        raise MxonePkiError("CA certificate exists but its key %s is missing; refusing to replace the CA "
                            "(force=true makes a new CA and invalidates every certificate it issued)"
                            % key_source, file=key_source, field="ca_key_path")
    if cert_data is None:
        return Existing(None, load_private_key(key_data, passphrase, source=key_source, field="ca_passphrase"))
    authority = load_ca(cert_data, key_data, passphrase, cert_source=cert_source, key_source=key_source)
    return Existing(authority.cert, authority.key)


def plan_ca(cert_data, key_data, passphrase, now, common_name=DEFAULT_CA_COMMON_NAME, key_type=DEFAULT_CA_KEY_TYPE,
            validity_days=DEFAULT_CA_VALIDITY_DAYS, digest=DEFAULT_DIGEST, renew_before=DEFAULT_CA_RENEW_BEFORE_DAYS,
            force=False, cert_source="CA certificate", key_source="CA key", **subject):
    """``(authority, decision)``: the CA that should exist after the run, and why it changed.

    ``decide`` gets no names, issuer or key type to check (a CA's subject is its identity; an existing
    CA keeps its key whatever ``key_type`` says), so only forced, missing, not_yet_valid and expiring
    can hit. A new key only when forced or when there is none; otherwise the same key and subject are
    re-signed with new dates. ``force`` does not read the old store at all: it replaces it as it is.
    """
    existing = Existing() if force else _existing_ca(cert_data, key_data, passphrase, cert_source, key_source)
    decision = decide(existing, Wanted(None), now, renew_before=renew_before, force=force)
    if not decision.renew:
        return CertificateAuthority(existing.key, existing.cert), Decision(False, None, "CA kept, " + decision.detail)
    if decision.new_key:
        key, cert = create_ca(now, common_name, key_type, validity_days, digest, **subject)
        done = "new CA %r" % common_name
    elif existing.cert is None:
        key = existing.key
        cert = sign_ca_certificate(key, build_name(common_name, **subject), now, validity_days, digest)
        done = "CA certificate re-made for the existing key"
    else:
        key, cert = existing.key, renew_ca(existing.key, existing.cert, now, validity_days, digest)
        done = "re-signed with the same key"
    return CertificateAuthority(key, cert), Decision(True, decision.reason, "%s; %s" % (decision.detail, done),
                                                     new_key=decision.new_key)
