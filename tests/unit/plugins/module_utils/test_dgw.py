"""dgw: the TA7100 host certificate file (unencrypted key, then certificate) and the CA as other certificates."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from _fixtures import NOW, Node, openssl, pem_cert, pem_key, public_der, write
from ansible_collections.mxone.pki.plugins.module_utils.devices import der_names, device_names
from ansible_collections.mxone.pki.plugins.module_utils.dgw import build_host_pem, check_host_pem, other_certificates
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate


@pytest.fixture(scope="module")
def gateway(enterprise_ca, keys):
    names = device_names("ta7100.example.net", ips=["192.0.2.71"])
    return Node(issue_server_certificate(enterprise_ca, keys["ta7100"].public_key(), names, NOW), keys["ta7100"])


@pytest.mark.parametrize("key_format, first_label", [
    ("traditional", "-----BEGIN RSA PRIVATE KEY-----"),
    ("pkcs8", "-----BEGIN PRIVATE KEY-----"),
])
def test_host_pem_is_the_unencrypted_key_then_the_certificate(gateway, key_format, first_label):
    data = build_host_pem(gateway.key, gateway.cert, key_format)
    labels = [line for line in data.decode().splitlines() if line.startswith("-----")]
    assert labels == [first_label, first_label.replace("BEGIN", "END"),
                      "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"]
    assert b"ENCRYPTED" not in data
    key, cert = check_host_pem(data)
    assert public_der(key) == public_der(gateway.key) and cert == gateway.cert
    # an independent reader: openssl takes the key and the certificate from the one file
    assert data.endswith(pem_cert(gateway.cert))


def test_host_pem_with_openssl(tmp_path, gateway, enterprise_ca):
    path = write(tmp_path, "host.pem", build_host_pem(gateway.key, gateway.cert))
    key = openssl("pkey", "-in", path, "-passin", "pass:", "-noout")
    assert key.returncode == 0, key.stderr
    ca = write(tmp_path, "ca.pem", pem_cert(enterprise_ca.cert))
    verify = openssl("verify", "-CAfile", ca, "-verify_hostname", "ta7100.example.net", path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("make, message", [
    (lambda g, other: pem_cert(g.cert) + pem_key(g.key), "private key must come first"),
    (lambda g, other: pem_key(g.key, b"secret-pass") + pem_cert(g.cert), "cannot use an encrypted key"),
    (lambda g, other: pem_key(other) + pem_cert(g.cert), "does not fit"),
    (lambda g, other: pem_key(g.key), "exactly the private key, then the certificate"),
    (lambda g, other: pem_key(g.key) + pem_cert(g.cert) + pem_cert(g.cert), "exactly"),
    (lambda g, other: pem_key(g.key) + pem_key(g.key), "certificate must follow"),
])
def test_check_host_pem_refuses(gateway, keys, make, message):
    with pytest.raises(MxonePkiError, match=message):
        check_host_pem(make(gateway, keys["other"]))


def test_build_refuses_a_key_that_does_not_fit(gateway, keys, enterprise_ca):
    with pytest.raises(MxonePkiError, match="does not fit"):
        build_host_pem(keys["other"], gateway.cert)
    with pytest.raises(MxonePkiError, match="CA certificate"):
        build_host_pem(enterprise_ca.key, enterprise_ca.cert)


@pytest.mark.parametrize("chain_names, files", [
    (["root"], ["ca.der"]),
    (["int2", "int1", "root"], ["ca.der", "ca-2.der", "ca-3.der"]),
])
def test_other_certificates_in_pem_and_der_parse(pki, chain_names, files):
    chain = [getattr(pki, name).cert for name in chain_names]
    pem, ders = other_certificates(chain)
    assert der_names(len(ders)) == files
    assert x509.load_pem_x509_certificates(pem) == chain
    assert [x509.load_der_x509_certificate(der) for der in ders] == chain
    assert all(der == cert.public_bytes(serialization.Encoding.DER) for der, cert in zip(ders, chain))


def test_other_certificates_need_a_ca():
    with pytest.raises(MxonePkiError):
        other_certificates([])
