# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``eri_sn_cert.pem`` and ``ca.pem``: the one place that knows their layout.

``eri_sn_cert.pem`` holds, in this order: the server's private key
(unencrypted: the TLS programs read it at start), the server certificate,
the intermediates closest to the server certificate first, the root.
Every BEGIN/END stands on its own line. A CA key never goes in.
``ca.pem`` holds the CA certificates of that chain: what phones and peers trust.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import serialization
from ansible_collections.mxone.pki.plugins.module_utils.certs import (
    common_name, dump_certificate, is_ca, is_self_issued, load_certificate, signed_by, validity_problem)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem

SN_BUNDLE_NAME = "eri_sn_cert.pem"
CA_BUNDLE_NAME = "ca.pem"
_PLAIN_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")


def build_sn_bundle(key, leaf, chain):
    """Bytes of ``eri_sn_cert.pem`` from a key, its certificate and the ordered chain.

    ``chain`` must already be in order (``chain.order_chain``); it is
    checked here once more so a wrong order never reaches a node.
    """
    if not key_fits_certificate(key, leaf):
        raise MxonePkiError("the private key does not fit the server certificate")
    if any(key_fits_certificate(key, ca) for ca in chain):
        raise MxonePkiError("refusing to put a CA's private key into %s" % SN_BUNDLE_NAME)
    if is_ca(leaf):
        raise MxonePkiError("refusing to build %s: %r is a CA certificate, not a server certificate (its key "
                            "would be a CA key)" % (SN_BUNDLE_NAME, common_name(leaf.subject)))
    for child, parent in zip([leaf] + list(chain), chain):
        if not signed_by(child, parent):
            raise MxonePkiError("refusing to build %s: %r did not sign %r; the chain must go from the server "
                                "certificate up, closest first (chain.order_chain)"
                                % (SN_BUNDLE_NAME, common_name(parent.subject), common_name(child.subject)))
    if not chain or not (is_self_issued(chain[-1]) and signed_by(chain[-1], chain[-1])):
        raise MxonePkiError("refusing to build %s: the last certificate must be the self-signed root CA"
                            % SN_BUNDLE_NAME)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + b"".join(dump_certificate(c) for c in [leaf] + list(chain))


def build_ca_bundle(chain):
    """Bytes of ``ca.pem``: the chain's CA certificates, closest first, root last."""
    if not chain:
        raise MxonePkiError("%s needs at least the root CA certificate" % CA_BUNDLE_NAME)
    return b"".join(dump_certificate(c) for c in chain)


class SnBundle(object):
    """A parsed, checked ``eri_sn_cert.pem``: key, leaf, chain (closest first)."""

    def __init__(self, key, leaf, chain):
        self.key = key
        self.leaf = leaf
        self.chain = chain


def check_sn_bundle(data, now, source=SN_BUNDLE_NAME):
    """Parse and check ``eri_sn_cert.pem``; return an ``SnBundle`` or raise.

    The error names the block (1-based, with its label) and the reason:
    markers not on their own lines, wrong order, a key that does not fit,
    a chain that does not link or verify, a certificate out of its dates.
    """
    blocks = split_pem(data, source=source, strict=True)[0]
    if len(blocks) < 3:
        raise MxonePkiError("%s has %d PEM block(s); it needs the key, the server certificate and at least "
                            "the root CA certificate" % (source, len(blocks)), file=source)
    first = blocks[0]
    if first.label == "ENCRYPTED PRIVATE KEY":
        raise MxonePkiError("%s: %s: the private key is encrypted; the TLS programs need it in clear "
                            "(the file is mode 0600)" % (source, first.describe()), file=source)
    if first.label not in _PLAIN_KEY_LABELS:
        raise MxonePkiError("%s: %s: the first block must be the server's private key"
                            % (source, first.describe()), file=source)
    for block in blocks[1:]:
        if block.label != "CERTIFICATE":
            raise MxonePkiError("%s: %s: after the key only certificates may follow (a second key? "
                                "never put the CA key here)" % (source, block.describe()), file=source)
    key = load_private_key(first.to_pem().encode("ascii"), source="%s %s" % (source, first.describe()))
    certs = [load_certificate(b.der, source="%s %s" % (source, b.describe())) for b in blocks[1:]]
    leaf = certs[0]
    leaf_block = blocks[1]
    if is_ca(leaf):
        raise MxonePkiError("%s: %s: must be the server certificate, but %r is a CA certificate"
                            % (source, leaf_block.describe(), common_name(leaf.subject)), file=source)
    if not key_fits_certificate(key, leaf):
        raise MxonePkiError("%s: %s: the private key in block 1 does not fit this server certificate"
                            % (source, leaf_block.describe()), file=source)
    for position, (child, parent) in enumerate(zip(certs, certs[1:]), start=3):
        block = blocks[position - 1]
        if not signed_by(child, parent):
            raise MxonePkiError(
                "%s: %s: %r did not sign the certificate before it (%r, issued by %r); intermediates must "
                "follow the server certificate closest first, then the root"
                % (source, block.describe(), common_name(parent.subject), common_name(child.subject),
                   common_name(child.issuer)), file=source)
        if not is_ca(parent):
            raise MxonePkiError("%s: %s: %r is not a CA certificate"
                                % (source, block.describe(), common_name(parent.subject)), file=source)
    root, root_block = certs[-1], blocks[-1]
    if not (is_self_issued(root) and signed_by(root, root)):
        raise MxonePkiError("%s: %s: the last block must be the self-signed root CA, but %r is issued by %r"
                            % (source, root_block.describe(), common_name(root.subject),
                               common_name(root.issuer)), file=source)
    for block, cert in zip(blocks[1:], certs):
        problem = validity_problem(cert, now)
        if problem:
            raise MxonePkiError("%s: %s: %r is %s" % (source, block.describe(), common_name(cert.subject), problem),
                                file=source)
    return SnBundle(key, leaf, certs[1:])


def check_ca_bundle(data, source=CA_BUNDLE_NAME):
    """``ca.pem`` must hold only CA certificates, never a private key."""
    blocks = split_pem(data, source=source, strict=True)[0]
    if not blocks:
        raise MxonePkiError("%s holds no certificate" % source, file=source)
    certs = []
    for block in blocks:
        if block.label != "CERTIFICATE":
            raise MxonePkiError("%s: %s: only CA certificates belong here" % (source, block.describe()),
                                file=source)
        cert = load_certificate(block.der, source="%s %s" % (source, block.describe()))
        if not is_ca(cert):
            raise MxonePkiError("%s: %s: %r is not a CA certificate"
                                % (source, block.describe(), common_name(cert.subject)), file=source)
        certs.append(cert)
    return certs
