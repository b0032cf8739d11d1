# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS settings of a SIP proxy in front of Mitel gateways and PBXs: Kamailio ``tls.cfg``, OpenSIPS ``tls_mgm``.

The proxy needs three files (its certificate, its private key, the CA list
it trusts) and settings pointing at them. Kamailio's tls module reads an
ini-style file (``modparam("tls", "config", ...)``) that ``kamcmd
tls.reload`` re-reads without a restart; OpenSIPS's tls_mgm takes
``modparam`` lines, here written to a file for ``include_file`` in
``opensips.cfg`` (reload: ``opensips-cli -x mi tls_reload``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

SOFTWARE = ("kamailio", "opensips")
KAMAILIO_DEFAULT_METHOD = "TLSv1.2+"
OPENSIPS_DEFAULT_METHOD = "TLSv1_2-TLSv1_3"
HEADER = "Managed by mxone.pki (role mxone_devices); changes here are overwritten."
_SAFE_PATH = re.compile(r"^/[^\s\"'\[\]]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _path(value, field):
    if not isinstance(value, str) or not _SAFE_PATH.match(value):
        raise MxonePkiError("%r must be an absolute path without spaces, quotes or brackets" % (value,), field=field)
    return value


def _yes(flag):
    return "yes" if flag else "no"


def render_kamailio_tls_cfg(certificate, private_key, ca_list, verify_client=False, verify_server=True,
                            method=KAMAILIO_DEFAULT_METHOD):
    """Kamailio ``tls.cfg``: the proxy's certificate for inbound TLS and the CA list for both directions.

    ``verify_client`` makes inbound TLS mutual (clients must present a certificate the CA list
    verifies); ``verify_server`` checks the peers the proxy connects to (outbound) against it.
    """
    paths = dict(certificate=_path(certificate, "certificate"), private_key=_path(private_key, "private_key"),
                 ca_list=_path(ca_list, "ca_list"))
    lines = ["# " + HEADER, ""]
    # The client side presents the same certificate (EKU clientAuth) to peers that require one.
    for section, verify in (("server:default", verify_client), ("client:default", verify_server)):
        lines.append("[%s]" % section)
        lines.append("method = %s" % method)
        lines.append("verify_certificate = %s" % _yes(verify))
        lines.append("require_certificate = %s" % _yes(verify))
        lines.append("private_key = %s" % paths["private_key"])
        lines.append("certificate = %s" % paths["certificate"])
        lines.append("ca_list = %s" % paths["ca_list"])
        lines.append("")
    return "\n".join(lines)


def parse_kamailio_tls_cfg(text):
    """``{section: {key: value}}`` of a Kamailio tls.cfg (comments and blank lines skipped)."""
    sections = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"\[([^\]]+)\]", line)
        if match:
            current = sections.setdefault(match.group(1).strip(), {})
            continue
        if current is None or "=" not in line:
            raise MxonePkiError("tls.cfg line %d: %r is neither a [section] nor key = value inside one"
                                % (number, raw))
        key, value = line.split("=", 1)
        current[key.strip()] = value.strip()
    return sections


def render_opensips_tls_mgm(certificate, private_key, ca_list, domain="mxone", verify_client=False,
                            verify_server=True, method=OPENSIPS_DEFAULT_METHOD, match_ip_address="*"):
    """OpenSIPS ``tls_mgm`` modparam lines: one server and one client TLS domain using the same files."""
    if not _DOMAIN.match(domain or ""):
        raise MxonePkiError("%r is not a usable TLS domain name" % (domain,), field="domain")
    paths = dict(certificate=_path(certificate, "certificate"), private_key=_path(private_key, "private_key"),
                 ca_list=_path(ca_list, "ca_list"))
    lines = ["# " + HEADER, "# include it in opensips.cfg after loadmodule \"tls_mgm.so\" (include_file)."]
    for kind, name, verify in (("server_domain", domain, verify_client),
                               ("client_domain", domain + "-client", verify_server)):
        lines.append('modparam("tls_mgm", "%s", "%s")' % (kind, name))
        lines.append('modparam("tls_mgm", "match_ip_address", "[%s]%s")' % (name, match_ip_address))
        lines.append('modparam("tls_mgm", "match_sip_domain", "[%s]*")' % name)
        lines.append('modparam("tls_mgm", "tls_method", "[%s]%s")' % (name, method))
        for param in ("certificate", "private_key", "ca_list"):
            lines.append('modparam("tls_mgm", "%s", "[%s]%s")' % (param, name, paths[param]))
        lines.append('modparam("tls_mgm", "verify_cert", "[%s]%d")' % (name, 1 if verify else 0))
        if kind == "server_domain":  # a client certificate is demanded by the server side only
            lines.append('modparam("tls_mgm", "require_cert", "[%s]%d")' % (name, 1 if verify else 0))
    return "\n".join(lines) + "\n"


_MODPARAM = re.compile(r'^modparam\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*"([^"]*)"\s*\)\s*;?$')


def parse_opensips_modparams(text, module="tls_mgm"):
    """``(domains, kinds)`` from modparam lines: ``{domain: {param: value}}`` and ``{domain: kind}``."""
    domains, kinds = {}, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _MODPARAM.match(line)
        if not match:
            raise MxonePkiError("line %d: %r is not a modparam(\"module\", \"param\", \"value\") line" % (number, raw))
        mod, param, value = match.groups()
        if mod != module:
            continue
        if param in ("server_domain", "client_domain"):
            kinds[value] = param
            domains.setdefault(value, {})
            continue
        dom = re.match(r"^\[([^\]]+)\](.*)$", value)
        if not dom:
            raise MxonePkiError("line %d: %s value %r does not start with [domain]" % (number, param, value))
        domains.setdefault(dom.group(1), {})[param] = dom.group(2)
    return domains, kinds
