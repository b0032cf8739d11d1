"""importer: PEM, PKCS#7 and PKCS#12 from a customer's CA -> (key, leaf, ordered chain), or a refusal."""

import itertools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from _fixtures import DAY, NOW, der_cert, pem_cert, pem_key, public_der, run_together
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.importer import (
    guess_format, import_signed, read_certificates)

PFX_PASSWORD = "pfx-secret"


def p7(certs, encoding=serialization.Encoding.DER):
    return pkcs7.serialize_certificates(list(certs), encoding)


def pfx(key, cert, cas, password=PFX_PASSWORD):
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(b"lim", key, cert, list(cas), encryption)


def assert_imported(imported, pki, repaired=False):
    assert imported.leaf == pki.leaf.cert
    assert imported.chain == pki.chain
    assert public_der(imported.key) == public_der(pki.leaf.key)
    assert imported.repaired is repaired


# ------------------------------------------------------------------- PEM


@pytest.mark.parametrize("order", list(itertools.permutations(["root", "int1", "int2"])),
                         ids="-".join)
def test_pem_leaf_and_ca_file_in_any_order(pki, order):
    ca_data = b"".join(pem_cert(getattr(pki, n).cert) for n in order)
    imported = import_signed(pki.leaf.pem, "lim.crt", NOW, ca_data=ca_data, ca_source="ca.crt", key=pki.leaf.key)
    assert_imported(imported, pki)


@pytest.mark.parametrize("main, ca", [
    (["root", "leaf", "int1", "int2"], None),           # everything in one file
    (["leaf"], ["leaf", "int2", "int1", "root"]),       # leaf file + a "fullchain" file
    (["int1", "leaf"], ["root", "int2"]),
])
def test_pem_files_split_any_way(pki, main, ca):
    main_data = b"".join(pem_cert(getattr(pki, n).cert) for n in main)
    ca_data = b"".join(pem_cert(getattr(pki, n).cert) for n in ca) if ca else None
    imported = import_signed(main_data, "lim.pem", NOW, ca_data=ca_data, ca_source="ca.pem", key=pki.leaf.key)
    assert_imported(imported, pki)


def test_der_leaf_with_pem_ca(pki):
    imported = import_signed(der_cert(pki.leaf.cert), "lim.cer", NOW,
                             ca_data=b"".join(pem_cert(c) for c in pki.chain), ca_source="ca.pem", key=pki.leaf.key)
    assert_imported(imported, pki)


@pytest.mark.parametrize("where", ["main", "ca", "both"])
def test_pem_with_run_together_markers_is_repaired(pki, where):
    main_data, ca_data = pki.leaf.pem, b"".join(pem_cert(c) for c in (pki.root.cert, pki.int2.cert, pki.int1.cert))
    if where in ("main", "both"):
        main_data = run_together(main_data)
    if where in ("ca", "both"):
        ca_data = run_together(ca_data)
    imported = import_signed(main_data, "lim.pem", NOW, ca_data=ca_data, ca_source="ca.pem", key=pki.leaf.key)
    assert_imported(imported, pki, repaired=True)


# ----------------------------------------------------------------- PKCS#7


@pytest.mark.parametrize("encoding, source", [
    (serialization.Encoding.DER, "signed.p7b"),
    (serialization.Encoding.DER, "signed.bin"),       # found by content
    (serialization.Encoding.PEM, "signed.p7b"),
    (serialization.Encoding.PEM, "signed.txt"),       # -----BEGIN PKCS7-----
], ids=["der-p7b", "der-by-content", "pem-p7b", "pem-by-content"])
def test_pkcs7(pki, encoding, source):
    data = p7([pki.root.cert, pki.leaf.cert, pki.int1.cert, pki.int2.cert], encoding)
    imported = import_signed(data, source, NOW, key=pki.leaf.key)
    assert_imported(imported, pki)


def test_pkcs7_with_separate_ca_file(pki):
    imported = import_signed(p7([pki.leaf.cert, pki.int2.cert]), "lim.p7b", NOW,
                             ca_data=p7([pki.root.cert, pki.int1.cert]), ca_source="ca.p7b", key=pki.leaf.key)
    assert_imported(imported, pki)


# ---------------------------------------------------------------- PKCS#12


