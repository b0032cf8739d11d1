"""pem: splitting, repairing run-together BEGIN/END lines, refusing broken blocks."""

import base64

import pytest

from _fixtures import der_cert, pem_key, run_together
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.pem import (
    certificate_ders, encode_pem, looks_like_pem, markers_on_own_lines, split_pem)


@pytest.fixture(scope="module")
def parts(pki):
    """(label, der) of a key and three certificates, and their clean PEM text."""
    key_pem = pem_key(pki.leaf.key).decode("ascii")
    key_der = base64.b64decode("".join(key_pem.splitlines()[1:-1]))
    items = [("PRIVATE KEY", key_der)] + [("CERTIFICATE", der_cert(c)) for c in
                                          (pki.leaf.cert, pki.int2.cert, pki.root.cert)]
    return items, "".join(encode_pem(label, der) for label, der in items)


def test_split_clean_multi_block(parts):
    items, text = parts
    blocks, repaired = split_pem(text.encode("ascii"))
    assert repaired is False
    assert [(b.label, b.der) for b in blocks] == items
    assert [b.index for b in blocks] == [1, 2, 3, 4]
    assert blocks[0].is_private_key and not blocks[1].is_private_key
    assert blocks[2].describe() == "block 3 (CERTIFICATE)"
    assert "".join(b.to_pem() for b in blocks) == text


def test_split_accepts_text_and_crlf(parts):
    items, text = parts
    for data in (text, text.replace("\n", "\r\n").encode("ascii")):
        blocks, repaired = split_pem(data)
        assert repaired is False
        assert [(b.label, b.der) for b in blocks] == items


def _glue_end_begin(text):
    """``...-----END CERTIFICATE----------BEGIN CERTIFICATE-----`` on one line."""
    return text.replace("-----\n-----BEGIN", "----------BEGIN")


def _glue_begin_body(text):
    """``-----BEGIN CERTIFICATE-----MIIB...`` on one line."""
    return text.replace("-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----")


def _glue_body_end(text):
    """``...base64==-----END CERTIFICATE-----`` on one line."""
    return text.replace("\n-----END CERTIFICATE-----", "-----END CERTIFICATE-----")


def _first_bad_line(text):
    for number, line in enumerate(text.splitlines(), 1):
        if "-----" in line and not (line.startswith("-----") and line.endswith("-----") and line.count("-----") == 2):
            return number
    return None


@pytest.mark.parametrize("glue", [
    _glue_end_begin, _glue_begin_body, _glue_body_end, lambda t: run_together(t).decode("ascii"),
    lambda t: t.replace("\n", ""),
], ids=["end-begin", "begin-body", "body-end", "all-markers", "one-line"])
def test_run_together_markers_are_repaired_or_refused_when_strict(parts, glue):
    items, text = parts
    broken = glue(text)
    assert broken != text
    assert not markers_on_own_lines(broken)
    blocks, repaired = split_pem(broken.encode("ascii"))
    assert repaired is True
    assert [(b.label, b.der) for b in blocks] == items
    with pytest.raises(MxonePkiError) as info:
        split_pem(broken, source="eri_sn_cert.pem", strict=True)
    assert info.value.msg.startswith("eri_sn_cert.pem: line %d: " % _first_bad_line(broken))
    assert "not on a line of its own" in info.value.msg


def test_strict_accepts_clean_text(parts):
    items, text = parts
    blocks, repaired = split_pem(text, strict=True)
    assert repaired is False and len(blocks) == 4


def test_bag_attributes_and_comments_are_ignored(parts):
    items, text = parts
    chunks = text.split("-----BEGIN")
    noisy = "".join(
        ("Bag Attributes\n    localKeyID: 01 02 03\n    friendlyName: lim\n"
         "subject=/O=Corp/CN=*.mx.corp.net\nissuer=/O=Corp/CN=Corp Issuing CA 2\n" if i else "")
        + ("-----BEGIN" if i else "") + chunk for i, chunk in enumerate(chunks)
    ) + "\n# trailing comment: with a colon\n"
    blocks, repaired = split_pem(noisy.encode("ascii"), strict=True)
    assert repaired is False
    assert [(b.label, b.der) for b in blocks] == items


CERT_BODY = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"

