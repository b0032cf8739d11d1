# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mitel Connect (Mobility Router, Edge Gateway, HQ and service appliances): CSR and import text.

Facts from the vendor's application note on certificates with Connect: CSRs
carry the full state or province name, never its abbreviation, and may list
alternative names; wildcard certificates are supported; the Mobility Router
imports one pasted text holding, in this order, the signed certificate, its
RSA private key, then the chain (intermediates and root), each with its
BEGIN and END lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import rsa
from ansible_collections.mxone.pki.plugins.module_utils.certs import (
    common_name, dump_certificate, load_certificate, signed_by)
from ansible_collections.mxone.pki.plugins.module_utils.csr import build_csr, subject_warnings
from ansible_collections.mxone.pki.plugins.module_utils.devices import device_names, plain_private_key
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem

STATE_CHECKS = ("error", "warn")
IMPORT_KEY_LABEL = "RSA PRIVATE KEY"


def connect_names(fqdn, alt_names=None, ips=None):
    """CN = the server's FQDN (a wildcard such as ``*.example.com`` is fine); SAN = it plus the alternatives."""
    return device_names(fqdn, alt_names, ips, field="common_name", allow_wildcard=True)


def build_connect_csr(key, names, subject=None, state_check="error", digest="sha256"):
    """A CSR for Connect: ``(csr, warnings)``; an abbreviated state is an error (or a warning when asked)."""
    if state_check not in STATE_CHECKS:
        raise MxonePkiError("state check must be one of %s" % ", ".join(STATE_CHECKS), field="csr_state_check")
    problems = subject_warnings(subject)
    if problems and state_check == "error":
        raise MxonePkiError("%s (for example California, not CA)" % problems[0], field="csr_subject.state")
    csr, warnings = build_csr(key, names, subject, digest=digest)
    return csr, warnings


def build_import_text(key, cert, chain):
    """The text the Mobility Router imports: certificate, RSA private key (PKCS#1), then the chain."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise MxonePkiError("Mitel Connect imports an RSA private key; this key is not RSA (use key_type rsa*)",
                            field="key_type")
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("the private key does not fit the certificate")
    for child, parent in zip([cert] + list(chain), chain):
        if not signed_by(child, parent):
            raise MxonePkiError("%r did not sign %r; give the chain closest first"
                                % (common_name(parent.subject), common_name(child.subject)))
    return (dump_certificate(cert) + plain_private_key(key, "traditional")
            + b"".join(dump_certificate(ca) for ca in chain))


def check_import_text(data, source="import text"):
    """Parse the import text back: ``(cert, key, chain)`` in the Mobility Router's order, or an error."""
    blocks = split_pem(data, source=source, strict=True)[0]
    if len(blocks) < 3:
        raise MxonePkiError("%s has %d PEM block(s); it needs the certificate, the RSA private key and the chain"
                            % (source, len(blocks)), file=source)
    labels = [block.label for block in blocks]
    if labels[0] != "CERTIFICATE":
        raise MxonePkiError("%s: %s: the signed certificate must come first" % (source, blocks[0].describe()),
                            file=source)
    if labels[1] != IMPORT_KEY_LABEL:
        raise MxonePkiError("%s: %s: the RSA private key (BEGIN %s) must follow the certificate"
                            % (source, blocks[1].describe(), IMPORT_KEY_LABEL), file=source)
    for block in blocks[2:]:
        if block.label != "CERTIFICATE":
            raise MxonePkiError("%s: %s: only chain certificates may follow the key" % (source, block.describe()),
                                file=source)
    cert = load_certificate(blocks[0].der, source="%s %s" % (source, blocks[0].describe()))
    key = load_private_key(blocks[1].to_pem().encode("ascii"), source="%s %s" % (source, blocks[1].describe()))
    chain = [load_certificate(b.der, source="%s %s" % (source, b.describe())) for b in blocks[2:]]
    if not key_fits_certificate(key, cert):
        raise MxonePkiError("%s: the key does not fit the certificate" % source, file=source)
    for child, parent in zip([cert] + chain, chain):
        if not signed_by(child, parent):
            raise MxonePkiError("%s: %r did not sign %r" % (source, common_name(parent.subject),
                                                            common_name(child.subject)), file=source)
    return cert, key, chain
