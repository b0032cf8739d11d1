# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Phone configuration fragments for TLS and SRTP, for the phones' download server.

Facts from the vendor's MiVoice 5000 call-encryption manual:

- Mitel 6000 SIP phones (6700/6800/6900): ``sip transport protocol`` 4 (TLS);
  proxy, registrar and their backups on 5061; ``sips persistent tls`` 1 (then
  only the trusted certificates file is needed); ``sips trusted certificates``
  = the CA file; ``sips tls authentication`` 1 (a CA-signed PBX certificate,
  0 would be the PBX's self-signed one); ``sip srtp mode`` 1; ``srtp aes256
  key`` 1; ``time server1`` an NTP server (TLS needs the clock). Bothway
  (mutual) mode adds ``sips root and intermediate certificates``, ``sips local
  certificate`` and ``sips private key``; the certificate and key may be the
  same for all phones or one per phone.
- MiVoice 5300 IP phones: ``SIP_PORT_PBX`` and ``SIP_PORT_PBX_BACKUP`` 5061,
  ``SIP_TRANS_PROTO`` TLS, ``TRUSTED_CERTS`` the CA file, ``TIME_SERVER``.
  They cannot work in Bothway mode.

The 6000 fragment uses those phones' ``parameter: value`` configuration
syntax, to merge into ``aastra.cfg`` or ``<MAC>.cfg``. The 5300 fragment
lists the parameters as ``NAME=value``, the values to set as specific
parameters in TMA (the manual names the parameters, not a file syntax).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mxone.pki.plugins.module_utils.devices import device_files
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.naming import Names, validate_domain, validate_ip

MODELS = ("mitel6000", "mivoice5300")
CLIENT_CERT_MODES = ("shared", "per_phone")
TLS_PORT = 5061
TRANSPORT_TLS = 4
SRTP_PREFERRED = 1
HEADER = "Managed by mxone.pki (role mxone_devices); changes here are overwritten."

# File names on the download server, beside the CA file.
FRAGMENT_6000 = "mxone-tls-6000.cfg"
FRAGMENT_5300 = "mxone-tls-5300.cfg"
# A client certificate's stem: "phone-client" when shared, the MAC per phone. Its certificate and key files are
# the ones device_cert writes for the phone kind (devices.device_files, format pem_parts).
SHARED_CLIENT_STEM = "phone-client"


def client_files(stem):
    """``{stem, cert, key}``: the file names of one client certificate and its key on the download server."""
    files = device_files("pem_parts", stem)
    return dict(stem=stem, cert=files["cert"], key=files["key"])


_MAC = re.compile(r"^[0-9A-F]{12}$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def normalise_mac(mac, field="phones_macs"):
    """``00:08:5d:1a:2b:3c`` / ``00-08-5D-...`` -> ``00085D1A2B3C`` (the phones' file-name form)."""
    text = re.sub(r"[:.\-\s]", "", str(mac or "")).upper()
    if not _MAC.match(text):
        raise MxonePkiError("%r is not a MAC address" % (mac,), field=field)
    return text


def per_phone_files(mac):
    """The files of one phone in per-phone bothway mode: its certificate, key and 6000 fragment."""
    mac = normalise_mac(mac)
    return dict(client_files(mac), mac=mac, fragment="%s-tls.cfg" % mac)


def _file_name(value, field):
    if not isinstance(value, str) or not _FILE.match(value):
        raise MxonePkiError("%r must be a plain file name (the phone fetches it from the download server)"
                            % (value,), field=field)
    return value


def _time_server(value):
    if not value or not str(value).strip():
        raise MxonePkiError("an NTP server is required: phones open TLS only with a correct clock",
                            field="phones_time_server")
    value = str(value).strip()
    try:
        return validate_ip(value, field="phones_time_server")
    except MxonePkiError:
        return validate_domain(value, field="phones_time_server")


def check_plan(models, bothway=False, client_cert_mode="shared", macs=None):
    """Refuse combinations the phones cannot work with; return the normalised MAC list."""
    models = list(models or [])
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise MxonePkiError("unknown phone model(s) %s; choose from %s" % (", ".join(unknown), ", ".join(MODELS)),
                            field="phones_models")
    if client_cert_mode not in CLIENT_CERT_MODES:
        raise MxonePkiError("client certificate mode must be one of %s" % ", ".join(CLIENT_CERT_MODES),
                            field="phones_client_cert_mode")
    if bothway and "mivoice5300" in models:
        raise MxonePkiError("MiVoice 5300 IP phones cannot work in Bothway (mutual TLS) mode; leave bothway off "
                            "or drop mivoice5300 from the models", field="phones_bothway")
    if bothway and "mitel6000" not in models:
        raise MxonePkiError("Bothway mode is for Mitel 6000 SIP phones; add mitel6000 to the models",
                            field="phones_bothway")
    macs = [normalise_mac(mac) for mac in (macs or [])]
    if bothway and client_cert_mode == "per_phone" and not macs:
        raise MxonePkiError("per-phone client certificates need the phones' MAC addresses", field="phones_macs")
    if len(set(macs)) != len(macs):
        raise MxonePkiError("a MAC address is listed twice", field="phones_macs")
    return macs


def mitel6000_settings(ca_file, time_server, port=TLS_PORT, aes256=True, bothway=False, client_cert=None,
                       client_key=None):
    """``[(parameter, value)]`` for Mitel 6000 SIP phones, in a stable order.

    With ``bothway`` and a ``client_cert``/``client_key`` the phone's certificate lines are included
    (shared mode); per-phone mode puts those in each phone's own fragment (``mitel6000_local_settings``).
    """
    ca_file = _file_name(ca_file, "phones_ca_file")
    settings = [
        ("sip transport protocol", TRANSPORT_TLS),
        ("sip proxy port", port),
        ("sip registrar port", port),
        ("sip backup proxy port", port),
        ("sip backup registrar port", port),
        ("sips persistent tls", 1),
        ("sips trusted certificates", ca_file),
        ("sips tls authentication", 1),
        ("sip srtp mode", SRTP_PREFERRED),
        ("srtp aes256 key", 1 if aes256 else 0),
        ("time server1", _time_server(time_server)),
    ]
    if bothway:
        settings.append(("sips root and intermediate certificates", ca_file))
        if client_cert or client_key:
            settings += mitel6000_local_settings(client_cert, client_key)
    return settings


def mitel6000_local_settings(client_cert, client_key):
    """The bothway lines naming a phone's own certificate and key."""
    return [("sips local certificate", _file_name(client_cert, "phones_client_cert")),
            ("sips private key", _file_name(client_key, "phones_client_key"))]


def render_mitel6000(settings, comment=None):
    lines = ["# " + HEADER]
    if comment:
        lines.append("# " + comment)
    lines += ["%s: %s" % (name, value) for name, value in settings]
    return "\n".join(lines) + "\n"


def _parse_settings(text, separator, form):
    """``{name: value}`` of ``name<separator>value`` lines (``#`` comments and blank lines skipped)."""
    values = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if separator not in line:
            raise MxonePkiError("line %d: %r is not %s" % (number, raw, form))
        name, value = line.split(separator, 1)
        values[name.strip()] = value.strip()
    return values


def parse_mitel6000(text):
    """``{parameter: value}`` of a Mitel 6000 configuration text (``#`` comments skipped)."""
    return _parse_settings(text, ":", "'parameter: value'")


def mivoice5300_settings(ca_file, time_server, port=TLS_PORT):
    """``[(PARAMETER, value)]`` for MiVoice 5300 IP phones."""
    return [
        ("SIP_PORT_PBX", port),
        ("SIP_PORT_PBX_BACKUP", port),
        ("SIP_TRANS_PROTO", "TLS"),
        ("TRUSTED_CERTS", _file_name(ca_file, "phones_ca_file")),
        ("TIME_SERVER", _time_server(time_server)),
    ]


def render_mivoice5300(settings):
    lines = ["# " + HEADER,
             "# MiVoice 5300 IP phones: set these as specific parameters in TMA (not through DHCP)."]
    lines += ["%s=%s" % (name, value) for name, value in settings]
    return "\n".join(lines) + "\n"


def parse_mivoice5300(text):
    """``{NAME: value}`` of a MiVoice 5300 fragment."""
    return _parse_settings(text, "=", "NAME=value")


_CLIENT_CN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def client_names(common_name, dns=None, ips=None):
    """Names of a phone's client certificate: the PBX checks its signature and dates, not its names,
    so the CN may be a plain label such as the MAC address or ``mitel-phones``."""
    if not isinstance(common_name, str) or not _CLIENT_CN.match(common_name):
        raise MxonePkiError("%r is not a usable common name for a phone certificate (letters, digits, . _ -)"
                            % (common_name,), field="common_name")
    dns = [validate_domain(name, field="dns") for name in (dns or [])]
    ips = [validate_ip(ip, field="ips") for ip in (ips or [])]
    return Names(common_name, dns, ips)


def download_files(models, time_server, ca_file="ca.pem", port=TLS_PORT, aes256=True, bothway=False,
                   client_cert_mode="shared", macs=None, client_common_name="mitel-phones"):
    """Everything a download server gets besides the CA file.

    ``{"fragments": [{name, content}], "clients": [{stem, common_name, cert, key}]}``: the fragments
    of the chosen models (plus one per phone in per-phone Bothway mode) and the client certificates to
    issue (one shared, or one per MAC, whose CN is the MAC).
    """
    macs = check_plan(models, bothway, client_cert_mode, macs)
    port = int(port)
    fragments, clients = [], []
    shared = bool(bothway) and client_cert_mode == "shared"
    if shared:
        clients.append(dict(client_files(SHARED_CLIENT_STEM), common_name=client_common_name))
    if "mitel6000" in models:
        settings = mitel6000_settings(ca_file, time_server, port=port, aes256=aes256, bothway=bothway,
                                      client_cert=clients[0]["cert"] if shared else None,
                                      client_key=clients[0]["key"] if shared else None)
        fragments.append(dict(name=FRAGMENT_6000, content=render_mitel6000(
            settings, comment="Mitel 6000 SIP phones: merge into aastra.cfg (or <MAC>.cfg).")))
    if "mivoice5300" in models:
        fragments.append(dict(name=FRAGMENT_5300, content=render_mivoice5300(
            mivoice5300_settings(ca_file, time_server, port=port))))
    if bothway and client_cert_mode == "per_phone":
        for mac in macs:
            files = per_phone_files(mac)
            clients.append(dict(stem=files["stem"], common_name=files["mac"], cert=files["cert"], key=files["key"]))
            fragments.append(dict(name=files["fragment"], content=render_mitel6000(
                mitel6000_local_settings(files["cert"], files["key"]),
                comment="Bothway mode: phone %s's own certificate; merge into its <MAC>.cfg." % files["mac"])))
    return dict(fragments=fragments, clients=clients)
