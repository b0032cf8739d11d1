# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mitel systems other than MX-ONE: the one device-file table, names, expiry warning.

The formats themselves live one per file (``mivoice5000``, ``dgw``,
``sip_proxy``, ``phones``, ``connect``); this file holds the table every
other place reads (the module ``device_cert``, the role ``mxone_devices``
through its filters, the phones' client files): which kind takes which
format by default, how close to its end a kind's certificate is renewed
and flagged, which files a format writes and where a device's files live
in the PKI store; and the name rule of a device that is reached by one
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
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS

# format -> the device files it writes to dest_dir, by role; {name} is the file stem (the host, or a phone's).
# Every format also writes the CA certificate (ca.pem), dgw_pem the CA as DER too (der_names), and a CSR
# is written when one is asked for.
FORMAT_FILES = {
    "mivoice5000_pkcs12": dict(pkcs12="{name}.p12"),
    "dgw_pem": dict(host_pem="{name}-host.pem"),
    "pem_parts": dict(cert="{name}.crt", key="{name}.key"),
    "connect_text": dict(import_text="{name}-import.txt"),
}
FORMATS = tuple(FORMAT_FILES)
CA_PEM_FILE = "ca.pem"
CSR_FILE = "{name}.csr"
# A device's own files in the PKI store, under <pki_dir>/devices/<host>/ (phones: one directory per client stem).
STORE_FILES = dict(cert="cert.pem", key="key.pem", phones="phones")

# kind -> default format, renew-before window (days), expiry warning threshold (days), prefix of the role's
# inventory variables (<prefix>_renew_before). The role passes no window of its own: unset, this one applies.
# MiVoice 5000 warns its administrator 14 days before a trusted certificate ends, then daily; once it has
# ended, calls still work but voice is no longer encrypted. Renewing inside that window is the point.
_PBX = 14  # MiVoice 5000's own warning threshold, days
_WINDOW = DEFAULT_RENEW_BEFORE_DAYS  # the collection's renew-before window (renewal.py)
KINDS = {
    "mivoice5000": dict(format="mivoice5000_pkcs12", renew_before=_PBX, warn_days=_PBX, prefix="mivoice5000"),
    "ta7100": dict(format="dgw_pem", renew_before=_WINDOW, warn_days=_PBX, prefix="ta7100"),
    "sip_proxy": dict(format="pem_parts", renew_before=_WINDOW, warn_days=_PBX, prefix="sip_proxy"),
    "phone": dict(format="pem_parts", renew_before=_WINDOW, warn_days=_PBX, prefix="phones"),
    "connect": dict(format="connect_text", renew_before=_WINDOW, warn_days=_PBX, prefix="connect"),
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
    paths = dict((role, posixpath.join(directory, name)) for role, name in STORE_FILES.items())
    paths.update(ca=ca_paths(pki_dir), dir=directory, download_ca=download_ca_path(pki_dir))
    return paths


def der_names(count, stem="ca"):
    """File names of the DER copies of the CA chain: ``ca.der``, then ``ca-2.der`` ... for a longer chain."""
    return ["%s.der" % stem if n == 1 else "%s-%d.der" % (stem, n) for n in range(1, count + 1)]


def device_files(fmt, name, csr=False, ca_count=1):
    """The file names (no directory) one device's files get in its ``dest_dir``, by role.

    ``ca_pem`` always, the format's own files, ``ca_der`` (a list, one per CA certificate) for
    ``dgw_pem``, and ``csr`` when a CSR is asked for.
    """
    if fmt not in FORMAT_FILES:
        raise MxonePkiError("format must be one of %s, not %r" % (", ".join(FORMATS), fmt), field="format")
    patterns = dict(ca_pem=CA_PEM_FILE)
    patterns.update(FORMAT_FILES[fmt])
    if csr:
        patterns["csr"] = CSR_FILE
    files = dict((role, pattern.format(name=name)) for role, pattern in patterns.items())
    if fmt == "dgw_pem":
        files["ca_der"] = der_names(ca_count)
    return files
