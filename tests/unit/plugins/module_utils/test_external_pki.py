"""external: customer PKI in memory (CSR kept, drop imported, judged by renewal.decide, phones' CA file)."""

import pytest

from _fixtures import DOMAIN, LIMS, NOW, pem_cert, pem_key, run_together
from ansible_collections.mxone.pki.plugins.module_utils.external import (
    Staged, ca_sources, phones_ca, pick_drop, run_external, waiting_message)
from ansible_collections.mxone.pki.plugins.module_utils.fleet import certificate_paths
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem

PASS = b"unit-test-passphrase"
PKI = "pki"
CA_CERT = "pki/ca/ca.pem"
DOWNLOAD = "pki/download/ca.pem"


def external_cert(cert_id="sys", mode="external"):
    return dict(id=cert_id, system=cert_id, mode=mode, lim=None, domain=DOMAIN, lims=list(LIMS), extra_dns=[],
                extra_ips=[], common_name="name", import_require_ips=False,
                paths=certificate_paths(PKI, cert_id, mode))


def store_of(files):
    return Staged(files.get)


def run(files, certificates=None, selected=None, renew_before=30, **kwargs):
    certificates = certificates or {"sys": external_cert()}
    store = store_of(files)
    selected = selected or [i for i, c in certificates.items() if c["mode"] == "external"]
    result = run_external(store, certificates, selected, NOW, PASS.decode(), renew_before, PKI, CA_CERT, DOWNLOAD,
                          **kwargs)
    return store, result


def with_key(pki, files=None):
    """A store where the CSR's key (made once, kept) is the one the test PKI signed."""
    files = dict(files or {})
    files[certificate_paths(PKI, "sys", "external")["key"]] = pem_key(pki.leaf.key, PASS)
    return files


def written(store):
    return dict((path, content) for path, (content, _mode) in store.staged.items())


@pytest.mark.parametrize("present, expected", [
    ([], (None, None)),
    (["server.pem"], ("d/server.pem", None)),
    (["server.pem", "ca.pem"], ("d/server.pem", "d/ca.pem")),
    (["server.p7b", "server.pem", "ca.pem"], ("d/server.p7b", None)),
    (["server.pfx", "server.p7b", "ca.pem"], ("d/server.pfx", None)),
    (["ca.pem"], (None, None)),
])
def test_drop_file_precedence(present, expected):
    assert pick_drop("d", lambda p: p.split("/")[-1] in present) == expected


def test_nothing_dropped_writes_the_csr_and_key_and_the_system_waits():
    store, result = run({})
    paths = certificate_paths(PKI, "sys", "external")
    assert sorted(store.staged) == sorted([paths["key"], paths["csr"]])
    assert store.staged[paths["key"]][1] == 0o600
    message = result["waiting"]["sys"]
    assert message.startswith("system sys: waiting for the customer's CA (missing: nothing imported yet)")
    for word in (paths["csr"], "pki/incoming/sys", "server.p7b", "server.pfx", "mxone_pfx_password"):
        assert word in message
    outcome = result["outcomes"][0]
    assert (outcome["item"]["key"], outcome["reason"], outcome["renew"], outcome["detail"]) == (
        "sys", "missing", True, message)
    assert result["no_download_ca"] is True and result["download_ca_changed"] is False
    assert b"PRIVATE KEY" not in repr(result).encode()


def test_the_kept_key_signs_the_csr_and_a_second_run_keeps_both(pki):
    files = with_key(pki)
    store, dummy = run(files)
    paths = certificate_paths(PKI, "sys", "external")
    assert list(store.staged) == [paths["csr"]]  # the key is kept
    files.update(written(store))
    store, result = run(files)
    assert store.staged == {}
    assert result["outcomes"][0]["csr"]["reason"] is None


def test_pem_drop_with_run_together_markers_is_imported_and_trusted_by_the_phones(pki):
    chain = b"".join(pem_cert(c) for c in (pki.root.cert, pki.int1.cert, pki.int2.cert))
    files = with_key(pki, {"pki/incoming/sys/server.pem": pki.leaf.pem,
                           "pki/incoming/sys/ca.pem": run_together(chain)})
    store, result = run(files)
    paths = certificate_paths(PKI, "sys", "external")
    assert result["waiting"] == {}
    outcome = result["outcomes"][0]
    assert (outcome["reason"], outcome["changed"], outcome["renew"], outcome["format"]) == (
        "imported", True, True, "pem")
    assert outcome["detail"].startswith("certificate ") and outcome["detail"].endswith("from pem")
    assert any("repaired" in w for w in result["warnings"])
    assert result["chains_changed"] == [paths["chain"]]
    # the chain closest first; the phones' file holds the customer chain only (no enterprise certificate)
    assert written(store)[paths["chain"]] == b"".join(pem_cert(c) for c in pki.chain)
    assert result["download_ca_changed"] and written(store)[DOWNLOAD] == written(store)[paths["chain"]]
    # a second run over what the first wrote changes nothing
    files.update(written(store))
    store, again = run(files)
    assert store.staged == {} and again["waiting"] == {}
    assert (again["outcomes"][0]["reason"], again["outcomes"][0]["renew"]) == (None, False)