BROKEN = [
    # (text, words the message must contain)
    (CERT_BODY + "-----BEGIN CERTIFICATE-----\nTUlJQg==\n", "in.pem: block 2 (CERTIFICATE) is truncated: no END line"),
    ("-----BEGIN CERTIFICATE-----\nTUlJQg==\n" + CERT_BODY,
     "in.pem: block 1 (CERTIFICATE) is truncated: BEGIN CERTIFICATE before its END"),
    ("-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END PRIVATE KEY-----\n",
     "in.pem: block 1 (CERTIFICATE) ends with END PRIVATE KEY"),
    (CERT_BODY + "-----END CERTIFICATE-----\n", "in.pem: END CERTIFICATE without BEGIN (after block 1)"),
    (CERT_BODY + "-----BEGIN CERTIFICATE-----\nTUl*JQg==\n-----END CERTIFICATE-----\n",
     "in.pem: block 2 (CERTIFICATE) is not valid base64"),
    ("-----BEGIN CERTIFICATE-----\nTUlJQg=\n-----END CERTIFICATE-----\n",
     "in.pem: block 1 (CERTIFICATE) is not valid base64"),
    ("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n", "in.pem: block 1 (CERTIFICATE) is empty"),
    ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nTUlJQg==\n"
     "-----END RSA PRIVATE KEY-----\n", "in.pem: block 1 (RSA PRIVATE KEY) uses legacy PEM encryption"),
]


@pytest.mark.parametrize("text, words", BROKEN)
def test_broken_blocks_are_refused_naming_the_block(text, words):
    for data in (text, text.encode("ascii")):
        with pytest.raises(MxonePkiError) as info:
            split_pem(data, source="in.pem")
        assert words in info.value.msg


def test_non_ascii_is_not_pem():
    with pytest.raises(MxonePkiError) as info:
        split_pem(b"\x30\x82\x01\xff", source="server.der")
    assert "server.der is not PEM text" in info.value.msg


def test_no_blocks_is_an_empty_list():
    assert split_pem(b"just text\n") == ([], False)


@pytest.mark.parametrize("data, expected", [
    (b"-----BEGIN CERTIFICATE-----", True), ("x\n-----BEGIN PKCS7-----", True), (b"\x30\x82", False), ("", False)])
def test_looks_like_pem(data, expected):
    assert looks_like_pem(data) is expected


@pytest.mark.parametrize("size", [0 + 1, 47, 48, 49, 1000])
def test_encode_pem_wraps_at_64(size):
    der = bytes(range(256)) * 4
    der = der[:size]
    text = encode_pem("CERTIFICATE", der)
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN CERTIFICATE-----" and lines[-1] == "-----END CERTIFICATE-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    assert markers_on_own_lines(text)
    assert split_pem(text)[0][0].der == der


def test_bom_crlf_and_utf8_outside_blocks_are_ignored(parts):
    items, text = parts
    noisy = b"\xef\xbb\xbf" + ("friendlyName: V\u00e4xj\u00f6\r\n" + text.replace("\n", "\r\n")).encode("utf-8")
    blocks, repaired = split_pem(noisy, strict=True)
    assert repaired is False
    assert [(b.label, b.der) for b in blocks] == items
    assert [(b.label, b.der) for b in split_pem("\ufeff" + text)[0]] == items


def test_non_ascii_inside_a_block_is_refused():
    with pytest.raises(MxonePkiError) as info:
        split_pem("-----BEGIN CERTIFICATE-----\nTUl\u00e4JQg==\n-----END CERTIFICATE-----\n".encode("utf-8"),
                  source="in.pem")
    assert "in.pem: block 1 (CERTIFICATE) is not valid base64" in info.value.msg


# ------------------------------------------------ certificate_ders (chain files, a node's old bundle)


def test_certificate_ders_skip_the_key_and_keep_the_order(parts):
    items, text = parts
    assert certificate_ders(text.encode("ascii")) == [der for label, der in items if label == "CERTIFICATE"]
    assert certificate_ders(text) == certificate_ders(text.encode("ascii"))  # a node's output arrives as text


@pytest.mark.parametrize("glue", [_glue_end_begin, _glue_begin_body, _glue_body_end])
def test_certificate_ders_read_run_together_markers_as_split_pem_does(parts, glue):
    items, text = parts
    assert certificate_ders(glue(text)) == [der for label, der in items if label == "CERTIFICATE"]


def test_certificate_ders_name_a_broken_block():
    with pytest.raises(MxonePkiError) as info:
        certificate_ders(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", source="chain.pem")
    assert "chain.pem: block 1 (CERTIFICATE) is not valid base64" in info.value.msg


def test_certificate_ders_of_no_certificate_is_empty(parts):
    items, text = parts
    assert certificate_ders(encode_pem(*items[0])) == []
