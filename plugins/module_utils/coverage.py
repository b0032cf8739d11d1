# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The coverage rule for certificates a customer's CA signed: the one place that knows it.

A customer's CA rarely signs exactly what was asked: it copies the CN
(``*.<domain>``) into the SAN, adds its own names, and a public CA never
signs a private IP address. So an imported certificate is judged by
coverage, not equality:

- every name the system (or LIM) needs as SAN DNS (each LIM FQDN and every
  ``mxone_extra_dns``) must be presented: exactly, or by a wildcard one
  label deep as RFC 6125 matches it (``*.mx.corp.net`` covers
  ``lim1.mx.corp.net``, not ``a.lim1.mx.corp.net`` nor ``mx.corp.net``);
  the CN counts only when the certificate has no SAN at all;
- a missing IP (a LIM's or an ``mxone_extra_ips``) is a warning naming it
  (peers that connect by IP will fail), or a refusal with ``require_ips``;
- extra names are reported, never a reason to refuse.

``cover(cert, wanted)`` gives a ``Coverage``; ``refusal()`` is the message
(None when accepted), ``warnings()`` what an accepted import must say.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.mxone.pki.plugins.module_utils._crypto import NameOID, x509


def presented_names(cert):
    """``(dns, ips)`` a peer checks: the SAN; the CN only when there is no SAN (RFC 6125 6.4.4)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not cns:
            return frozenset(), frozenset()
        value = str(cns[0].value).strip().lower()
        try:
            return frozenset(), frozenset([str(ipaddress.ip_address(value))])
        except ValueError:
            return frozenset([value.rstrip(".")]), frozenset()
    dns = frozenset(str(name).lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName))
    ips = frozenset(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips


def dns_matches(presented, wanted):
    """True when the presented SAN DNS name ``presented`` covers the name ``wanted``.

    Exact (case-insensitive), or ``presented`` is ``*.<rest>`` and ``wanted``
    is one label followed by ``<rest>`` (the wildcard is the whole left-most
    label and matches exactly one label). A wanted wildcard name (an extra
    DNS such as ``*.sip.corp.net``) is covered only by the same wildcard.
    """
    presented = presented.lower().rstrip(".")
    wanted = wanted.lower().rstrip(".")
    if presented == wanted:
        return True
    if not presented.startswith("*.") or wanted.startswith("*."):
        return False
    rest = presented[2:]
    if "*" in rest or rest.count(".") < 1:  # no wildcard for a whole TLD (*.net)
        return False
    label, dot, tail = wanted.partition(".")
    return bool(dot) and bool(label) and tail == rest


class Coverage(object):
    """How the names a certificate presents cover the names wanted of it."""

    def __init__(self, missing_dns, missing_ips, extra_dns, extra_ips, require_ips=False):
        self.missing_dns = sorted(missing_dns)
        self.missing_ips = _sorted_ips(missing_ips)
        self.extra_dns = sorted(extra_dns)
        self.extra_ips = _sorted_ips(extra_ips)
        self.require_ips = require_ips

    @property
    def accepted(self):
        return not self.missing_dns and not (self.require_ips and self.missing_ips)

    def refusal(self, source=None, system=None):
        """None when accepted; else the message naming each missing name, the file and the system."""
        if self.accepted:
            return None
        where = []
        if source:
            where.append(str(source))
        if system:
            where.append("system %s" % system)
        lacks = []
        if self.missing_dns:
            lacks.append("SAN DNS %s" % ", ".join(self.missing_dns))
        if self.require_ips and self.missing_ips:
            lacks.append("SAN IP %s (mxone_import_require_ips is true)" % ", ".join(self.missing_ips))
        return ("%snot covered: the certificate lacks %s; have the CSR signed again with these names in the "
                "SAN" % ((" for ".join(where) + ": ") if where else "", " and ".join(lacks)))

    def warnings(self):
        """An accepted certificate without some IPs: peers that connect by IP will fail."""
        if self.missing_ips and not self.require_ips:
            return ["the certificate has no SAN IP %s: peers that connect by IP address will fail the name "
                    "check (set mxone_import_require_ips: true to refuse such files)" % ", ".join(self.missing_ips)]
        return []

    def as_dict(self):
        return {"accepted": self.accepted, "missing_dns": self.missing_dns, "missing_ips": self.missing_ips,
                "extra_dns": self.extra_dns, "extra_ips": self.extra_ips, "require_ips": self.require_ips}

    def __repr__(self):
        return "Coverage(%r)" % self.as_dict()


def _sorted_ips(ips):
    return sorted(ips, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip)))


def cover(cert, wanted, require_ips=False):
    """The ``Coverage`` of ``wanted`` (a ``naming.Names``) by what ``cert`` presents.

    Wanted DNS are ``wanted.dns`` (LIM FQDNs and extra DNS; the wildcard CN
    of a system certificate is not a name anyone connects to), wanted IPs
    ``wanted.ips``. A presented name that is not itself wanted (a wildcard
    too, though it covers wanted names) is an extra: reported, not refused.
    """
    dns, ips = presented_names(cert)
    missing_dns = [name for name in wanted.dns if not any(dns_matches(have, name) for have in dns)]
    extra_dns = [have for have in dns if have not in wanted.dns]
    missing_ips = [ip for ip in wanted.ips if ip not in ips]
    extra_ips = [ip for ip in ips if ip not in wanted.ips]
    return Coverage(missing_dns, missing_ips, extra_dns, extra_ips, require_ips=require_ips)
