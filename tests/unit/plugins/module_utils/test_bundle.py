"""bundle: eri_sn_cert.pem (key, leaf, intermediates close->far, root) and ca.pem."""

import re

import pytest
from cryptography.hazmat.primitives import serialization

from _fixtures import DAY, NOW, attime, der_cert, openssl, pem_cert, pem_key, public_der, run_together, write
from ansible_collections.mxone.pki.plugins.module_utils.bundle import (
    SN_BUNDLE_NAME, build_ca_bundle, build_sn_bundle, check_ca_bundle, check_sn_bundle)
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem

MARKER_LINE = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")


@pytest.fixture(scope="module")
def bundle(pki):
    return build_sn_bundle(pki.leaf.key, pki.leaf.cert, pki.chain)


def test_build_sn_bundle_order(pki, bundle):
    blocks, repaired = split_pem(bundle)
    assert repaired is False
    assert [b.label for b in blocks] == ["PRIVATE KEY"] + ["CERTIFICATE"] * 4
    key = serialization.load_der_private_key(blocks[0].der, password=None)
    assert public_der(key) == public_der(pki.leaf.key)
    assert [b.der for b in blocks[1:]] == [der_cert(c) for c in
                                           (pki.leaf.cert, pki.int2.cert, pki.int1.cert, pki.root.cert)]


def test_every_marker_alone_on_its_line(bundle):
    text = bundle.decode("ascii")
    marker_lines = [line for line in text.splitlines() if "-----" in line]
    assert len(marker_lines) == 10
    assert all(MARKER_LINE.fullmatch(line) for line in marker_lines)
    assert text.endswith("-----END CERTIFICATE-----\n")


def test_bundle_with_openssl(tmp_path, pki, bundle):
    """openssl reads the key and the first certificate of the file, and they belong together."""
    path = write(tmp_path, SN_BUNDLE_NAME, bundle)
    from_key = openssl("pkey", "-in", path, "-pubout")
    from_cert = openssl("x509", "-in", path, "-noout", "-pubkey")
    assert from_key.returncode == 0 and from_cert.returncode == 0
    assert from_key.stdout == from_cert.stdout
    ca = write(tmp_path, "root.pem", pem_cert(pki.root.cert))
    verify = openssl("verify", "-attime", attime(), "-CAfile", ca, "-untrusted", path, path)
    assert verify.returncode == 0, verify.stderr


def test_check_sn_bundle_accepts_a_built_bundle(pki, bundle):
    checked = check_sn_bundle(bundle, NOW)
    assert checked.leaf == pki.leaf.cert
    assert checked.chain == pki.chain
    assert public_der(checked.key) == public_der(pki.leaf.key)


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_check_sn_bundle_without_intermediates(pki, fmt):
    data = pem_key(pki.leaf_root.key, fmt=fmt) + pem_cert(pki.leaf_root.cert) + pem_cert(pki.root.cert)
    checked = check_sn_bundle(data, NOW)
    assert checked.chain == [pki.root.cert]
    assert build_sn_bundle(pki.leaf_root.key, pki.leaf_root.cert, [pki.root.cert]) == \
        pem_key(pki.leaf_root.key) + pem_cert(pki.leaf_root.cert) + pem_cert(pki.root.cert)


def test_check_sn_bundle_ec_key(factory, pki):
    leaf = factory.leaf(pki.root, "ec-leaf", key_type="ec-p256")
    data = build_sn_bundle(leaf.key, leaf.cert, [pki.root.cert])
    assert check_sn_bundle(data, NOW).leaf == leaf.cert


def _parts(pki):
    leaf, int1, int2, root = pki.leaf, pki.int1, pki.int2, pki.root
    return {
        "key": pem_key(leaf.key),
        "other_key": pem_key(pki.leaf_root.key),
        "enc_key": pem_key(leaf.key, b"secret"),
        "root_key": pem_key(root.key),
        "int1_key": pem_key(int1.key),
        "leaf": pem_cert(leaf.cert),
        "int1": pem_cert(int1.cert),
        "int2": pem_cert(int2.cert),
        "root": pem_cert(root.cert),
        "foreign_root": pem_cert(pki.foreign_root.cert),
        "leaf_root_key": pem_key(pki.leaf_root.key),
        "expired": pem_cert(pki.expired_leaf.cert),
        "future": pem_cert(pki.future_leaf.cert),
        "bad_key": b"-----BEGIN PRIVATE KEY-----\nTUlJQg==\n-----END PRIVATE KEY-----\n",
    }


