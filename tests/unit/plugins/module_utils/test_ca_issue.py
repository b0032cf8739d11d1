"""ca + issue: the Enterprise CA and the server certificates it signs (checked with openssl too)."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from _fixtures import DAY, DOMAIN, LIM_DNS, LIM_IPS, LIMS, NOW, attime, cn_of, openssl, pem_cert, pem_key, \
    public_der, write
from ansible_collections.mxone.pki.plugins.module_utils.ca import (
    CLOCK_SKEW, DEFAULT_CA_COMMON_NAME, CertificateAuthority, create_ca, load_ca, renew_ca)
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, is_ca, signed_by
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.issue import (
    DEFAULT_VALIDITY_DAYS, issue_server_certificate, renew_or_keep)
from ansible_collections.mxone.pki.plugins.module_utils.keys import DIGESTS, generate_private_key, key_type_of
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import key_argument_spec
from ansible_collections.mxone.pki.plugins.module_utils.naming import lim_names, names_of_certificate, system_names
from ansible_collections.mxone.pki.plugins.module_utils.renewal import Existing

PASS = "ca-passphrase-1"


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


# ------------------------------------------------------------------------ CA


def test_create_ca_is_a_self_signed_root(enterprise_ca):
    cert = enterprise_ca.cert
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca is True
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    assert cert.issuer == cert.subject
    assert signed_by(cert, cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEFAULT_CA_COMMON_NAME == \
        "MXOneEnterpriseCA"
    assert cert.not_valid_before_utc == NOW - CLOCK_SKEW
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=3650)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert key_type_of(enterprise_ca.key) == "rsa2048"
    assert enterprise_ca.ski == ski.digest


def test_create_ca_with_subject_and_options():
    key, cert = create_ca(NOW, common_name="Malmo CA", key_type="ec-p256", validity_days=100, digest="sha384",
                          organization="Corp", country="SE")
    assert cert.subject.rfc4514_string() == "CN=Malmo CA,O=Corp,C=SE"
    assert key_type_of(key) == "ec-p256"
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=100)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    assert signed_by(cert, cert)


@pytest.mark.parametrize("kwargs, field", [(dict(key_type="dsa1024"), "key_type"), (dict(digest="md5"), "digest")])
def test_create_ca_refuses_unknown_options(kwargs, field):
    with pytest.raises(MxonePkiError) as info:
        create_ca(NOW, **kwargs)
    assert info.value.field == field


def test_renew_ca_keeps_key_and_subject_and_old_leaves_verify(enterprise_ca, server):
    later = NOW + 3000 * DAY
    renewed = renew_ca(enterprise_ca.key, enterprise_ca.cert, later)
    assert renewed.subject == enterprise_ca.cert.subject
    assert public_der(renewed.public_key()) == public_der(enterprise_ca.cert.public_key())
    assert renewed.serial_number != enterprise_ca.cert.serial_number
    assert renewed.not_valid_before_utc == later - CLOCK_SKEW
    assert renewed.not_valid_after_utc == later + 3650 * DAY
    assert ext(renewed, x509.SubjectKeyIdentifier).value == ext(enterprise_ca.cert, x509.SubjectKeyIdentifier).value
    assert signed_by(server.cert, renewed)
    assert signed_by(renewed, renewed)


def test_leaf_of_old_ca_verifies_against_renewed_ca_with_openssl(tmp_path, enterprise_ca, server):
    renewed = renew_ca(enterprise_ca.key, enterprise_ca.cert, NOW + 10 * DAY)
    ca = write(tmp_path, "ca.pem", pem_cert(renewed))
    leaf = write(tmp_path, "leaf.pem", pem_cert(server.cert))
    result = openssl("verify", "-attime", attime(NOW + 11 * DAY), "-CAfile", ca, leaf)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "%s: OK" % leaf


@pytest.fixture(scope="module")
def ca_files(enterprise_ca, pki):
    return {
        "cert": pem_cert(enterprise_ca.cert),
        "key": pem_key(enterprise_ca.key, PASS.encode()),
        "plain_key": pem_key(enterprise_ca.key),
        "other_key": pem_key(pki.root.key, PASS.encode()),
        "leaf": pem_cert(pki.leaf.cert),
        "leaf_key": pem_key(pki.leaf.key, PASS.encode()),
    }


@pytest.mark.parametrize("cert, key, passphrase", [
    ("cert", "key", PASS), ("cert", "key", PASS.encode()), ("cert", "plain_key", None), ("cert", "plain_key", PASS)])
def test_load_ca(ca_files, enterprise_ca, cert, key, passphrase):
    authority = load_ca(ca_files[cert], ca_files[key], passphrase)
    assert isinstance(authority, CertificateAuthority)
    assert authority.cert == enterprise_ca.cert
    assert public_der(authority.key) == public_der(enterprise_ca.key)


@pytest.mark.parametrize("cert, key, passphrase, file, field, words", [
    ("cert", "key", "wrong", "/ca/ca.key", "ca_passphrase", "wrong passphrase"),
    ("cert", "key", None, "/ca/ca.key", "ca_passphrase", "encrypted and no passphrase"),
    ("cert", "key", "", "/ca/ca.key", "ca_passphrase", "encrypted and no passphrase"),
    ("cert", "other_key", PASS, "/ca/ca.key", None, "/ca/ca.key does not fit /ca/ca.crt"),
    ("leaf", "leaf_key", PASS, "/ca/ca.crt", None, "/ca/ca.crt is not a CA certificate"),
    ("garbage", "key", PASS, "/ca/ca.crt", None, "/ca/ca.crt is not a readable X.509 certificate"),
    ("cert", "garbage", PASS, "/ca/ca.key", "ca_passphrase", "/ca/ca.key"),
])
def test_load_ca_refusals_name_file_and_field(ca_files, cert, key, passphrase, file, field, words):
    files = dict(ca_files, garbage=b"-----BEGIN X-----\nnot at all\n-----END X-----\n")
    with pytest.raises(MxonePkiError) as info:
        load_ca(files[cert], files[key], passphrase, cert_source="/ca/ca.crt", key_source="/ca/ca.key")
    assert info.value.file == file
    assert info.value.field == field
    assert words in info.value.msg
    assert PASS not in str(info.value)


# -------------------------------------------------------------------- issue


def test_server_certificate_for_a_three_lim_system(server, enterprise_ca, system_names_3):
    cert = server.cert
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    assert not is_ca(cert)
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH,
                                                            ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(server.key.public_key())
    ca_ski = ext(enterprise_ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert cert.issuer == enterprise_ca.cert.subject
    assert signed_by(cert, enterprise_ca.cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert key_type_of(cert.public_key()) == "rsa2048"
    assert cert.not_valid_before_utc == NOW - CLOCK_SKEW
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=DEFAULT_VALIDITY_DAYS) == 364 * DAY
    assert cn_of(cert) == "*.mx.corp.net"
    san = ext(cert, x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == LIM_DNS
    assert set(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == LIM_IPS
    assert len(list(san)) == 6
    assert names_of_certificate(cert) == system_names_3


def test_facts_of_server_certificate(server):
    got = facts(server.cert, NOW)
    assert got["common_name"] == "*.mx.corp.net"
    assert got["dns"] == sorted(LIM_DNS)
    assert got["ips"] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert got["issuer_common_name"] == "MXOneEnterpriseCA"
    assert got["days_left"] == 364
    assert got["expired"] is False and got["is_ca"] is False
    assert got["signature_hash"] == "sha256"


def test_serials_are_random(enterprise_ca, server, system_names_3):
    again = issue_server_certificate(enterprise_ca, server.key.public_key(), system_names_3, NOW)
    assert again.serial_number != server.cert.serial_number
    assert again.serial_number > 2 ** 64


def test_default_key_type_is_rsa2048_sha256(enterprise_ca, system_names_3):
    decision, key, cert = renew_or_keep(enterprise_ca, system_names_3, Existing(), NOW)
    assert decision.renew and decision.reason == "missing" and decision.new_key
    assert key_type_of(key) == "rsa2048" and key.key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert public_der(cert.public_key()) == public_der(key)


@pytest.mark.parametrize("key_type", ["rsa3072", "rsa4096", "ec-p256"])
def test_key_types(enterprise_ca, keys, system_names_3, key_type):
    key = keys.get("server-" + key_type, key_type)
    cert = issue_server_certificate(enterprise_ca, key.public_key(), system_names_3, NOW)
    assert key_type_of(cert.public_key()) == key_type
    assert signed_by(cert, enterprise_ca.cert)
    usage = ext(cert, x509.KeyUsage).value
    assert usage.digital_signature
    if key_type == "ec-p256":
        assert usage.key_agreement and not usage.key_encipherment
    else:
        assert usage.key_encipherment and not usage.key_agreement


def test_generate_private_key_types():
    assert key_type_of(generate_private_key("ec-p256")) == "ec-p256"
    with pytest.raises(MxonePkiError) as info:
        generate_private_key("rsa1024")
    assert info.value.field == "key_type"


@pytest.mark.parametrize("digest, algorithm", [("sha384", hashes.SHA384), ("sha512", hashes.SHA512)])
def test_digest_when_asked(enterprise_ca, server, system_names_3, digest, algorithm):
    cert = issue_server_certificate(enterprise_ca, server.key.public_key(), system_names_3, NOW, digest=digest)
    assert isinstance(cert.signature_hash_algorithm, algorithm)
    assert signed_by(cert, enterprise_ca.cert)


@pytest.mark.parametrize("digest", ["sha1", "SHA1", "sha-1"])
def test_sha1_is_not_offered(enterprise_ca, server, system_names_3, digest):
    """The pinned cryptography cannot sign SHA-1: not a choice anywhere, and a clear error naming digest."""
    assert "sha1" not in DIGESTS
    assert key_argument_spec()["digest"]["choices"] == list(DIGESTS)
    for call in (lambda: issue_server_certificate(enterprise_ca, server.key.public_key(), system_names_3, NOW,
                                                  digest=digest),
                 lambda: renew_ca(enterprise_ca.key, enterprise_ca.cert, NOW, digest=digest)):
        with pytest.raises(MxonePkiError) as info:
            call()
        assert info.value.field == "digest"
        assert "SHA-1 is not offered" in info.value.msg and "sha256" in info.value.msg


def test_unknown_digest_is_refused(enterprise_ca, server, system_names_3):
    with pytest.raises(MxonePkiError) as info:
        issue_server_certificate(enterprise_ca, server.key.public_key(), system_names_3, NOW, digest="md5")
    assert info.value.field == "digest"


def test_not_after_is_capped_at_the_ca(server, system_names_3):
    key, cert = create_ca(NOW, key_type="ec-p256", validity_days=100)
    short = CertificateAuthority(key, cert)
    leaf = issue_server_certificate(short, server.key.public_key(), system_names_3, NOW)
    assert leaf.not_valid_after_utc == cert.not_valid_after_utc == NOW + 100 * DAY
    longer = issue_server_certificate(short, server.key.public_key(), system_names_3, NOW, validity_days=30)
    assert longer.not_valid_after_utc == NOW + 30 * DAY


@pytest.mark.parametrize("names", [
    system_names(DOMAIN, LIMS, extra_dns=["malmo.mx.corp.net"], extra_ips=["2001:db8::5"]),
    lim_names(DOMAIN, 2, "10.0.0.2"),
    system_names(DOMAIN, [{"lim": 1}]),
], ids=["system+extras", "per-lim", "no-ip"])
def test_exact_san_set(enterprise_ca, server, names):
    cert = issue_server_certificate(enterprise_ca, server.key.public_key(), names, NOW)
    assert names_of_certificate(cert) == names
    san = ext(cert, x509.SubjectAlternativeName).value
    assert len(list(san)) == len(names.dns) + len(names.ips)


def test_subject_fields(enterprise_ca, server, system_names_3):
    cert = issue_server_certificate(enterprise_ca, server.key.public_key(), system_names_3, NOW,
                                    subject=dict(organization="Corp", country="SE"))
    assert cert.subject.rfc4514_string() == "CN=*.mx.corp.net,O=Corp,C=SE"


# ------------------------------------------------------------ with openssl


@pytest.fixture(scope="module")
def openssl_files(tmp_path_factory, enterprise_ca, server):
    tmp = tmp_path_factory.mktemp("issue")
    return write(tmp, "ca.pem", pem_cert(enterprise_ca.cert)), write(tmp, "leaf.pem", pem_cert(server.cert))


@pytest.mark.parametrize("extra, ok", [
    ((), True),
    (("-verify_hostname", "lim2.mx.corp.net"), True),
    (("-verify_hostname", "lim3.mx.corp.net"), True),
    (("-verify_ip", "10.0.0.2"), True),
    (("-purpose", "sslserver"), True),
    (("-purpose", "sslclient"), True),
    (("-verify_hostname", "lim2.other.net"), False),
    (("-verify_ip", "10.0.0.9"), False),
])
def test_openssl_verify(openssl_files, extra, ok):
    ca, leaf = openssl_files
    result = openssl("verify", "-attime", attime(), "-CAfile", ca, *(extra + (leaf,)))
    if ok:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "%s: OK" % leaf
    else:
        assert result.returncode != 0


def test_openssl_refuses_before_and_after_validity(openssl_files):
    ca, leaf = openssl_files
    assert openssl("verify", "-attime", attime(NOW - DAY), "-CAfile", ca, leaf).returncode != 0
    assert openssl("verify", "-attime", attime(NOW + 365 * DAY), "-CAfile", ca, leaf).returncode != 0


def test_issue_from_a_ca_with_its_own_key_identifier(tmp_path, keys, server, system_names_3):
    """A CA loaded from elsewhere may carry an SKI that is not SHA-1 of its key; AKI must copy it."""
    key = keys.get("odd-ski", "ec-p256")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Customer CA")])
    ski = x509.SubjectKeyIdentifier(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + 900 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ski, critical=False).sign(key, hashes.SHA256()))
    authority = load_ca(pem_cert(cert), pem_key(key), None)
    leaf = issue_server_certificate(authority, server.key.public_key(), system_names_3, NOW)
    assert ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    ca_path, leaf_path = write(tmp_path, "ca.pem", pem_cert(cert)), write(tmp_path, "leaf.pem", pem_cert(leaf))
    result = openssl("verify", "-attime", attime(), "-CAfile", ca_path, leaf_path)
    assert result.returncode == 0, result.stderr


def test_ip_as_common_name_is_issued_with_the_same_san_and_verifies_by_ip(tmp_path, enterprise_ca, keys):
    """mxone_cert_common_name: ip - the node's IP as CN where a site has no DNS; openssl checks the IP."""
    from ansible_collections.mxone.pki.plugins.module_utils.issue import issue_server_certificate

    names = lim_names(DOMAIN, 2, "10.0.0.2", common_name="ip")
    cert = issue_server_certificate(enterprise_ca, keys["server"].public_key(), names, NOW)
    assert cn_of(cert) == "10.0.0.2"
    assert names_of_certificate(cert) == names
    assert names_of_certificate(cert).dns == lim_names(DOMAIN, 2, "10.0.0.2").dns
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem_cert(enterprise_ca.cert))
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pem_cert(cert))
    out = openssl("verify", "-attime", attime(), "-CAfile", str(ca), "-verify_ip", "10.0.0.2", str(leaf))
    assert out.returncode == 0, out.stderr
