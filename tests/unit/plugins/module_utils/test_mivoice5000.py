"""mivoice5000: names (CN = TEL IP, SAN = TEL/ADMIN IPs and FQDNs) and the PKCS#12 the PBX imports."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from _fixtures import NOW, DAY, Node, openssl, public_der, write
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate, renew_or_keep
from ansible_collections.mxone.pki.plugins.module_utils.mivoice5000 import (
    build_pkcs12, check_system_certificate, pkcs12_encryption, pkcs12_matches, read_pkcs12, system_names)
from ansible_collections.mxone.pki.plugins.module_utils.renewal import Existing

PASSWORD = "p12-Secret-1"


@pytest.mark.parametrize("tel_ips, admin_ips, tel_fqdns, admin_fqdns, cn, ips, dns", [
    (["10.148.65.84"], [], [], [], "10.148.65.84", {"10.148.65.84"}, set()),
    (["10.148.65.84"], ["10.148.66.84"], ["pbx.tel.example.net"], ["PBX.adm.example.net."],
     "10.148.65.84", {"10.148.65.84", "10.148.66.84"}, {"pbx.tel.example.net", "pbx.adm.example.net"}),
    (["10.0.0.2", "10.0.0.1"], [], [], [], "10.0.0.2", {"10.0.0.1", "10.0.0.2"}, set()),
    (["2001:db8::1"], ["192.0.2.5"], [], [], "2001:db8::1", {"2001:db8::1", "192.0.2.5"}, set()),
])
def test_names_cn_is_the_first_tel_ip_and_san_has_every_ip_and_fqdn(tel_ips, admin_ips, tel_fqdns, admin_fqdns,
                                                                    cn, ips, dns):
    names = system_names(tel_ips, admin_ips, tel_fqdns, admin_fqdns)
    assert names.common_name == cn
    assert names.ips == frozenset(ips)
    assert names.dns == frozenset(dns)


@pytest.mark.parametrize("args, field", [
    (([],), "tel_ips"),
    ((["pbx.example.net"],), "tel_ips"),
    ((["10.0.0.1"], ["not-an-ip"]), "admin_ips"),
    ((["10.0.0.1"], [], ["*.example.net"]), "tel_fqdns"),
    ((["10.0.0.1"], [], [], ["single"]), "admin_fqdns"),
])
def test_names_refused_naming_the_field(args, field):
    with pytest.raises(MxonePkiError) as error:
        system_names(*args)
    assert error.value.field == field


@pytest.fixture(scope="module")
def pbx(enterprise_ca, keys):
    names = system_names(["10.148.65.84"], ["10.148.66.84"], ["pbx.tel.example.net"], [])
    _decision, key, cert = renew_or_keep(enterprise_ca, names, Existing(key=keys["pbx"]), NOW)
    return Node(cert, key)


def test_issued_certificate_fits_the_pbx_rules(pbx, enterprise_ca):
    cert = pbx.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "10.148.65.84"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ["10.148.65.84", "10.148.66.84"]
    assert san.get_values_for_type(x509.DNSName) == ["pbx.tel.example.net"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    # never a certificate that is not yet valid: notBefore is backdated, so it is valid the moment it is made
    assert cert.not_valid_before_utc <= NOW
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    check_system_certificate(pbx.key, cert, [enterprise_ca.cert], NOW)


@pytest.mark.parametrize("legacy, encryption", [(False, "aes"), (True, "legacy")])
def test_pkcs12_holds_key_certificate_and_ca_chain(pbx, enterprise_ca, legacy, encryption):
    data = build_pkcs12(pbx.key, pbx.cert, [enterprise_ca.cert], PASSWORD, NOW, legacy=legacy)
    key, cert, cas = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
    assert public_der(key) == public_der(pbx.key)
    assert cert == pbx.cert
    assert cas == [enterprise_ca.cert]
    assert pkcs12_encryption(data) == encryption
    assert pkcs12_matches(data, PASSWORD, pbx.key, pbx.cert, [enterprise_ca.cert], legacy)
    assert not pkcs12_matches(data, PASSWORD, pbx.key, pbx.cert, [enterprise_ca.cert], not legacy)
    assert not pkcs12_matches(data, "other-password", pbx.key, pbx.cert, [enterprise_ca.cert], legacy)
    with pytest.raises(MxonePkiError, match="wrong password"):
        read_pkcs12(data, "other-password")


@pytest.mark.parametrize("legacy, openssl_args", [
    (False, []),
    (True, ["-legacy"]),
    (True, []),  # SHA1/3DES is still in OpenSSL 3's default provider; RC2 would need -legacy
])
def test_pkcs12_reads_with_openssl(tmp_path, pbx, enterprise_ca, legacy, openssl_args):
    path = write(tmp_path, "pbx.p12", build_pkcs12(pbx.key, pbx.cert, [enterprise_ca.cert], PASSWORD, NOW,
                                                   legacy=legacy))
    result = openssl("pkcs12", *openssl_args, "-in", path, "-passin", "pass:" + PASSWORD, "-info", "-nodes")
    assert result.returncode == 0, result.stderr
    info = result.stderr + result.stdout
    assert ("pbeWithSHA1And3-KeyTripleDES-CBC" in info) == legacy
    assert ("AES-256-CBC" in info) == (not legacy)
    assert "MAC: sha1" in info if legacy else "MAC: sha256" in info
    assert result.stdout.count("BEGIN CERTIFICATE") == 2 and "BEGIN PRIVATE KEY" in result.stdout


def test_pkcs12_is_refused_for_what_the_pbx_refuses(pbx, enterprise_ca, keys, factory, pki):
    with pytest.raises(MxonePkiError) as error:
        build_pkcs12(pbx.key, pbx.cert, [enterprise_ca.cert], "", NOW)
    assert error.value.field == "pkcs12_password"
    # not yet valid: the certificate starts after now
    with pytest.raises(MxonePkiError, match="not yet valid"):
        build_pkcs12(pbx.key, pbx.cert, [enterprise_ca.cert], PASSWORD, NOW - DAY)
    with pytest.raises(MxonePkiError, match="expired"):
        build_pkcs12(pbx.key, pbx.cert, [enterprise_ca.cert], PASSWORD, NOW + 400 * DAY)
    with pytest.raises(MxonePkiError, match="does not fit"):
        build_pkcs12(keys["other"], pbx.cert, [enterprise_ca.cert], PASSWORD, NOW)
    with pytest.raises(MxonePkiError, match="did not sign"):
        build_pkcs12(pbx.key, pbx.cert, [pki.root.cert], PASSWORD, NOW)
    with pytest.raises(MxonePkiError, match="needs the CA"):
        build_pkcs12(pbx.key, pbx.cert, [], PASSWORD, NOW)


def test_pkcs12_refuses_a_certificate_without_client_auth(enterprise_ca, keys, pki):
    # the shared test PKI's leaf has serverAuth + clientAuth; one with serverAuth only must be refused
    from cryptography.hazmat.primitives import hashes

    key = keys["pbx"]
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "10.0.0.9")]))
               .issuer_name(enterprise_ca.cert.subject).public_key(key.public_key()).serial_number(7)
               .not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    cert = builder.sign(enterprise_ca.key, hashes.SHA256())
    with pytest.raises(MxonePkiError, match="TLS Web Server and TLS Web Client"):
        check_system_certificate(key, cert, [enterprise_ca.cert], NOW)


def test_issue_never_makes_a_certificate_that_is_not_yet_valid_at_any_time(enterprise_ca, keys):
    names = system_names(["10.1.1.1"])
    for now in (NOW, NOW + 30 * DAY):
        cert = issue_server_certificate(enterprise_ca, keys["pbx"].public_key(), names, now)
        assert cert.not_valid_before_utc <= now