BAD_BUNDLES = [
    # (id, blocks in file order, words the message must contain)
    ("cert-before-key", ["leaf", "key", "int2", "int1", "root"],
     "block 1 (CERTIFICATE): the first block must be the server's private key"),
    ("intermediates-swapped", ["key", "leaf", "int1", "int2", "root"],
     "block 3 (CERTIFICATE): 'Corp Issuing CA 1' did not sign the certificate before it ('*.mx.corp.net', "
     "issued by 'Corp Issuing CA 2')"),
    ("root-before-intermediates", ["key", "leaf", "root", "int2", "int1"], "block 3 (CERTIFICATE): 'Corp Root CA'"),
    ("root-in-the-middle", ["key", "leaf", "int2", "root", "int1"], "block 4 (CERTIFICATE): 'Corp Root CA'"),
    ("key-does-not-fit", ["other_key", "leaf", "int2", "int1", "root"],
     "block 2 (CERTIFICATE): the private key in block 1 does not fit"),
    ("encrypted-key", ["enc_key", "leaf", "int2", "int1", "root"],
     "block 1 (ENCRYPTED PRIVATE KEY): the private key is encrypted"),
    ("ca-key-second", ["key", "root_key", "leaf", "int2", "int1", "root"],
     "block 2 (PRIVATE KEY): after the key only certificates may follow"),
    ("ca-key-last", ["key", "leaf", "int2", "int1", "root", "root_key"],
     "block 6 (PRIVATE KEY): after the key only certificates may follow"),
    ("ca-key-and-ca-cert", ["int1_key", "int1", "root"], "block 2 (CERTIFICATE): must be the server certificate"),
    ("missing-root", ["key", "leaf", "int2", "int1"],
     "block 4 (CERTIFICATE): the last block must be the self-signed root CA, but 'Corp Issuing CA 1' is issued "
     "by 'Corp Root CA'"),
    ("foreign-root", ["key", "leaf", "int2", "int1", "foreign_root"], "block 5 (CERTIFICATE): 'Foreign Root CA'"),
    ("expired-leaf", ["leaf_root_key", "expired", "root"], "block 2 (CERTIFICATE): '*.mx.corp.net' is expired on"),
    ("not-yet-valid-leaf", ["leaf_root_key", "future", "root"],
     "block 2 (CERTIFICATE): '*.mx.corp.net' is not yet valid"),
    ("two-blocks", ["key", "leaf"], "has 2 PEM block(s)"),
    ("one-block", ["key"], "has 1 PEM block(s)"),
    ("empty", [], "has 0 PEM block(s)"),
    ("unreadable-key", ["bad_key", "leaf", "root"], "block 1 (PRIVATE KEY) is not a readable private key"),
]


@pytest.mark.parametrize("names, words", [case[1:] for case in BAD_BUNDLES], ids=[case[0] for case in BAD_BUNDLES])
def test_check_sn_bundle_refusals_name_the_block(pki, names, words):
    parts = _parts(pki)
    data = b"".join(parts[n] for n in names)
    with pytest.raises(MxonePkiError) as info:
        check_sn_bundle(data, NOW, source="/etc/opt/eri_sn/certs/eri_sn_cert.pem")
    assert info.value.msg.startswith("/etc/opt/eri_sn/certs/eri_sn_cert.pem")
    assert info.value.file.startswith("/etc/opt/eri_sn/certs/eri_sn_cert.pem")
    assert words in info.value.msg


@pytest.mark.parametrize("now, words", [
    (NOW + 400 * DAY, "block 2 (CERTIFICATE): '*.mx.corp.net' is expired"),
    (NOW - 2 * DAY, "block 2 (CERTIFICATE): '*.mx.corp.net' is not yet valid"),
    (NOW + 3100 * DAY, "block 2 (CERTIFICATE): '*.mx.corp.net' is expired"),
])
def test_check_sn_bundle_dates(bundle, now, words):
    with pytest.raises(MxonePkiError) as info:
        check_sn_bundle(bundle, now)
    assert words in info.value.msg and info.value.file == SN_BUNDLE_NAME


