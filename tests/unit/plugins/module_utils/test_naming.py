"""naming: lim<N>.<domain>, the wildcard CN, the SAN sets of a system, and what is refused."""

import pytest

from _fixtures import DOMAIN, LIM_DNS, LIM_IPS, LIMS
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.naming import (
    Names, lim_fqdn, lim_names, system_names, validate_domain, validate_ip, validate_lim_number, wildcard_cn)


@pytest.mark.parametrize("lim, domain, expected", [
    (1, "mx.corp.net", "lim1.mx.corp.net"),
    (2, "MX.Corp.NET", "lim2.mx.corp.net"),
    (12, " mx.corp.net. ", "lim12.mx.corp.net"),
    ("3", "mx.corp.net", "lim3.mx.corp.net"),
    (" 4 ", "a-b.c-d.example", "lim4.a-b.c-d.example"),
])
def test_lim_fqdn(lim, domain, expected):
    assert lim_fqdn(lim, domain) == expected


@pytest.mark.parametrize("domain, expected", [
    ("mx.corp.net", "*.mx.corp.net"),
    ("Malmo.MX.corp.net.", "*.malmo.mx.corp.net"),
])
def test_wildcard_cn(domain, expected):
    assert wildcard_cn(domain) == expected


def test_system_names_three_lims():
    names = system_names(DOMAIN, LIMS)
    assert names.common_name == "*.mx.corp.net"
    assert names.dns == LIM_DNS
    assert names.ips == LIM_IPS


def test_system_names_extras_are_added_and_normalised():
    names = system_names(DOMAIN, LIMS, extra_dns=["Malmo.MX.corp.net", "*.sip.corp.net"],
                         extra_ips=["192.0.2.10", "2001:DB8:0::1"])
    assert names.common_name == "*.mx.corp.net"
    assert names.dns == LIM_DNS | {"malmo.mx.corp.net", "*.sip.corp.net"}
    assert names.ips == LIM_IPS | {"192.0.2.10", "2001:db8::1"}
    assert names.sorted_ips() == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.10", "2001:db8::1"]


def test_system_names_lim_without_ip():
    names = system_names(DOMAIN, [{"lim": 1, "ip": "10.0.0.1"}, {"lim": 2}])
    assert names.dns == {"lim1.mx.corp.net", "lim2.mx.corp.net"}
    assert names.ips == {"10.0.0.1"}


@pytest.mark.parametrize("kwargs, expected", [
    (dict(lim=2, ip="10.0.0.2"), Names("lim2.mx.corp.net", ["lim2.mx.corp.net"], ["10.0.0.2"])),
    (dict(lim=2), Names("lim2.mx.corp.net", ["lim2.mx.corp.net"], [])),
    (dict(lim=1, ip="10.0.0.1", extra_dns=["malmo.mx.corp.net"], extra_ips=["192.0.2.1"]),
     Names("lim1.mx.corp.net", ["lim1.mx.corp.net", "malmo.mx.corp.net"], ["10.0.0.1", "192.0.2.1"])),
])
def test_lim_names(kwargs, expected):
    assert lim_names(DOMAIN, **kwargs) == expected


# -------------------------------------------------------------------- refusals

BAD_DOMAINS = [
    # (domain, words the message must contain)
    ("corp", "fewer than two labels"),
    ("corp.", "fewer than two labels"),
    ("mx_1.corp.net", "label 'mx_1'"),
    ("mx 1.corp.net", "label 'mx 1'"),
    ("-mx.corp.net", "label '-mx'"),
    ("mx-.corp.net", "label 'mx-'"),
    ("mx..corp.net", "label ''"),
    ("%s.corp.net" % ("a" * 64), "label '%s'" % ("a" * 64)),
    ("mx\n.corp.net", "not a valid DNS name"),
    ("mx.corp.net\n.x", "not a valid DNS name"),
    ("*.mx.corp.net", "label '*'"),
    (".".join(["abcdefghi"] * 26), "longer than 253"),
    ("", "required"),
    ("   ", "required"),
    (None, "required"),
    (42, "required"),
]


@pytest.mark.parametrize("domain, words", BAD_DOMAINS)
def test_bad_domain_is_refused_naming_the_field(domain, words):
    for call in (lambda: validate_domain(domain), lambda: system_names(domain, LIMS), lambda: lim_fqdn(1, domain)):
        with pytest.raises(MxonePkiError) as info:
            call()
        assert info.value.field == "mxone_domain"
        assert words in info.value.msg


def test_longest_legal_label_is_accepted():
    label = "a" * 63
    assert validate_domain("%s.corp.net" % label) == "%s.corp.net" % label


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", "", "1.0", "-1", "\u00b2", True, False, None, [1]])
def test_bad_lim_number_is_refused(value):
    with pytest.raises(MxonePkiError) as info:
        system_names(DOMAIN, [{"lim": value, "ip": "10.0.0.1"}])
    assert info.value.field == "mxone_lim"
    assert "LIM number" in info.value.msg or "integer" in info.value.msg


@pytest.mark.parametrize("value, expected", [(1, 1), ("7", 7), (" 12 ", 12)])
def test_lim_number_accepts_integers_and_digit_strings(value, expected):
    assert validate_lim_number(value) == expected