@pytest.mark.parametrize("source, fmt, cas", [
    ("lim.pfx", "auto", ["root", "int1", "int2"]),
    ("lim.p12", "auto", ["int2", "root", "int1"]),
    ("lim.bin", "auto", ["int1", "int2", "root"]),     # found by content
    ("lim.pem", "pkcs12", ["root", "int2", "int1"]),   # format given
])
def test_pkcs12(pki, source, fmt, cas):
    data = pfx(pki.leaf.key, pki.leaf.cert, [getattr(pki, n).cert for n in cas])
    imported = import_signed(data, source, NOW, password=PFX_PASSWORD, fmt=fmt)
    assert_imported(imported, pki)


def test_pkcs12_password_as_bytes_and_chain_in_ca_file(pki):
    data = pfx(pki.leaf.key, pki.leaf.cert, [pki.int2.cert])
    imported = import_signed(data, "lim.pfx", NOW, password=PFX_PASSWORD.encode(),
                             ca_data=pem_cert(pki.root.cert) + pem_cert(pki.int1.cert), ca_source="ca.pem")
    assert_imported(imported, pki)


def test_pkcs12_without_password(pki):
    data = pfx(pki.leaf.key, pki.leaf.cert, pki.chain, password=None)
    assert_imported(import_signed(data, "lim.pfx", NOW), pki)


# ---------------------------------------------------------------- refusals


def _refusals(pki):
    chain_pem = b"".join(pem_cert(c) for c in pki.chain)
    good_pfx = pfx(pki.leaf.key, pki.leaf.cert, pki.chain)
    return [
        # (id, kwargs for import_signed, file, field, words)
        ("pfx-wrong-password", dict(main_data=good_pfx, main_source="lim.pfx", password="wrong"),
         "lim.pfx", "password", "lim.pfx: wrong password"),
        ("pfx-no-password", dict(main_data=good_pfx, main_source="lim.pfx"),
         "lim.pfx", "password", "lim.pfx: wrong password"),
        ("pfx-no-key", dict(main_data=pkcs12.serialize_key_and_certificates(
            b"x", None, pki.leaf.cert, pki.chain, serialization.NoEncryption()), main_source="lim.pfx"),
         "lim.pfx", None, "lim.pfx holds no private key"),
        ("p7b-only-ca-certs", dict(main_data=p7(pki.chain), main_source="ca.p7b", key=pki.leaf.key),
         "ca.p7b", None, "ca.p7b holds no server (non-CA) certificate"),
        ("p7b-two-leaves", dict(main_data=p7([pki.leaf.cert, pki.leaf_root.cert] + pki.chain), main_source="x.p7b",
                                key=pki.leaf.key),
         "x.p7b", None, "x.p7b holds 2 server certificates"),
        ("key-does-not-fit", dict(main_data=pki.leaf.pem, main_source="lim.pem", ca_data=chain_pem,
                                  ca_source="ca.pem", key=pki.leaf_root.key),
         "lim.pem", None, "lim.pem: '*.mx.corp.net' does not fit the kept CSR key"),
        ("pfx-key-does-not-fit", dict(main_data=pkcs12.serialize_key_and_certificates(  # key bag + loose certs
            b"x", pki.leaf_root.key, None, [pki.leaf.cert] + pki.chain, serialization.NoEncryption()),
            main_source="lim.pfx"),
         "lim.pfx", None, "lim.pfx: '*.mx.corp.net' does not fit lim.pfx"),
        ("no-key", dict(main_data=pki.leaf.pem, main_source="lim.pem", ca_data=chain_pem, ca_source="ca.pem"),
         "lim.pem", None, "lim.pem: no private key for '*.mx.corp.net'"),
        ("chain-does-not-link", dict(main_data=pki.leaf.pem, main_source="lim.pem", key=pki.leaf.key,
                                     ca_data=pem_cert(pki.int1.cert) + pem_cert(pki.root.cert), ca_source="ca.pem"),
         "lim.pem + ca.pem", None, "lim.pem + ca.pem does not link: no certificate in it signed '*.mx.corp.net'"),
        ("foreign-ca-extra", dict(main_data=pki.leaf.pem, main_source="lim.pem", key=pki.leaf.key,
                                  ca_data=chain_pem + pem_cert(pki.foreign_root.cert), ca_source="ca.pem"),
         "lim.pem + ca.pem", None, "holds 'Foreign Root CA', which is not on the path"),
        ("expired-leaf", dict(main_data=pki.expired_leaf.pem, main_source="lim.pem", key=pki.leaf_root.key,
                              ca_data=pem_cert(pki.root.cert), ca_source="ca.pem"),
         "lim.pem", None, "lim.pem + ca.pem: '*.mx.corp.net' is expired on"),
        ("not-yet-valid-leaf", dict(main_data=pki.future_leaf.pem, main_source="lim.pem", key=pki.leaf_root.key,
                                    ca_data=pem_cert(pki.root.cert), ca_source="ca.pem"),
         "lim.pem", None, "lim.pem + ca.pem: '*.mx.corp.net' is not yet valid"),
        ("key-in-cert-file", dict(main_data=pem_key(pki.leaf.key) + pki.leaf.pem, main_source="lim.pem",
                                  key=pki.leaf.key),
         "lim.pem", None, "lim.pem: block 1 (PRIVATE KEY): a private key in a certificate file"),
        ("pfx-as-ca-file", dict(main_data=pki.leaf.pem, main_source="lim.pem", key=pki.leaf.key,
                                ca_data=good_pfx, ca_source="chain.pfx"),
         "chain.pfx", None, "chain.pfx: format pkcs12 holds a private key"),
        ("garbage-p7b", dict(main_data=b"\x30\x03\x02\x01\x00", main_source="x.p7b", key=pki.leaf.key),
         "x.p7b", None, "x.p7b is not a readable PKCS#7 file"),
        ("garbage-der-as-pem", dict(main_data=b"\x30\x03\x02\x01\x00", main_source="x.crt", fmt="pem"),
         "x.crt", None, "x.crt is neither PEM nor a DER certificate"),
        ("pem-without-certificate", dict(main_data=b"nothing here\n", main_source="x.crt", fmt="pem"),
         "x.crt", None, "x.crt is neither PEM nor a DER certificate"),
        ("pem-crl-only", dict(main_data=b"-----BEGIN X509 CRL-----\nTUlJQg==\n-----END X509 CRL-----\n",
                              main_source="x.crt"),
         "x.crt", None, "x.crt holds no certificate"),
        ("unknown-format", dict(main_data=pki.leaf.pem, main_source="lim.pem", fmt="jks"),
         None, "format", "unknown format 'jks'"),
    ]