@pytest.mark.parametrize("drop, why", [
    ("foreign", "was refused"),           # not signed for the CSR's key
    ("expired", "was refused"),
])
def test_a_refused_drop_makes_its_system_wait_and_writes_nothing_of_it(pki, drop, why):
    leaf = {"foreign": pki.foreign_leaf, "expired": pki.expired_leaf}[drop]
    files = with_key(pki, {"pki/incoming/sys/server.pem": leaf.pem + pem_cert(pki.root.cert)})
    store, result = run(files)
    paths = certificate_paths(PKI, "sys", "external")
    assert paths["cert"] not in store.staged and paths["chain"] not in store.staged
    assert why in result["waiting"]["sys"]
    assert result["outcomes"][0]["failed"] is True
    assert result["outcomes"][0]["reason"] == "missing"  # nothing imported before either


@pytest.mark.parametrize("renew_before, reason, waits", [
    (30, None, False),
    (400, "expiring", True),       # the certificate in place is within the window
    (0.999, "expiring", True),     # a share of the lifetime
])
def test_the_certificate_in_place_is_judged_by_the_renewal_decision(pki, renew_before, reason, waits):
    paths = certificate_paths(PKI, "sys", "external")
    files = with_key(pki, {paths["cert"]: pki.leaf.pem, paths["chain"]: b"".join(pem_cert(c) for c in pki.chain)})
    dummy, result = run(files, renew_before=renew_before)
    outcome = result["outcomes"][0]
    assert ("sys" in result["waiting"]) is waits
    if waits:
        assert outcome["reason"] == reason and outcome["renew"] is True
        assert "(expiring: " in result["waiting"]["sys"]
    else:
        assert outcome.get("reason") is None and outcome["previous"]["serial"]


def test_a_certificate_not_issued_by_its_chain_must_be_renewed(pki):
    paths = certificate_paths(PKI, "sys", "external")
    files = with_key(pki, {paths["cert"]: pki.leaf.pem, paths["chain"]: pem_cert(pki.foreign_root.cert)})
    dummy, result = run(files)
    assert result["outcomes"][0]["reason"] == "issuer_changed"


def test_phones_ca_keeps_every_certificate_once_in_the_order_first_seen(pki):
    a, b, c = (pem_cert(x.cert) for x in (pki.root, pki.int1, pki.foreign_root))
    out = phones_ca([a + b, run_together(b + c), a])
    assert [blk.der for blk in split_pem(out)[0]] == [split_pem(x)[0][0].der for x in (a, b, c)]


def test_ca_sources_enterprise_first_then_external_chains_by_id():
    certs = {"b": external_cert("b"), "a": external_cert("a"), "c": external_cert("c", mode="system")}
    assert ca_sources(certs, CA_CERT) == ([CA_CERT, "pki/certs/a/chain.pem", "pki/certs/b/chain.pem"], True)
    del certs["c"]
    assert ca_sources(certs, CA_CERT)[1] is False


def test_the_enterprise_ca_joins_the_phones_file_when_a_system_uses_it(pki, enterprise_ca):
    paths = certificate_paths(PKI, "sys", "external")
    files = with_key(pki, {paths["cert"]: pki.leaf.pem, paths["chain"]: b"".join(pem_cert(c) for c in pki.chain),
                           CA_CERT: pem_cert(enterprise_ca.cert)})
    certs = {"sys": external_cert(), "own": external_cert("own", mode="system")}
    store, result = run(files, certificates=certs)
    blocks = split_pem(written(store)[DOWNLOAD])[0]
    assert len(blocks) == 4 and blocks[0].der == split_pem(files[CA_CERT])[0][0].der
    # a new fleet's check run: the enterprise CA is not there yet, the phones' file waits for it
    del files[CA_CERT]
    store, result = run(files, certificates=certs)
    assert DOWNLOAD not in store.staged and result["no_download_ca"] is False


def test_pfx_password_and_subject_come_per_system(pki):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    pfx = pkcs12.serialize_key_and_certificates(b"lim", pki.leaf.key, pki.leaf.cert, pki.chain,
                                                serialization.BestAvailableEncryption(b"pfx-secret"))
    files = {"pki/incoming/sys/server.pfx": pfx}
    dummy, refused = run(files, pfx_passwords={"sys": "wrong"})
    assert "wrong password" in refused["waiting"]["sys"]
    store, result = run(files, pfx_passwords={"sys": "pfx-secret"},
                        subjects={"sys": {"organization": "Lab", "state": "ST"}})
    assert result["waiting"] == {} and result["outcomes"][0]["format"] == "pkcs12"
    assert any("abbreviation" in w for w in result["warnings"])
    assert "pfx-secret" not in repr(result)


def test_waiting_message_text():
    assert waiting_message("s", "c.csr", "in/s", "why") == (
        "system s: waiting for the customer's CA (why): have c.csr signed and put the result in in/s/ as "
        "server.pem (+ ca.pem), server.p7b or server.pfx (password in mxone_pfx_password); then run again")
