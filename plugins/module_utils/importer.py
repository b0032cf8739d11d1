# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import what a customer's PKI signed: PEM, PKCS#7 (.p7b) or PKCS#12 (.pfx).

Whatever the format, the result is the same three things: the private
key, the server certificate, and its chain ordered by issuer links. What
cannot make a working ``eri_sn_cert.pem`` is refused here, on the
controller, before anything is written anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils._crypto import pkcs7, pkcs12, x509
from ansible_collections.mxone.pki.plugins.module_utils.certs import common_name, validity_problem
from ansible_collections.mxone.pki.plugins.module_utils.chain import find_leaf, order_chain
from ansible_collections.mxone.pki.plugins.module_utils.coverage import cover
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate
from ansible_collections.mxone.pki.plugins.module_utils.pem import looks_like_pem, split_pem
from ansible_collections.mxone.pki.plugins.module_utils.renewal import renew_window

FORMATS = ("auto", "pem", "pkcs7", "pkcs12")


class Imported(object):
    def __init__(self, key, leaf, chain, repaired=False, coverage=None):
        self.key = key
        self.leaf = leaf
        self.chain = chain
        self.repaired = repaired
        self.coverage = coverage  # coverage.Coverage of the wanted names, when they were given


def guess_format(data, source=""):
    lower = source.lower()
    if lower.endswith((".pfx", ".p12")):
        return "pkcs12"
    if lower.endswith((".p7b", ".p7c", ".p7")):
        return "pkcs7"
    if looks_like_pem(data):
        return "pkcs7" if b"-----BEGIN PKCS7-----" in data else "pem"
    try:
        pkcs7.load_der_pkcs7_certificates(data)
        return "pkcs7"
    except ValueError:
        pass
    try:
        x509.load_der_x509_certificate(data)
        return "pem"  # a lone DER certificate: read like PEM input
    except ValueError:
        pass
    if data[:1] == b"\x30":  # a DER structure that is neither of the above: PKCS#12 is what is left
        return "pkcs12"
    raise MxonePkiError("%s is not PEM, DER, PKCS#7 or PKCS#12" % (source or "the file"), file=source or None)


def read_certificates(data, source, fmt="auto"):
    """All certificates in a PEM, DER or PKCS#7 file; ``(certs, repaired)``."""
    fmt = guess_format(data, source) if fmt == "auto" else fmt
    if fmt == "pkcs7":
        try:
            if looks_like_pem(data):
                # through the one PEM splitter: text around the block, a BOM and CRLF are ignored
                blocks = [b for b in split_pem(data, source=source)[0] if b.label in ("PKCS7", "CMS")]
                if not blocks:
                    raise ValueError("no PKCS7 block")
                certs = sum((list(pkcs7.load_der_pkcs7_certificates(b.der)) for b in blocks), [])
            else:
                certs = pkcs7.load_der_pkcs7_certificates(data)
        except ValueError as exc:
            raise MxonePkiError("%s is not a readable PKCS#7 file (%s)" % (source, exc), file=source)
        return list(certs), False
    if fmt != "pem":
        raise MxonePkiError("%s: format %s holds a private key; use it as the main file" % (source, fmt),
                            file=source)
    if not looks_like_pem(data):
        try:
            return [x509.load_der_x509_certificate(data)], False
        except ValueError:
            raise MxonePkiError("%s is neither PEM nor a DER certificate" % source, file=source)
    blocks, repaired = split_pem(data, source=source)
    certs = []
    for block in blocks:
        if block.is_certificate:
            try:
                certs.append(x509.load_der_x509_certificate(block.der))
            except ValueError as exc:
                raise MxonePkiError("%s: %s is not a readable certificate (%s)" % (source, block.describe(), exc),
                                    file=source)
        elif block.is_private_key:
            raise MxonePkiError("%s: %s: a private key in a certificate file; give keys separately"
                                % (source, block.describe()), file=source)
    if not certs:
        raise MxonePkiError("%s holds no certificate" % source, file=source)
    return certs, repaired


def read_pkcs12(data, password, source):
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret or None)
    except ValueError:
        raise MxonePkiError("%s: wrong password, or not a PKCS#12 file" % source, file=source, field="password")
    if key is None:
        raise MxonePkiError("%s holds no private key" % source, file=source)
    certs = ([cert] if cert is not None else []) + list(extra or [])
    return key, certs


def import_signed(main_data, main_source, now, ca_data=None, ca_source=None, key=None, password=None,
                  fmt="auto", wanted=None, require_ips=False, system=None, renew_before=None):
    """Turn what came back from a customer's CA into (key, leaf, chain).

    ``key`` is the CSR's key kept on the controller; a PKCS#12 brings its
    own. Refuses: a key that does not fit, a chain that does not link to a
    self-signed root, a leaf or CA that is expired or not yet valid, and,
    when ``wanted`` (a ``naming.Names``) is given, a leaf that does not
    cover those names (``coverage.cover``; ``require_ips`` makes missing
    IPs a refusal too; ``system`` is named in the message), and, with
    ``renew_before``, a leaf the next renewal check would renew at once.
    """
    if fmt not in FORMATS:
        raise MxonePkiError("unknown format %r; choose one of %s" % (fmt, ", ".join(FORMATS)), field="format")
    fmt = guess_format(main_data, main_source) if fmt == "auto" else fmt
    repaired = False
    if fmt == "pkcs12":
        key, certs = read_pkcs12(main_data, password, main_source)
        key_source = main_source
    else:
        certs, repaired = read_certificates(main_data, main_source, fmt)
        key_source = "the kept CSR key"
    if ca_data is not None:
        more, more_repaired = read_certificates(ca_data, ca_source or "CA file")
        certs += more
        repaired = repaired or more_repaired
    all_sources = main_source + (" + " + ca_source if ca_source else "")
    leaf = find_leaf(certs, source=all_sources)
    if key is None:
        raise MxonePkiError("%s: no private key for %r; import the certificate for which this tool made the "
                            "CSR, or a .pfx" % (main_source, common_name(leaf.subject)), file=main_source)
    if not key_fits_certificate(key, leaf):
        raise MxonePkiError("%s: %r does not fit %s (it was not signed for this CSR's key)"
                            % (main_source, common_name(leaf.subject), key_source), file=main_source)
    chain = order_chain(leaf, certs, source=all_sources)
    for cert in [leaf] + chain:
        problem = validity_problem(cert, now)
        if problem:
            raise MxonePkiError("%s: %r is %s" % (all_sources, common_name(cert.subject), problem),
                                file=main_source)
    if renew_before is not None:
        left = leaf.not_valid_after_utc - now
        window = renew_window(leaf, renew_before)
        if left <= window:
            raise MxonePkiError("%s: %r expires on %s, within the renew-before window of %d day(s): it would be "
                                "renewed at once; have the CSR signed with a longer validity"
                                % (main_source, common_name(leaf.subject), leaf.not_valid_after_utc.date().isoformat(),
                                   window.days), file=main_source)
    coverage = None
    if wanted is not None:
        coverage = cover(leaf, wanted, require_ips=require_ips)
        refusal = coverage.refusal(main_source, system)
        if refusal:
            raise MxonePkiError(refusal, file=main_source, field="names")
    return Imported(key, leaf, chain, repaired, coverage)