REFUSAL_IDS = ["pfx-wrong-password", "pfx-no-password", "pfx-no-key", "p7b-only-ca-certs", "p7b-two-leaves",
               "key-does-not-fit", "pfx-key-does-not-fit", "no-key", "chain-does-not-link", "foreign-ca-extra",
               "expired-leaf", "not-yet-valid-leaf", "key-in-cert-file", "pfx-as-ca-file", "garbage-p7b",
               "garbage-der-as-pem", "pem-without-certificate", "pem-crl-only", "unknown-format"]


@pytest.mark.parametrize("case_id", REFUSAL_IDS)
def test_refusals_name_file_and_field(pki, case_id):
    cases = dict((case[0], case[1:]) for case in _refusals(pki))
    assert sorted(cases) == sorted(REFUSAL_IDS)
    kwargs, file, field, words = cases[case_id]
    with pytest.raises(MxonePkiError) as info:
        import_signed(now=NOW, **kwargs)
    assert info.value.file == file
    assert info.value.field == field
    assert words in info.value.msg
    assert PFX_PASSWORD not in str(info.value)


@pytest.mark.parametrize("now, words", [(NOW + 365 * DAY, "is expired"), (NOW - 2 * DAY, "is not yet valid")])
def test_leaf_out_of_dates_at_other_times(pki, now, words):
    with pytest.raises(MxonePkiError) as info:
        import_signed(pki.leaf.pem, "lim.pem", now, ca_data=b"".join(pem_cert(c) for c in pki.chain),
                      ca_source="ca.pem", key=pki.leaf.key)
    assert words in info.value.msg and info.value.file == "lim.pem"


def test_expired_intermediate_is_refused(factory, pki):
    old_int = factory.ca("Old Issuing CA", "int1", issuer=pki.root, days=(-900, -10))
    leaf = factory.leaf(old_int, "leaf", days=(-100, 100))
    with pytest.raises(MxonePkiError) as info:
        import_signed(leaf.pem, "lim.pem", NOW, ca_data=old_int.pem + pki.root.pem, ca_source="ca.pem",
                      key=leaf.key)
    assert "'Old Issuing CA' is expired" in info.value.msg


# ------------------------------------------------------------ guess_format


@pytest.fixture(scope="module")
def samples(pki):
    return {
        "pem": pki.leaf.pem,
        "der": der_cert(pki.leaf.cert),
        "p7_der": p7([pki.leaf.cert, pki.root.cert]),
        "p7_pem": p7([pki.leaf.cert, pki.root.cert], serialization.Encoding.PEM),
        "pfx": pfx(pki.leaf.key, pki.leaf.cert, [pki.root.cert]),
        "junk": b"\x00\x01junk",
    }


