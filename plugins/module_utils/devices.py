# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mitel systems other than MX-ONE: the kinds, their default formats and windows, names, expiry warning.

The formats themselves live one per file (``mivoice5000``, ``dgw``,
``sip_proxy``, ``phones``, ``connect``); this file knows which kind takes
which format by default, how close to its end a kind's certificate is
renewed and flagged, and the name rule of a device that is reached by one
FQDN (or IP) plus a few more.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import posixpath

from ansible_collections.mxone.pki.plugins.module_utils._crypto import serialization
from ansible_collections.mxone.pki.plugins.module_utils.certs import days_left
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.fleet import ca_paths, download_ca_path
from ansible_collections.mxone.pki.plugins.module_utils.naming import Names, validate_domain, validate_ip

FORMATS = ("mivoice5000_pkcs12", "dgw_pem", "pem_parts", "connect_text")

# kind -> default format, renew-before window (days), expiry warning threshold (days), variable prefix.
# MiVoice 5000 warns its administrator 14 days before a trusted certificate ends, then daily; once it has
# ended, calls still work but voice is no longer encrypted. Renewing inside that window is the point.
KINDS = {
    "mivoice5000": dict(format="mivoice5000_pkcs12", renew_before=14, warn_days=14, prefix="mivoice5000"),
    "ta7100": dict(format="dgw_pem", renew_before=30, warn_days=14, prefix="ta7100"),
    "sip_proxy": dict(format="pem_parts", renew_before=30, warn_days=14, prefix="sip_proxy"),
    "phone": dict(format="pem_parts", renew_before=30, warn_days=14, prefix="phones"),
    "connect": dict(format="connect_text", renew_before=30, warn_days=14, prefix="connect"),
}


def kind_defaults(kind):
    try:
        return KINDS[kind]
    except KeyError:
        raise MxonePkiError("unknown device kind %r; choose one of %s" % (kind, ", ".join(sorted(KINDS))),
                            field="kind")


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def device_names(common_name, dns=None, ips=None, field="common_name", allow_wildcard=True):
    """Names of a device reached by ``common_name`` (an FQDN or an IP) and possibly more.

    The CN is repeated in the SAN (as DNS or IP, whichever it is): TLS clients
    check the SAN only. A host name without a dot is refused (a peer could
    never check it), as are illegal labels.
    """
    if not common_name or not str(common_name).strip():
        raise MxonePkiError("a common name (FQDN or IP address) is required", field=field)
    common_name = str(common_name).strip()
    dns_names = [validate_domain(name, field=field.replace("common_name", "dns"), allow_wildcard=allow_wildcard)
                 for name in (dns or [])]
    ip_list = [validate_ip(ip, field=field.replace("common_name", "ips")) for ip in (ips or [])]
    if _is_ip(common_name):
        common_name = validate_ip(common_name, field=field)
        ip_list.append(common_name)
    else:
        common_name = validate_domain(common_name, field=field, allow_wildcard=allow_wildcard)
        dns_names.append(common_name)
    return Names(common_name, dns_names, ip_list)


def expiry_warning(kind, cert, now, warn_days=None, what="certificate"):
    """A warning text when ``cert`` ends within ``warn_days`` (the kind's default), else None."""
    threshold = kind_defaults(kind)["warn_days"] if warn_days is None else warn_days
    if cert is None:
        return None
    left = days_left(cert, now)
    if left > threshold:
        return None
    end = cert.not_valid_after_utc.date().isoformat()
    if left < 0:
        state = "ended on %s" % end
    else:
        state = "ends on %s, in %d day(s)" % (end, left)
    consequence = ""
    if kind == "mivoice5000":
        consequence = ("; MiVoice 5000 warns from %d days before the end, daily; after it, calls still work but "
                       "voice is no longer encrypted" % threshold)
    return "the %s %s (threshold %d days)%s" % (what, state, threshold, consequence)


def not_yet_valid(cert, now):
    """True when ``cert`` starts after ``now``: MiVoice 5000 refuses such a certificate; re-issue it."""
    return cert is not None and cert.not_valid_before_utc > now


KEY_FORMATS = ("pkcs8", "traditional")


def plain_private_key(key, key_format="pkcs8"):
    """The key as unencrypted PEM: PKCS#8 (``BEGIN PRIVATE KEY``) or traditional (PKCS#1 ``BEGIN RSA
    PRIVATE KEY`` for RSA, SEC 1 ``BEGIN EC PRIVATE KEY`` for EC), for devices that cannot decrypt one.
    """
    if key_format not in KEY_FORMATS:
        raise MxonePkiError("key format must be one of %s, not %r" % (", ".join(KEY_FORMATS), key_format),
                            field="pem_key_format")
    private_format = (serialization.PrivateFormat.PKCS8 if key_format == "pkcs8"
                      else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())


def device_paths(pki_dir, host):
    """Where a device's files live in the controller's PKI store, beside the fleet's CA.

    ``download_ca`` is the phones' CA file that ``rollout.yml`` writes when the fleet has customer-PKI
    systems (every CA in use); phones get it instead of the enterprise CA alone when it exists.
    """
    directory = posixpath.join(pki_dir, "devices", host)
    return dict(ca=ca_paths(pki_dir), dir=directory, cert=posixpath.join(directory, "cert.pem"),
                key=posixpath.join(directory, "key.pem"), phones=posixpath.join(directory, "phones"),
                download_ca=download_ca_path(pki_dir))
