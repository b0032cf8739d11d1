# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading certificates: load, signature links, validity, the facts we report.

``facts()`` is what modules return and diff: parsed, public information
only (names, issuer, dates, serial, fingerprints), never key bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.mxone.pki.plugins.module_utils._crypto import (
    InvalidSignature, NameOID, UnsupportedAlgorithm, hashes, serialization, x509)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import public_key_fingerprint
from ansible_collections.mxone.pki.plugins.module_utils.naming import names_of_certificate


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def load_certificate(data, source="certificate"):
    """One certificate from PEM or DER bytes."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise MxonePkiError("%s is not a readable X.509 certificate (%s)" % (source, exc), file=source)


def dump_certificate(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def common_name(name):
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return cns[0].value if cns else name.rfc4514_string()


def is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def is_self_issued(cert):
    return cert.issuer == cert.subject


def signed_by(cert, issuer):
    """True when ``issuer``'s key signed ``cert`` and the names link.

    cryptography's ``verify_directly_issued_by`` checks the signature with
    whatever the certificate says it uses: RSA with PKCS#1 v1.5 or PSS,
    ECDSA, Ed25519, Ed448 (customer CAs use them all).
    """
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def validity_problem(cert, now):
    """None when ``cert`` is valid at ``now``, else 'expired ...' / 'not yet valid ...'."""
    if now < cert.not_valid_before_utc:
        return "not yet valid (valid from %s)" % cert.not_valid_before_utc.isoformat()
    if now > cert.not_valid_after_utc:
        return "expired on %s" % cert.not_valid_after_utc.isoformat()
    return None


def fingerprint(cert):
    return ":".join("%02x" % b for b in cert.fingerprint(hashes.SHA256()))


def days_left(cert, now):
    return int((cert.not_valid_after_utc - now).total_seconds() // 86400)


def facts(cert, now=None):
    """Public facts of a certificate, as modules return and diff them."""
    now = now or utcnow()
    names = names_of_certificate(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "common_name": names.common_name,
        "dns": names.sorted_dns(),
        "ips": names.sorted_ips(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_common_name": common_name(cert.issuer),
        "serial": "%x" % cert.serial_number,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": days_left(cert, now),
        "expired": now > cert.not_valid_after_utc,
        "is_ca": is_ca(cert),
        "signature_hash": cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
        "sha256_fingerprint": fingerprint(cert),
        "public_key_sha256": public_key_fingerprint(cert.public_key()),
    }