@pytest.mark.parametrize("source, sample, expected", [
    ("server.pfx", "pem", "pkcs12"),
    ("SERVER.P12", "junk", "pkcs12"),
    ("chain.p7b", "pem", "pkcs7"),
    ("chain.P7C", "junk", "pkcs7"),
    ("chain.p7", "junk", "pkcs7"),
    ("server.pem", "pem", "pem"),
    ("server.crt", "p7_pem", "pkcs7"),
    ("server.bin", "p7_der", "pkcs7"),
    ("server.cer", "der", "pem"),
    ("server.bin", "pfx", "pkcs12"),
    ("", "pfx", "pkcs12"),
    ("", "pem", "pem"),
])
def test_guess_format(samples, source, sample, expected):
    assert guess_format(samples[sample], source) == expected


def test_read_certificates_der_and_pem(pki):
    assert read_certificates(der_cert(pki.leaf.cert), "lim.cer") == ([pki.leaf.cert], False)
    certs, repaired = read_certificates(run_together(pki.leaf.pem + pki.root.pem), "x.pem")
    assert certs == [pki.leaf.cert, pki.root.cert] and repaired is True


@pytest.mark.parametrize("data", [b"this is not a certificate", b"\x00\x01\x02garbage"])
def test_garbage_is_not_reported_as_a_wrong_password(data):
    with pytest.raises(MxonePkiError) as caught:
        guess_format(data, "/in/server.crt")
    assert "not PEM, DER, PKCS#7 or PKCS#12" in caught.value.msg
    assert caught.value.file == "/in/server.crt" and caught.value.field is None


# ------------------------------------------------------------------- coverage of the wanted names


def test_names_not_covered_are_refused_naming_file_system_and_names(pki):
    from _fixtures import DOMAIN, LIMS
    from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names

    wanted = system_names(DOMAIN, LIMS + [{"lim": 4, "ip": "10.0.0.4"}])
    with pytest.raises(MxonePkiError) as error:
        import_signed(pki.leaf.pem, "incoming/sthlm/server.pem", NOW, ca_data=pem_cert(pki.int2.cert)
                      + pem_cert(pki.int1.cert) + pem_cert(pki.root.cert), ca_source="ca.pem", key=pki.leaf.key,
                      wanted=wanted, system="sthlm")
    assert error.value.msg.startswith("incoming/sthlm/server.pem for system sthlm: not covered: the certificate "
                                      "lacks SAN DNS lim4.mx.corp.net")
    assert error.value.file == "incoming/sthlm/server.pem"


def test_covered_names_give_the_coverage(pki):
    from _fixtures import DOMAIN, LIMS
    from ansible_collections.mxone.pki.plugins.module_utils.naming import system_names

    imported = import_signed(pki.leaf.pem, "server.pem", NOW, ca_data=pem_cert(pki.int2.cert)
                             + pem_cert(pki.int1.cert) + pem_cert(pki.root.cert), key=pki.leaf.key,
                             wanted=system_names(DOMAIN, LIMS[:2]), require_ips=True)
    assert imported.coverage.accepted
    assert imported.coverage.extra_dns == ["lim3.mx.corp.net"]
    assert imported.coverage.extra_ips == ["10.0.0.3"]


# ------------------------------------------------------------------- text oddities


def _bag(block, friendly="lim"):
    """What ``openssl pkcs12 -nodes`` writes before each block."""
    return ("Bag Attributes\n    localKeyID: 01 00 00 00\n    friendlyName: %s\nsubject=CN = *.mx.corp.net\n"
            "issuer=O = Corp, CN = Corp Issuing CA 2\n" % friendly).encode("utf-8") + block


ODDITIES = {
    "bom": lambda data: b"\xef\xbb\xbf" + data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "bag-attributes": lambda data: b"".join(_bag(b"-----BEGIN" + chunk, friendly="Växjö LIM")
                                            for chunk in data.split(b"-----BEGIN")[1:]),
    "all": lambda data: b"\xef\xbb\xbf" + b"".join(
        _bag(b"-----BEGIN" + chunk) for chunk in data.split(b"-----BEGIN")[1:]).replace(b"\n", b"\r\n"),
}


