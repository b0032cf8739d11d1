# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PEM text: split into blocks, repair run-together BEGIN/END lines, re-emit.

Some CAs deliver files where ``-----BEGIN ...-----`` or ``-----END ...-----``
does not stand on a line of its own; MX-ONE's TLS programs need them to.
``split_pem`` accepts both and says whether it had to repair; ``strict``
callers (the bundle check) refuse instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

_MARKER = re.compile(r"-----(BEGIN|END) ([A-Z0-9 #]+?)-----")
PRIVATE_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
CERTIFICATE_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")


class PemBlock(object):
    """One PEM block: its label, its DER bytes, and its 1-based position."""

    def __init__(self, label, der, index):
        self.label = label
        self.der = der
        self.index = index

    @property
    def is_private_key(self):
        return self.label in PRIVATE_KEY_LABELS

    @property
    def is_certificate(self):
        return self.label in CERTIFICATE_LABELS

    def describe(self):
        return "block %d (%s)" % (self.index, self.label)

    def to_pem(self):
        return encode_pem(self.label, self.der)


def encode_pem(label, der):
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def looks_like_pem(data):
    return b"-----BEGIN " in data if isinstance(data, bytes) else "-----BEGIN " in data


def markers_on_own_lines(text):
    """True when every BEGIN/END marker is alone on its line."""
    for line in text.splitlines():
        stripped = line.strip()
        if _MARKER.search(stripped) and not _MARKER.fullmatch(stripped):
            return False
    return True


_BOM = b"\xef\xbb\xbf"


def pem_text(data, source="PEM data"):
    """``data`` as text, without a UTF-8 byte order mark.

    Non-ASCII bytes are allowed only outside the blocks (a ``friendlyName``
    in Bag Attributes); inside one they fail the base64 check. Bytes with
    no BEGIN line at all are refused as not PEM (DER, most likely).
    """
    if isinstance(data, bytes):
        if data.startswith(_BOM):
            data = data[len(_BOM):]
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            if b"-----BEGIN " not in data:
                raise MxonePkiError("%s is not PEM text (it holds non-ASCII bytes; DER?)" % source)
            return data.decode("latin-1")
    return data[1:] if data.startswith("\ufeff") else data


def split_pem(data, source="PEM data", strict=False):
    """Return ``(blocks, repaired)`` for PEM ``data`` (bytes or text).

    Text outside blocks (OpenSSL's "Bag Attributes" and ``subject=``/``issuer=``
    lines, comments, even in UTF-8), a UTF-8 byte order mark and CRLF line
    ends are ignored: only the blocks are kept, and callers re-emit them.
    A BEGIN without its END, a mismatched END, or a body that is not base64
    raises ``MxonePkiError`` naming the block. With ``strict`` a marker that
    is not on its own line is an error instead of a repair.
    """
    text = pem_text(data, source)
    repaired = not markers_on_own_lines(text)
    if repaired and strict:
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if _MARKER.search(stripped) and not _MARKER.fullmatch(stripped):
                raise MxonePkiError(
                    "%s: line %d: a BEGIN/END line is not on a line of its own" % (source, number))
    blocks = []
    open_label = None
    body_start = 0
    for match in _MARKER.finditer(text):
        kind, label = match.group(1), match.group(2)
        index = len(blocks) + 1
        if kind == "BEGIN":
            if open_label is not None:
                raise MxonePkiError("%s: block %d (%s) is truncated: BEGIN %s before its END"
                                    % (source, index, open_label, label))
            open_label, body_start = label, match.end()
            continue
        if open_label is None:
            raise MxonePkiError("%s: END %s without BEGIN (after block %d)" % (source, label, index - 1))
        if label != open_label:
            raise MxonePkiError("%s: block %d (%s) ends with END %s" % (source, index, open_label, label))
        body = text[body_start:match.start()]
        if ":" in body:  # RFC 1421 headers (Proc-Type/DEK-Info): legacy encrypted key
            raise MxonePkiError("%s: block %d (%s) uses legacy PEM encryption headers; "
                                "convert it to PKCS#8 (openssl pkcs8 -topk8)" % (source, index, label))
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise MxonePkiError("%s: block %d (%s) is not valid base64" % (source, index, label))
        if not der:
            raise MxonePkiError("%s: block %d (%s) is empty" % (source, index, label))
        blocks.append(PemBlock(label, der, index))
        open_label = None
    if open_label is not None:
        raise MxonePkiError("%s: block %d (%s) is truncated: no END line"
                            % (source, len(blocks) + 1, open_label))
    return blocks, repaired


def certificate_ders(data, source="PEM data"):
    """The DER bytes of every certificate block of PEM ``data``, in file order; other blocks are skipped.

    ``split_pem`` does the parsing, so a chain file with text around its blocks or run-together
    markers reads as it does everywhere else, and a broken block is an error naming it.
    """
    return [block.der for block in split_pem(data, source=source)[0] if block.is_certificate]
