"""chain: order by issuer links (never by input order), and the one leaf of a set."""

import itertools

import pytest
from cryptography import x509

from _fixtures import cn_of, pem_cert
from ansible_collections.mxone.pki.plugins.module_utils.chain import find_leaf, order_chain
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError


@pytest.fixture(scope="module")
def c(pki):
    """Short names for the shared certificates."""
    class C(object):
        root, int1, int2 = pki.root.cert, pki.int1.cert, pki.int2.cert
        leaf, leaf_root = pki.leaf.cert, pki.leaf_root.cert
        foreign_root, foreign_int, foreign_leaf = pki.foreign_root.cert, pki.foreign_int.cert, pki.foreign_leaf.cert
        self_signed = pki.self_signed_leaf.cert
    return C


@pytest.mark.parametrize("order", list(itertools.permutations(["root", "int1", "int2"])),
                         ids="-".join)
def test_order_chain_any_input_order(c, order):
    assert order_chain(c.leaf, [getattr(c, name) for name in order]) == [c.int2, c.int1, c.root]


@pytest.mark.parametrize("names, expected", [
    (["leaf", "int1", "root", "int2", "int1", "root"], ["int2", "int1", "root"]),  # duplicates and the leaf
    (["root"], ["root"]),
], ids=["duplicates-and-leaf", "root-only"])
def test_order_chain_drops_duplicates(c, names, expected):
    leaf = c.leaf if "int2" in expected else c.leaf_root
    assert order_chain(leaf, [getattr(c, n) for n in names]) == [getattr(c, n) for n in expected]


def test_order_chain_leaf_under_root(c):
    assert order_chain(c.leaf_root, [c.root]) == [c.root]


@pytest.mark.parametrize("leaf, names, words", [
    ("leaf", ["int1", "root"], "no certificate in it signed '*.mx.corp.net' (issuer 'Corp Issuing CA 2')"),
    ("leaf", ["int2", "root"], "no certificate in it signed 'Corp Issuing CA 2' (issuer 'Corp Issuing CA 1')"),
    ("leaf", ["int2", "int1"], "no certificate in it signed 'Corp Issuing CA 1' (issuer 'Corp Root CA')"),
    ("leaf", [], "no certificate in it signed '*.mx.corp.net'"),
    ("leaf", ["foreign_int", "foreign_root"], "does not link"),
    ("leaf", ["int2", "int1", "root", "foreign_root"], "holds 'Foreign Root CA', which is not on the path"),
    ("leaf", ["int2", "int1", "root", "foreign_int", "leaf_root"],
     "holds 'Foreign Issuing CA', '*.mx.corp.net', which is not on the path"),
    ("leaf_root", ["int2", "int1", "root"], "holds 'Corp Issuing CA 2', 'Corp Issuing CA 1', which is not on"),
    ("self_signed", ["int2", "int1", "root"], "the server certificate is self-signed"),
    ("self_signed", [], "the server certificate is self-signed"),
])
def test_order_chain_refusals_name_the_source(c, leaf, names, words):
    with pytest.raises(MxonePkiError) as info:
        order_chain(getattr(c, leaf), [getattr(c, n) for n in names], source="chain.pem")
    assert info.value.file == "chain.pem"
    assert info.value.msg.startswith("chain.pem")
    assert words in info.value.msg


def test_order_chain_refuses_a_root_that_is_not_validly_self_signed(factory, pki):
    """A self-issued 'root' whose signature was made by another key."""
    fake_root = factory.ca("Fake Root", "fake_root", signing_key=pki.foreign_root.key)
    leaf = factory.leaf(fake_root, "leaf_root")
    with pytest.raises(MxonePkiError) as info:
        order_chain(leaf.cert, [fake_root.cert], source="ca.pem")
    assert info.value.file == "ca.pem"
    assert "root 'Fake Root' is not validly self-signed" in info.value.msg


def test_same_name_other_key_does_not_link(factory, pki):
    """An intermediate with the right name but another key is not the issuer."""
    impostor = factory.ca("Corp Issuing CA 2", "impostor", issuer=pki.int1)
    with pytest.raises(MxonePkiError) as info:
        order_chain(pki.leaf.cert, [impostor.cert, pki.int1.cert, pki.root.cert], source="x")
    assert "does not link" in info.value.msg


@pytest.mark.parametrize("names, expected", [
    (["int1", "leaf", "root", "int2"], "leaf"),
    (["leaf"], "leaf"),
    (["root", "leaf_root"], "leaf_root"),
    (["self_signed"], "self_signed"),
    (["leaf", "int2", "leaf"], "leaf"),  # the same leaf twice (a fullchain file beside the leaf file)
])
def test_find_leaf(c, names, expected):
    assert find_leaf([getattr(c, n) for n in names]) == getattr(c, expected)


def test_find_leaf_with_equal_copies(pki):
    """Two parsed copies of one leaf (equal, not identical objects) are one leaf."""
    copy = x509.load_pem_x509_certificate(pem_cert(pki.leaf.cert))
    assert copy is not pki.leaf.cert
    assert find_leaf([pki.leaf.cert, pki.int2.cert, copy]) == pki.leaf.cert


@pytest.mark.parametrize("names, words", [
    ([], "holds no server (non-CA) certificate"),
    (["root", "int1", "int2"], "holds no server (non-CA) certificate"),
    (["leaf", "leaf_root", "root"], "holds 2 server certificates"),
    (["leaf", "foreign_leaf", "int2"], "holds 2 server certificates"),
])
def test_find_leaf_refusals(c, names, words):
    with pytest.raises(MxonePkiError) as info:
        find_leaf([getattr(c, n) for n in names], source="bundle.p7b")
    assert info.value.file == "bundle.p7b"
    assert info.value.msg == "bundle.p7b %s; expected exactly one" % words


def test_names_in_fixture(c):
    assert [cn_of(x) for x in (c.root, c.int1, c.int2)] == ["Corp Root CA", "Corp Issuing CA 1", "Corp Issuing CA 2"]