@pytest.mark.parametrize("lims", [
    [{"lim": 2, "ip": "10.0.0.1"}, {"lim": 2, "ip": "10.0.0.2"}],
    [{"lim": 2, "ip": "10.0.0.1"}, {"lim": "2", "ip": "10.0.0.2"}],
    [{"lim": 1}, {"lim": 2}, {"lim": " 2"}],
])
def test_duplicate_lim_numbers_are_refused(lims):
    with pytest.raises(MxonePkiError) as info:
        system_names(DOMAIN, lims)
    assert info.value.field == "mxone_lim"
    assert "LIM number 2 is used twice" in info.value.msg
    assert DOMAIN in info.value.msg


def test_system_needs_a_lim():
    with pytest.raises(MxonePkiError) as info:
        system_names(DOMAIN, [])
    assert info.value.field == "mxone_lim"


@pytest.mark.parametrize("call, field, words", [
    (lambda: system_names(DOMAIN, [{"lim": 1, "ip": "10.0.0.300"}]), "mxone_lim_ip", "'10.0.0.300'"),
    (lambda: system_names(DOMAIN, [{"lim": 1, "ip": "lim1.mx.corp.net"}]), "mxone_lim_ip", "lim1.mx.corp.net"),
    (lambda: lim_names(DOMAIN, 1, ip="10.0.0"), "mxone_lim_ip", "'10.0.0'"),
    (lambda: system_names(DOMAIN, LIMS, extra_ips=["not-an-ip"]), "mxone_extra_ips", "not-an-ip"),
    (lambda: system_names(DOMAIN, LIMS, extra_dns=["bad_name.corp.net"]), "mxone_extra_dns", "bad_name"),
    (lambda: system_names(DOMAIN, LIMS, extra_dns=["malmo"]), "mxone_extra_dns", "malmo"),
])
def test_bad_addresses_and_extras_name_their_field(call, field, words):
    with pytest.raises(MxonePkiError) as info:
        call()
    assert info.value.field == field
    assert words in info.value.msg


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.1", "10.0.0.1"), (" 10.0.0.1 ", "10.0.0.1"), ("2001:DB8::0:1", "2001:db8::1")])
def test_validate_ip_normalises(value, expected):
    assert validate_ip(value) == expected


# ---------------------------------------------------------------- Names value


def test_names_equality_ignores_order():
    one = Names("*.mx.corp.net", ["lim1.mx.corp.net", "lim2.mx.corp.net"], ["10.0.0.1", "10.0.0.2"])
    two = Names("*.mx.corp.net", ["lim2.mx.corp.net", "lim1.mx.corp.net", "lim2.mx.corp.net"],
                ["10.0.0.2", "10.0.0.1"])
    assert one == two
    assert (one != two) is False
    assert hash(one) == hash(two)
    assert system_names(DOMAIN, LIMS) == system_names(DOMAIN, list(reversed(LIMS)))


@pytest.mark.parametrize("other", [
    Names("lim1.mx.corp.net", ["lim1.mx.corp.net", "lim2.mx.corp.net"], ["10.0.0.1", "10.0.0.2"]),
    Names("*.mx.corp.net", ["lim1.mx.corp.net"], ["10.0.0.1", "10.0.0.2"]),
    Names("*.mx.corp.net", ["lim1.mx.corp.net", "lim2.mx.corp.net"], ["10.0.0.1"]),
    "*.mx.corp.net",
    None,
])
def test_names_differ(other):
    one = Names("*.mx.corp.net", ["lim1.mx.corp.net", "lim2.mx.corp.net"], ["10.0.0.1", "10.0.0.2"])
    assert one != other
    assert not one == other


def test_names_as_dict_is_sorted():
    names = system_names(DOMAIN, list(reversed(LIMS)))
    assert names.as_dict() == {"common_name": "*.mx.corp.net", "dns": sorted(LIM_DNS),
                               "ips": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}


# mxone_cert_common_name: ip - the IP address as CN where a site has no DNS; the SAN is the same.

def test_ip_as_common_name_of_a_lim_certificate():
    from ansible_collections.mxone.pki.plugins.module_utils.naming import lim_names

    by_name, by_ip = lim_names("mx.corp.net", 2, "10.0.0.2"), lim_names("mx.corp.net", 2, "10.0.0.2", common_name="ip")
    assert by_ip.common_name == "10.0.0.2"
    assert (by_ip.dns, by_ip.ips) == (by_name.dns, by_name.ips)


def test_ip_as_common_name_of_a_one_lim_system():
    from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names

    names = system_names("mx.corp.net", [{"lim": 1, "ip": "10.0.0.1"}], common_name="ip")
    assert names.as_dict() == {"common_name": "10.0.0.1", "dns": ["lim1.mx.corp.net"], "ips": ["10.0.0.1"]}


@pytest.mark.parametrize("call, words", [
    (lambda n: n.system_names("mx.corp.net", [{"lim": 1, "ip": "10.0.0.1"}, {"lim": 2, "ip": "10.0.0.2"}],
                              common_name="ip"), "shares one among 2 LIMs: give each LIM its own with mxone_cert_mode lim"),
    (lambda n: n.lim_names("mx.corp.net", 1, None, common_name="ip"), "lim1.mx.corp.net has no IP address"),
    (lambda n: n.lim_names("mx.corp.net", 1, "10.0.0.1", common_name="fqdn"), "'fqdn' is not one of name, ip"),
])
def test_ip_as_common_name_refusals(call, words):
    from ansible_collections.mxone.pki.plugins.module_utils import naming

    with pytest.raises(MxonePkiError) as error:
        call(naming)
    assert words in error.value.msg and error.value.field == "mxone_cert_common_name"