def test_expired_intermediate_is_named(factory, pki):
    old_int = factory.ca("Old Issuing CA", "int1", issuer=pki.root, days=(-900, -10))
    leaf = factory.leaf(old_int, "leaf", days=(-100, 100))
    data = pem_key(leaf.key) + pem_cert(leaf.cert) + pem_cert(old_int.cert) + pem_cert(pki.root.cert)
    with pytest.raises(MxonePkiError) as info:
        check_sn_bundle(data, NOW)
    assert "block 3 (CERTIFICATE): 'Old Issuing CA' is expired" in info.value.msg


def test_check_sn_bundle_refuses_run_together_markers(bundle):
    broken = run_together(bundle)
    assert split_pem(broken)[1] is True  # repairable, but not accepted for the node
    with pytest.raises(MxonePkiError) as info:
        check_sn_bundle(broken, NOW, source="eri_sn_cert.pem")
    assert "eri_sn_cert.pem: line 1: a BEGIN/END line is not on a line of its own" in info.value.msg


# ------------------------------------------------------------------ build


def test_build_refuses_a_key_that_does_not_fit(pki):
    with pytest.raises(MxonePkiError) as info:
        build_sn_bundle(pki.root.key, pki.leaf.cert, pki.chain)
    assert "does not fit the server certificate" in info.value.msg


def test_build_refuses_the_ca_key(factory, pki):
    """A server certificate made for the CA's own key: the CA key must still not go into the bundle."""
    leaf_with_ca_key = factory.leaf(pki.root, "root")
    with pytest.raises(MxonePkiError) as info:
        build_sn_bundle(pki.root.key, leaf_with_ca_key.cert, [pki.root.cert])
    assert "refusing to put a CA's private key into eri_sn_cert.pem" in info.value.msg


def test_build_refuses_a_ca_certificate_as_server_certificate(pki):
    with pytest.raises(MxonePkiError) as info:
        build_sn_bundle(pki.int1.key, pki.int1.cert, [pki.root.cert])
    assert "'Corp Issuing CA 1' is a CA certificate" in info.value.msg
    assert SN_BUNDLE_NAME in info.value.msg


@pytest.mark.parametrize("chain, words", [
    (["int1", "int2", "root"], "'Corp Issuing CA 1' did not sign '*.mx.corp.net'"),
    (["int2", "root", "int1"], "'Corp Root CA' did not sign 'Corp Issuing CA 2'"),
    (["int2", "int1"], "the last certificate must be the self-signed root CA"),
    ([], "the last certificate must be the self-signed root CA"),
    (["int2", "int1", "root", "foreign_root"], "'Foreign Root CA' did not sign 'Corp Root CA'"),
])
def test_build_refuses_a_chain_out_of_order(pki, chain, words):
    """The docstring's promise: a wrong order never reaches a node."""
    with pytest.raises(MxonePkiError) as info:
        build_sn_bundle(pki.leaf.key, pki.leaf.cert, [getattr(pki, n).cert for n in chain])
    assert words in info.value.msg
    assert SN_BUNDLE_NAME in info.value.msg


# ----------------------------------------------------------------- ca.pem


def test_ca_bundle_round_trip(pki):
    data = build_ca_bundle(pki.chain)
    assert data == b"".join(pem_cert(c) for c in pki.chain)
    assert check_ca_bundle(data) == pki.chain


def test_build_ca_bundle_needs_a_root():
    with pytest.raises(MxonePkiError) as info:
        build_ca_bundle([])
    assert "ca.pem" in info.value.msg


@pytest.mark.parametrize("names, words", [
    (["key", "root"], "block 1 (PRIVATE KEY): only CA certificates belong here"),
    (["root", "root_key"], "block 2 (PRIVATE KEY): only CA certificates belong here"),
    (["root", "leaf"], "block 2 (CERTIFICATE): '*.mx.corp.net' is not a CA certificate"),
    ([], "holds no certificate"),
])
def test_check_ca_bundle_refusals(pki, names, words):
    parts = _parts(pki)
    with pytest.raises(MxonePkiError) as info:
        check_ca_bundle(b"".join(parts[n] for n in names), source="/phones/ca.pem")
    assert info.value.file == "/phones/ca.pem"
    assert info.value.msg.startswith("/phones/ca.pem")
    assert words in info.value.msg


def test_check_ca_bundle_refuses_run_together_markers(pki):
    with pytest.raises(MxonePkiError) as info:
        check_ca_bundle(run_together(build_ca_bundle(pki.chain)), source="ca.pem")
    assert "ca.pem: line 1" in info.value.msg
