"""connect: Mitel Connect CSR (full state names, alternative names) and the Mobility Router import text."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from _fixtures import NOW, Node, openssl, pem_cert, pem_key, write
from ansible_collections.mxone.pki.plugins.module_utils.connect import (
    build_connect_csr, build_import_text, check_import_text, connect_names)
from ansible_collections.mxone.pki.plugins.module_utils.csr import dump_csr
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate

TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL
SUBJECT = dict(country="US", state="California", locality="Santa Clara", organization="Example Corp")


@pytest.fixture(scope="module")
def router(enterprise_ca, keys):
    names = connect_names("mr.example.com", ["mobility.example.com"])
    return Node(issue_server_certificate(enterprise_ca, keys["connect"].public_key(), names, NOW), keys["connect"])


@pytest.mark.parametrize("fqdn, alt, dns", [
    ("mr.example.com", [], {"mr.example.com"}),
    ("*.example.com", ["mr.example.com"], {"*.example.com", "mr.example.com"}),
    ("MR.Example.com", ["edge.example.com", "turn.example.com"],
     {"mr.example.com", "edge.example.com", "turn.example.com"}),
])
def test_names_cn_and_alternative_names(fqdn, alt, dns):
    names = connect_names(fqdn, alt)
    assert names.common_name == fqdn.lower()
    assert names.dns == frozenset(dns)


@pytest.mark.parametrize("state, check, outcome", [
    ("California", "error", []),
    ("New South Wales", "error", []),
    ("CA", "error", "full state"),
    ("ny", "error", "full state"),
    ("CA", "warn", ["abbreviation"]),
    (None, "error", []),
])
def test_csr_state_names(keys, state, check, outcome):
    subject = dict(SUBJECT, state=state) if state else dict(country="US")
    names = connect_names("*.example.com", ["mr.example.com"])
    if isinstance(outcome, str):
        with pytest.raises(MxonePkiError, match=outcome) as error:
            build_connect_csr(keys["connect"], names, subject, check)
        assert error.value.field == "csr_subject.state"
        return
    csr, warnings = build_connect_csr(keys["connect"], names, subject, check)
    assert len(warnings) == len(outcome) and all(w in text for w, text in zip(outcome, warnings))
    assert csr.is_signature_valid
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == ["*.example.com", "mr.example.com"]
    if state:
        assert csr.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == state


def test_csr_with_openssl(tmp_path, keys):
    csr, _warnings = build_connect_csr(keys["connect"], connect_names("mr.example.com", ["mobility.example.com"]), SUBJECT)
    result = openssl("req", "-in", write(tmp_path, "mr.csr", dump_csr(csr)), "-noout", "-verify", "-text")
    assert result.returncode == 0, result.stderr
    assert "ST = California" in result.stdout or "ST=California" in result.stdout
    assert "DNS:mobility.example.com" in result.stdout


def test_import_text_is_certificate_rsa_key_chain(router, enterprise_ca):
    data = build_import_text(router.key, router.cert, [enterprise_ca.cert])
    labels = [line for line in data.decode().splitlines() if line.startswith("-----BEGIN")]
    assert labels == ["-----BEGIN CERTIFICATE-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----"]
    cert, key, chain = check_import_text(data)
    assert cert == router.cert and chain == [enterprise_ca.cert]
    assert data.startswith(pem_cert(router.cert)) and data.endswith(pem_cert(enterprise_ca.cert))


def test_import_text_with_a_longer_chain(pki):
    data = build_import_text(pki.leaf.key, pki.leaf.cert, pki.chain)
    cert, _key, chain = check_import_text(data)
    assert chain == pki.chain


@pytest.mark.parametrize("make, message", [
    (lambda r, ca, other: pem_key(r.key) + pem_cert(r.cert) + pem_cert(ca), "signed certificate must come first"),
    (lambda r, ca, other: pem_cert(r.cert) + pem_key(r.key) + pem_cert(ca),
     r"RSA private key \(BEGIN RSA PRIVATE KEY\)"),
    (lambda r, ca, other: pem_cert(r.cert) + pem_cert(ca), "needs the certificate, the RSA private key"),
    (lambda r, ca, other: pem_cert(r.cert) + pem_key(other, fmt=TRADITIONAL) + pem_cert(ca), "does not fit"),
])
def test_check_import_text_refuses(router, enterprise_ca, keys, make, message):
    with pytest.raises(MxonePkiError, match=message):
        check_import_text(make(router, enterprise_ca.cert, keys["other"]))


def test_import_text_refuses_ec_keys_and_broken_chains(enterprise_ca, keys, pki, router):
    key = keys.get("connect-ec", "ec-p256")
    cert = issue_server_certificate(enterprise_ca, key.public_key(), connect_names("mr.example.com"), NOW)
    with pytest.raises(MxonePkiError) as error:
        build_import_text(key, cert, [enterprise_ca.cert])
    assert error.value.field == "key_type"
    with pytest.raises(MxonePkiError, match="did not sign"):
        build_import_text(router.key, router.cert, [pki.root.cert])
