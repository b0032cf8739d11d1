# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mitel TA7100 gateways (Dgw firmware): the host certificate file and the "other" certificates.

Facts from the vendor's Dgw security note: a host certificate is uploaded as
one PEM file, the certificate appended to its private key, and the key must
not be encrypted; other certificates (the CA certificates that validate
peers such as a TLS SIP proxy) are uploaded as PEM or DER. NTP is mandatory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import serialization
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, is_ca, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.devices import plain_private_key
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem

HOST_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")


def build_host_pem(key, cert, key_format="traditional"):
    """One PEM file: the unencrypted private key, then the host certificate."""
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("the private key does not fit the host certificate")
    if is_ca(cert):
        raise MxonePkiError("a CA certificate is not a host certificate")
    return plain_private_key(key, key_format) + dump_certificate(cert)


def check_host_pem(data, source="host certificate file"):
    """Parse a Dgw host certificate file back: ``(key, cert)``, or an error naming the block."""
    blocks = split_pem(data, source=source, strict=True)[0]
    if len(blocks) != 2:
        raise MxonePkiError("%s has %d PEM block(s); it must hold exactly the private key, then the certificate"
                            % (source, len(blocks)), file=source)
    first, second = blocks
    if first.label == "ENCRYPTED PRIVATE KEY":
        raise MxonePkiError("%s: %s: the gateway cannot use an encrypted key" % (source, first.describe()),
                            file=source)
    if first.label not in HOST_KEY_LABELS:
        raise MxonePkiError("%s: %s: the private key must come first" % (source, first.describe()), file=source)
    if second.label != "CERTIFICATE":
        raise MxonePkiError("%s: %s: the certificate must follow the key" % (source, second.describe()),
                            file=source)
    key = load_private_key(first.to_pem().encode("ascii"), source="%s %s" % (source, first.describe()))
    cert = load_certificate(second.der, source="%s %s" % (source, second.describe()))
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("%s: the key does not fit the certificate" % source, file=source)
    return key, cert


def other_certificates(chain):
    """The CA certificates as the gateway's "other" certificates: one PEM file, and one DER per certificate."""
    if not chain:
        raise MxonePkiError("at least the CA certificate is needed")
    pem = b"".join(dump_certificate(cert) for cert in chain)
    ders = [cert.public_bytes(serialization.Encoding.DER) for cert in chain]
    return pem, ders
