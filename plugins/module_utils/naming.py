# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The name rules of an MX-ONE system: the one place that knows them.

A LIM's official name is ``lim<N>.<domain>``; a system certificate has the
wildcard CN ``*.<domain>`` and carries every LIM's FQDN as SAN DNS and
every LIM's IP as SAN IP, plus the extra names the inventory adds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.mxone.pki.plugins.module_utils._crypto import NameOID, x509
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_WILDCARD_LABEL = "*"


def validate_domain(domain, field="mxone_domain", allow_wildcard=False):
    """Return the domain lower-cased, or raise naming ``field``.

    The MX-ONE system is its own DNS sub-domain, so a single label
    (``corp``) is refused as well as illegal characters.
    """
    if not isinstance(domain, str) or not domain.strip():
        raise MxonePkiError("a DNS domain is required", field=field)
    name = domain.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253:
        raise MxonePkiError("%r is longer than 253 characters" % domain, field=field)
    if len(labels) < 2:
        raise MxonePkiError("%r has fewer than two labels; an MX-ONE system needs its own "
                            "sub-domain such as mx.example.net" % domain, field=field)
    for position, label in enumerate(labels):
        if allow_wildcard and position == 0 and label == _WILDCARD_LABEL:
            continue
        if not _LABEL.fullmatch(label):
            raise MxonePkiError("%r is not a valid DNS name: label %r must be 1-63 letters, "
                                "digits or inner hyphens" % (domain, label), field=field)
    return name


def validate_lim_number(value, field="mxone_lim"):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value.strip())
        else:
            raise MxonePkiError("%r is not an integer LIM number" % (value,), field=field)
    if value < 1:
        raise MxonePkiError("LIM number %d must be 1 or more" % value, field=field)
    return value


def validate_ip(value, field="mxone_lim_ip"):
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise MxonePkiError("%r is not an IP address" % (value,), field=field)


def lim_fqdn(lim, domain):
    """``lim<N>.<domain>``, the name peers and phones check."""
    return "lim%d.%s" % (validate_lim_number(lim), validate_domain(domain))


def wildcard_cn(domain):
    return "*.%s" % validate_domain(domain)


class Names(object):
    """What a certificate must carry: a CN and the SAN sets (order-free)."""

    def __init__(self, common_name, dns, ips):
        self.common_name = common_name
        self.dns = frozenset(dns)
        self.ips = frozenset(ips)

    def __eq__(self, other):
        return (isinstance(other, Names) and self.common_name == other.common_name
                and self.dns == other.dns and self.ips == other.ips)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.common_name, self.dns, self.ips))

    def sorted_dns(self):
        return sorted(self.dns)

    def sorted_ips(self):
        return sorted(self.ips, key=lambda ip: (ipaddress.ip_address(ip).version, ipaddress.ip_address(ip)))

    def as_dict(self):
        return {"common_name": self.common_name, "dns": self.sorted_dns(), "ips": self.sorted_ips()}

    def __repr__(self):
        return "Names(%r, dns=%r, ips=%r)" % (self.common_name, self.sorted_dns(), self.sorted_ips())


def _extras(extra_dns, extra_ips):
    dns = [validate_domain(name, field="mxone_extra_dns", allow_wildcard=True) for name in (extra_dns or [])]
    ips = [validate_ip(ip, field="mxone_extra_ips") for ip in (extra_ips or [])]
    return dns, ips


COMMON_NAMES = ("name", "ip")


def _ip_common_name(lims, what):
    """The CN when ``mxone_cert_common_name`` is ``ip``: the node's IP (for sites without DNS); SAN unchanged.

    One certificate has one CN: it must be for exactly one LIM, and that LIM needs an IP.
    """
    if len(lims) != 1:
        raise MxonePkiError("ip (the IP address as CN) needs a certificate for one LIM; %s shares one among %d LIMs: "
                            "give each LIM its own with mxone_cert_mode lim" % (what, len(lims)),
                            field="mxone_cert_common_name")
    if lims[0].get("ip") is None:
        raise MxonePkiError("ip (the IP address as CN): %s has no IP address" % what, field="mxone_cert_common_name")
    return validate_ip(lims[0]["ip"])


def _check_common_name(common_name):
    if common_name not in COMMON_NAMES:
        raise MxonePkiError("%r is not one of %s" % (common_name, ", ".join(COMMON_NAMES)),
                            field="mxone_cert_common_name")


def system_names(domain, lims, extra_dns=None, extra_ips=None, common_name="name"):
    """Names of the one wildcard certificate a system's LIMs share.

    ``lims`` is a list of ``{"lim": N, "ip": "a.b.c.d"}``. Duplicate LIM
    numbers are refused: two nodes cannot both be ``lim2``.
    ``common_name='ip'``: the CN is the LIM's IP instead of the wildcard
    (only for a system of one LIM); the SAN is the same.
    """
    _check_common_name(common_name)
    domain = validate_domain(domain)
    if not lims:
        raise MxonePkiError("a system needs at least one LIM", field="mxone_lim")
    seen = {}
    dns, ips = _extras(extra_dns, extra_ips)
    for entry in lims:
        number = validate_lim_number(entry.get("lim"))
        if number in seen:
            raise MxonePkiError("LIM number %d is used twice in domain %s" % (number, domain), field="mxone_lim")
        seen[number] = True
        dns.append(lim_fqdn(number, domain))
        if entry.get("ip") is not None:
            ips.append(validate_ip(entry["ip"]))
    if common_name == "ip":
        return Names(_ip_common_name(lims, "the system certificate of %s" % domain), dns, ips)
    return Names(wildcard_cn(domain), dns, ips)


def lim_names(domain, lim, ip=None, extra_dns=None, extra_ips=None, common_name="name"):
    """Names of a per-LIM certificate: CN and SAN ``lim<N>.<domain>`` plus its IP.

    ``common_name='ip'``: the CN is the LIM's IP (sites without DNS); the SAN is the same.
    """
    _check_common_name(common_name)
    fqdn = lim_fqdn(lim, domain)
    dns, ips = _extras(extra_dns, extra_ips)
    dns.append(fqdn)
    if ip is not None:
        ips.append(validate_ip(ip))
    if common_name == "ip":
        return Names(_ip_common_name([{"lim": lim, "ip": ip}], fqdn), dns, ips)
    return Names(fqdn, dns, ips)


def names_of_certificate(cert):
    """Names a parsed certificate carries, in the same shape as the wanted ones."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = cns[0].value if cns else None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return Names(common_name, [], [])
    dns = [name.lower() for name in san.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return Names(common_name, dns, ips)
