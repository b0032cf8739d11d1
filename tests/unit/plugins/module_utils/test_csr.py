"""csr: requests for a customer's own PKI: names, subject, signature, warnings, refusals."""

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from _fixtures import DOMAIN, LIM_DNS, LIM_IPS, LIMS, openssl, public_der, write
from ansible_collections.mxone.pki.plugins.module_utils.csr import (
    build_csr, csr_facts, csr_names, csr_reason, dump_csr, load_csr)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.naming import lim_names, system_names

SUBJECT = dict(country="SE", state="Stockholm", locality="Kista", organization="Corp", organizational_unit="Voice")


@pytest.fixture(scope="module")
def signing_request(keys, system_names_3):
    csr, warnings = build_csr(keys["csr"], system_names_3, SUBJECT)
    return csr, warnings


def test_csr_names_and_subject(signing_request, system_names_3):
    csr, warnings = signing_request
    assert warnings == []
    assert csr_names(csr) == system_names_3
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == LIM_DNS
    assert set(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == LIM_IPS
    assert csr.subject.rfc4514_string() == "CN=*.mx.corp.net,OU=Voice,O=Corp,L=Kista,ST=Stockholm,C=SE"
    for oid, value in ((NameOID.COUNTRY_NAME, "SE"), (NameOID.STATE_OR_PROVINCE_NAME, "Stockholm"),
                       (NameOID.LOCALITY_NAME, "Kista"), (NameOID.ORGANIZATION_NAME, "Corp"),
                       (NameOID.ORGANIZATIONAL_UNIT_NAME, "Voice"), (NameOID.COMMON_NAME, "*.mx.corp.net")):
        assert [a.value for a in csr.subject.get_attributes_for_oid(oid)] == [value]
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_csr_signature_is_valid(signing_request, keys):
    csr, _warnings = signing_request
    assert csr.is_signature_valid
    assert public_der(csr.public_key()) == public_der(keys["csr"])


def test_csr_with_openssl(tmp_path, signing_request):
    csr, _warnings = signing_request
    path = write(tmp_path, "lim.csr", dump_csr(csr))
    result = openssl("req", "-in", path, "-noout", "-verify", "-text")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr
    assert "DNS:lim2.mx.corp.net" in result.stdout and "IP Address:10.0.0.3" in result.stdout


def test_dump_and_load_round_trip(signing_request):
    csr, _warnings = signing_request
    again = load_csr(dump_csr(csr))
    assert again == csr
    assert dump_csr(csr).startswith(b"-----BEGIN CERTIFICATE REQUEST-----\n")


def test_csr_facts(signing_request):
    got = csr_facts(signing_request[0])
    assert got["common_name"] == "*.mx.corp.net"
    assert got["dns"] == sorted(LIM_DNS)
    assert got["ips"] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_per_lim_csr_with_ec_key(keys):
    names = lim_names(DOMAIN, 2, "10.0.0.2")
    csr, warnings = build_csr(keys.get("csr-ec", "ec-p256"), names)
    assert csr.is_signature_valid and warnings == []
    assert csr.subject.rfc4514_string() == "CN=lim2.mx.corp.net"
    assert csr_names(csr) == names


@pytest.mark.parametrize("state, warned", [
    ("CA", True), ("ca", True), (" NY ", True), ("California", False), ("Stockholms lan", False), (None, False),
    ("", False), ("C4", False),
])
def test_state_abbreviation_warning(keys, system_names_3, state, warned):
    subject = dict(country="US", state=state) if state is not None else dict(country="US")
    csr, warnings = build_csr(keys.get("csr-ec", "ec-p256"), system_names_3, subject)
    if warned:
        assert len(warnings) == 1
        assert "state %r looks like an abbreviation" % state in warnings[0]
    else:
        assert warnings == []


@pytest.mark.parametrize("subject, field, words", [
    (dict(country="Sweden"), "subject.country", "country 'Sweden' must be a two-letter ISO code"),
    (dict(country="se"), "subject.country", "country 'se'"),
    (dict(country="S1"), "subject.country", "country 'S1'"),
    (dict(country="SWE"), "subject.country", "country 'SWE'"),
    (dict(common_name="x"), "subject", "unknown subject field(s) common_name"),
    (dict(email="a@b", org="x"), "subject", "unknown subject field(s) email, org"),
])
def test_bad_subject_is_refused(keys, system_names_3, subject, field, words):
    with pytest.raises(MxonePkiError) as info:
        build_csr(keys.get("csr-ec", "ec-p256"), system_names_3, subject)
    assert info.value.field == field
    assert words in info.value.msg


def test_bad_digest_is_refused(keys, system_names_3):
    with pytest.raises(MxonePkiError) as info:
        build_csr(keys.get("csr-ec", "ec-p256"), system_names_3, digest="md5")
    assert info.value.field == "digest"


@pytest.mark.parametrize("case, reason", [
    ("none", "missing"), ("no-key", "missing"), ("other-key", "key_mismatch"), ("more-lims", "names_changed"),
    ("other-subject", "subject_changed"), ("same", None), ("same-names-other-order", None),
])
def test_csr_reason(signing_request, keys, system_names_3, case, reason):
    csr, _warnings = signing_request
    key, names, subject = keys["csr"], system_names_3, SUBJECT
    if case == "none":
        csr = None
    elif case == "no-key":
        key = None
    elif case == "other-key":
        key = keys["leaf"]
    elif case == "more-lims":
        names = system_names(DOMAIN, LIMS + [{"lim": 4, "ip": "10.0.0.4"}])
    elif case == "other-subject":
        subject = dict(SUBJECT, organization="Other Corp")
    elif case == "same-names-other-order":
        names = system_names(DOMAIN, list(reversed(LIMS)))
    got, detail = csr_reason(csr, key, names, subject)
    assert got == reason
    assert detail