@pytest.mark.parametrize("oddity", sorted(ODDITIES))
def test_text_oddities_in_pem_files_are_ignored(pki, oddity):
    odd = ODDITIES[oddity]
    ca_data = pem_cert(pki.root.cert) + pem_cert(pki.int1.cert) + pem_cert(pki.int2.cert)
    imported = import_signed(odd(pki.leaf.pem), "server.pem", NOW, ca_data=odd(ca_data), ca_source="ca.pem",
                             key=pki.leaf.key)
    assert_imported(imported, pki)


@pytest.mark.parametrize("oddity", sorted(ODDITIES))
def test_text_oddities_in_pem_pkcs7_are_ignored(pki, oddity):
    data = ODDITIES[oddity](p7([pki.leaf.cert] + pki.chain, serialization.Encoding.PEM))
    assert_imported(import_signed(data, "server.p7b", NOW, key=pki.leaf.key), pki)


def test_openssl_pkcs12_nokeys_output_imports(pki, tmp_path):
    """The real thing: what ``openssl pkcs12 -nokeys`` prints (Bag Attributes, subject=, issuer=)."""
    from _fixtures import openssl, write

    path = write(tmp_path, "lim.pfx", pfx(pki.leaf.key, pki.leaf.cert, pki.chain))
    out = openssl("pkcs12", "-in", path, "-nokeys", "-passin", "pass:" + PFX_PASSWORD)
    assert out.returncode == 0, out.stderr
    assert "Bag Attributes" in out.stdout and "subject=" in out.stdout
    imported = import_signed(out.stdout.encode("utf-8"), "server.pem", NOW, key=pki.leaf.key)
    assert_imported(imported, pki)


# ------------------------------------------------------------------- PKCS#12: legacy and modern


def _pfx_with(pki, algorithm, mac):
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
                  .key_cert_algorithm(algorithm).hmac_hash(mac).build(PFX_PASSWORD.encode()))
    return pkcs12.serialize_key_and_certificates(b"lim", pki.leaf.key, pki.leaf.cert, pki.chain, encryption)


def test_pkcs12_legacy_3des_sha1_as_windows_exports(pki):
    from cryptography.hazmat.primitives import hashes

    data = _pfx_with(pki, pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1())
    assert_imported(import_signed(data, "server.pfx", NOW, password=PFX_PASSWORD), pki)


def test_pkcs12_modern_aes256_pbes2(pki):
    from cryptography.hazmat.primitives import hashes

    data = _pfx_with(pki, pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256())
    assert_imported(import_signed(data, "server.pfx", NOW, password=PFX_PASSWORD), pki)


@pytest.mark.parametrize("args", [
    ["-legacy"],                                                                    # RC2-40 certs, 3DES key, SHA-1
    ["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"],  # Windows' 3DES export
    ["-certpbe", "AES-256-CBC", "-keypbe", "AES-256-CBC", "-macalg", "sha256"],    # modern
], ids=["legacy-rc2", "3des-sha1", "aes256-pbes2"])
def test_pkcs12_made_by_openssl(pki, tmp_path, args):
    from _fixtures import openssl, pem_key, write

    key = write(tmp_path, "key.pem", pem_key(pki.leaf.key))
    cert = write(tmp_path, "cert.pem", pki.leaf.pem)
    chain = write(tmp_path, "chain.pem", b"".join(pem_cert(c) for c in pki.chain))
    out_path = str(tmp_path / "server.pfx")
    made = openssl("pkcs12", "-export", "-inkey", key, "-in", cert, "-certfile", chain, "-out", out_path,
                   "-passout", "pass:" + PFX_PASSWORD, *args)
    if made.returncode != 0 and args == ["-legacy"]:
        pytest.skip("this openssl has no legacy provider: %s" % made.stderr.strip()[:200])
    assert made.returncode == 0, made.stderr
    with open(out_path, "rb") as handle:
        data = handle.read()
    assert_imported(import_signed(data, "server.pfx", NOW, password=PFX_PASSWORD), pki)


def test_a_leaf_inside_the_renew_before_window_is_refused_before_anything_is_written(pki):
    ca_data = pem_cert(pki.int2.cert) + pem_cert(pki.int1.cert) + pem_cert(pki.root.cert)
    late = NOW + 350 * DAY  # the leaf expires at NOW + 364 days: 14 days left
    with pytest.raises(MxonePkiError) as error:
        import_signed(pki.leaf.pem, "server.pem", late, ca_data=ca_data, key=pki.leaf.key, renew_before=30)
    assert "within the renew-before window of 30 day(s)" in error.value.msg
    assert import_signed(pki.leaf.pem, "server.pem", late, ca_data=ca_data, key=pki.leaf.key, renew_before=7)
