# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chain order by issuer links, never by the order a CA delivered files in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mxone.pki.plugins.module_utils.certs import common_name, is_ca, is_self_issued, signed_by
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError


def order_chain(leaf, certs, source="chain"):
    """Return the CA certificates from ``leaf`` upwards: closest first, root last.

    Duplicates and the leaf itself are dropped. Raises when a link is
    missing, when the top is not a self-signed root, or when a certificate
    is left over that belongs to no path (a foreign intermediate).
    """
    pool = []
    for cert in certs:
        if cert != leaf and cert not in pool:
            pool.append(cert)
    ordered = []
    current = leaf
    while not is_self_issued(current):
        parent = next((c for c in pool if c not in ordered and signed_by(current, c)), None)
        if parent is None:
            raise MxonePkiError("%s does not link: no certificate in it signed %r (issuer %r)"
                                % (source, common_name(current.subject), common_name(current.issuer)),
                                file=source)
        ordered.append(parent)
        current = parent
    if current is leaf:
        raise MxonePkiError("%s: the server certificate is self-signed; MX-ONE needs one signed by a CA"
                            % source, file=source)
    if not signed_by(current, current):
        raise MxonePkiError("%s: root %r is not validly self-signed" % (source, common_name(current.subject)),
                            file=source)
    extra = [c for c in pool if c not in ordered]
    if extra:
        raise MxonePkiError("%s holds %s, which is not on the path from the server certificate to its root"
                            % (source, ", ".join(repr(common_name(c.subject)) for c in extra)), file=source)
    return ordered


def find_leaf(certs, source="certificates"):
    """The one certificate that is not a CA and signed no other: the server certificate.

    Copies of one certificate count once (a leaf file given beside a "fullchain" file).
    """
    unique = []
    for cert in certs:
        if cert not in unique:
            unique.append(cert)
    candidates = [c for c in unique if not is_ca(c) and not any(signed_by(o, c) for o in unique if o != c)]
    if len(candidates) != 1:
        what = "no server (non-CA) certificate" if not candidates else "%d server certificates" % len(candidates)
        raise MxonePkiError("%s holds %s; expected exactly one" % (source, what), file=source)
    return candidates[0]
