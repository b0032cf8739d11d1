"""devices: the device-file table (kinds, formats, file names, windows), names, expiry warning, key formats, paths."""

import datetime

import pytest

from _fixtures import DAY
from ansible_collections.mxone.pki.plugins.module_utils.devices import (
    FORMATS, KINDS, der_names, device_files, device_names, device_paths, expiry_warning, kind_defaults,
    plain_private_key)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError

MINUTE = datetime.timedelta(minutes=1)


@pytest.mark.parametrize("kind, fmt, renew_before, warn_days", [
    ("mivoice5000", "mivoice5000_pkcs12", 14, 14),
    ("ta7100", "dgw_pem", 30, 14),
    ("sip_proxy", "pem_parts", 30, 14),
    ("phone", "pem_parts", 30, 14),
    ("connect", "connect_text", 30, 14),
])
def test_kind_defaults(kind, fmt, renew_before, warn_days):
    defaults = kind_defaults(kind)
    assert (defaults["format"], defaults["renew_before"], defaults["warn_days"]) == (fmt, renew_before, warn_days)


def test_unknown_kind():
    with pytest.raises(MxonePkiError) as error:
        kind_defaults("mx-one")
    assert error.value.field == "kind"
    assert sorted(KINDS) == ["connect", "mivoice5000", "phone", "sip_proxy", "ta7100"]


@pytest.mark.parametrize("cn, dns, ips, want_cn, want_dns, want_ips", [
    ("sip.example.net", [], [], "sip.example.net", {"sip.example.net"}, set()),
    ("SIP.example.net.", ["sip2.example.net"], ["192.0.2.5"], "sip.example.net",
     {"sip.example.net", "sip2.example.net"}, {"192.0.2.5"}),
    ("192.0.2.9", ["gw.example.net"], [], "192.0.2.9", {"gw.example.net"}, {"192.0.2.9"}),
])
def test_device_names_repeat_the_cn_in_the_san(cn, dns, ips, want_cn, want_dns, want_ips):
    names = device_names(cn, dns, ips)
    assert (names.common_name, names.dns, names.ips) == (want_cn, frozenset(want_dns), frozenset(want_ips))


@pytest.mark.parametrize("cn, dns, ips, field", [
    ("", [], [], "common_name"),
    ("proxy", [], [], "common_name"),
    ("sip.example.net", ["bad name"], [], "dns"),
    ("sip.example.net", [], ["300.1.1.1"], "ips"),
])
def test_device_names_refused(cn, dns, ips, field):
    with pytest.raises(MxonePkiError) as error:
        device_names(cn, dns, ips)
    assert error.value.field == field


def test_device_names_wildcards_only_when_allowed():
    assert device_names("*.example.com").common_name == "*.example.com"
    with pytest.raises(MxonePkiError):
        device_names("*.example.com", allow_wildcard=False)


@pytest.mark.parametrize("kind, offset_days, warn_days, expect", [
    ("mivoice5000", 10, None, "in 10 day(s)"),
    ("mivoice5000", 14, None, "in 14 day(s)"),
    ("mivoice5000", 15, None, None),
    ("mivoice5000", -2, None, "ended on"),
    ("ta7100", 20, 30, "in 20 day(s)"),
    ("ta7100", 20, None, None),
])
def test_expiry_warning(server, kind, offset_days, warn_days, expect):
    # the shared server certificate ends NOW + 364 days; look at it from a time offset_days before that
    now = server.cert.not_valid_after_utc - offset_days * DAY - MINUTE
    warning = expiry_warning(kind, server.cert, now, warn_days)
    if expect is None:
        assert warning is None
    else:
        assert expect in warning
        assert ("voice is no longer encrypted" in warning) == (kind == "mivoice5000")


@pytest.mark.parametrize("fmt, name, csr, ca_count, expected", [
    ("mivoice5000_pkcs12", "pbx", False, 1, dict(ca_pem="ca.pem", pkcs12="pbx.p12")),
    ("dgw_pem", "ta", False, 1, dict(ca_pem="ca.pem", host_pem="ta-host.pem", ca_der=["ca.der"])),
    ("dgw_pem", "ta", False, 2, dict(ca_pem="ca.pem", host_pem="ta-host.pem", ca_der=["ca.der", "ca-2.der"])),
    ("pem_parts", "sip", False, 1, dict(ca_pem="ca.pem", cert="sip.crt", key="sip.key")),
    ("pem_parts", "00085D1A2B3C", True, 1,
     dict(ca_pem="ca.pem", cert="00085D1A2B3C.crt", key="00085D1A2B3C.key", csr="00085D1A2B3C.csr")),
    ("connect_text", "mr", True, 1, dict(ca_pem="ca.pem", import_text="mr-import.txt", csr="mr.csr")),
])
def test_device_files(fmt, name, csr, ca_count, expected):
    assert device_files(fmt, name, csr=csr, ca_count=ca_count) == expected


def test_every_kind_defaults_to_a_format_of_the_table():
    assert set(kind["format"] for kind in KINDS.values()) <= set(FORMATS)


def test_device_files_refuse_an_unknown_format():
    with pytest.raises(MxonePkiError) as error:
        device_files("pfx", "pbx")
    assert error.value.field == "format"


@pytest.mark.parametrize("count, names", [(0, []), (1, ["ca.der"]), (3, ["ca.der", "ca-2.der", "ca-3.der"])])
def test_der_names(count, names):
    assert der_names(count) == names


@pytest.mark.parametrize("key_format, rsa_label, ec_label", [
    ("pkcs8", b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN PRIVATE KEY-----"),
    ("traditional", b"-----BEGIN RSA PRIVATE KEY-----", b"-----BEGIN EC PRIVATE KEY-----"),
])
def test_plain_private_key(keys, key_format, rsa_label, ec_label):
    assert plain_private_key(keys["server"], key_format).startswith(rsa_label)
    assert plain_private_key(keys.get("ec", "ec-p256"), key_format).startswith(ec_label)


def test_plain_private_key_refuses_unknown_format(keys):
    with pytest.raises(MxonePkiError) as error:
        plain_private_key(keys["server"], "der")
    assert error.value.field == "pem_key_format"


def test_device_paths_share_the_fleet_ca():
    paths = device_paths("/srv/pki", "pbx-paris")
    assert paths["ca"] == {"cert": "/srv/pki/ca/ca.pem", "key": "/srv/pki/ca/ca.key"}
    assert paths["dir"] == "/srv/pki/devices/pbx-paris"
    assert paths["cert"] == "/srv/pki/devices/pbx-paris/cert.pem"
    assert paths["key"] == "/srv/pki/devices/pbx-paris/key.pem"
    assert paths["phones"] == "/srv/pki/devices/pbx-paris/phones"
    assert paths["download_ca"] == "/srv/pki/download/ca.pem"
