"""The modules through real ansible-playbook runs on localhost.

First run changes, second run changes nothing, --check writes nothing,
bad input fails naming the field and leaves every file as it was, and
the result verifies with an independent checker (openssl).
"""

import datetime
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from helpers import CustomerPki, run_playbook, snapshot

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
PASS = "test-passphrase-123"


def issue(work, *args, **extra):
    extra_vars = {"work": str(work), "passphrase": PASS}
    extra_vars.update(extra)
    return run_playbook(os.path.join(PLAYBOOKS, "issue.yml"), extra_vars, args)


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """One work dir, after a --check run and then a real run."""
    work = tmp_path_factory.mktemp("pki")
    check = issue(work, "--check", "--diff")
    assert snapshot(work) == {}, "check mode wrote files"
    first = issue(work)
    return work, check, first


def test_check_mode_on_empty_store_writes_nothing_and_reports_changes(issued):
    work, check, _first = issued
    assert check.rc == 0, check.output
    assert check.changed == 4
    assert check.results() == ["ca=missing cert=missing info=-"]
    assert "BEGIN" not in check.output  # the diff shows parsed facts, never PEM


def test_first_run_changes_and_second_changes_nothing(issued):
    work, _check, first = issued
    assert first.rc == 0, first.output
    assert first.changed == 4, first.output
    assert first.results() == ["ca=missing cert=missing info="]
    second = issue(work)
    assert second.rc == 0, second.output
    assert second.changed == 0, second.output
    check_again = issue(work, "--check")
    assert check_again.rc == 0 and check_again.changed == 0, check_again.output


def test_files_have_safe_modes_and_keys_are_encrypted(issued):
    work = issued[0]
    for key in ("ca/ca.key", "sys1/server.key", "ext/server.key", "sys1/eri_sn_cert.pem"):
        assert os.stat(work / key).st_mode & 0o777 == 0o600, key
    for key in ("ca/ca.key", "sys1/server.key", "ext/server.key"):
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in (work / key).read_bytes(), key
    assert b"PRIVATE KEY" not in (work / "sys1/ca.pem").read_bytes()


def test_system_certificate_verifies_with_openssl_and_has_exactly_the_wanted_names(issued):
    work = issued[0]
    ca, leaf = str(work / "ca/ca.pem"), str(work / "sys1/server.pem")
    out = subprocess.run(["openssl", "verify", "-CAfile", ca, leaf], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stdout + out.stderr
    for lim in (1, 2, 3):
        out = subprocess.run(["openssl", "verify", "-CAfile", ca, "-verify_hostname",
                              "lim%d.sys1.mx.example.net" % lim, leaf], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    cert = x509.load_pem_x509_certificate((work / "sys1/server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == [
        "lim1.sys1.mx.example.net", "lim2.sys1.mx.example.net", "lim3.sys1.mx.example.net",
        "malmo.mx.example.net"]
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == [
        "192.0.2.11", "192.0.2.12", "192.0.2.13"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_bundle_is_key_leaf_root_with_markers_on_their_own_lines(issued):
    work = issued[0]
    text = (work / "sys1/eri_sn_cert.pem").read_text()
    labels = [line for line in text.splitlines() if line.startswith("-----")]
    assert labels == ["-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
                      "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----",
                      "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"]
    assert text.split("-----BEGIN CERTIFICATE-----")[2].strip() in (work / "ca/ca.pem").read_text()


def test_wrong_ca_passphrase_fails_naming_the_field_and_changes_nothing(issued, tmp_path):
    work = issued[0]
    before = snapshot(work)
    run = run_playbook(os.path.join(PLAYBOOKS, "issue.yml"), {"work": str(work), "passphrase": "Not-The-Pass-42"})
    assert run.rc != 0
    assert "field: ca_passphrase" in run.output and "ca/ca.key" in run.output
    assert "passphrase, or the file is not a private key" in run.output
    assert "Not-The-Pass-42" not in run.output
    assert snapshot(work) == before


def test_adding_a_lim_reissues_with_names_changed_and_keeps_the_key(tmp_path):
    work = tmp_path
    assert issue(work).rc == 0
    key_before = (work / "sys1/server.key").read_bytes()
    lims = [{"lim": n, "ip": "192.0.2.1%d" % n} for n in (1, 2, 3, 4)]
    run = issue(work, test_lims=lims)
    assert run.rc == 0, run.output
    assert run.results() == ["ca= cert=names_changed info="]
    assert (work / "sys1/server.key").read_bytes() == key_before
    cert = x509.load_pem_x509_certificate((work / "sys1/server.pem").read_bytes())
    assert "lim4.sys1.mx.example.net" in cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


@pytest.fixture(scope="module")
def customer(issued):
    work = issued[0]
    pki = CustomerPki()
    leaf = pki.sign_csr((work / "ext/server.csr").read_bytes())
    key = serialization.load_pem_private_key((work / "ext/server.key").read_bytes(), PASS.encode())
    incoming = work / "incoming"
    incoming.mkdir()
    (incoming / "server.crt").write_bytes(pki.pem(leaf))
    # root first, then the intermediate, markers run together: as some CAs deliver them
    (incoming / "chain.crt").write_bytes((pki.pem(pki.root).rstrip(b"\n") + pki.pem(pki.inter)))
    (incoming / "server.p7b").write_bytes(pki.p7b(leaf))
    (incoming / "server.pfx").write_bytes(pki.pfx(key, leaf, "pfx-pass"))
    return work, pki, leaf


def import_(work, *args, **extra):
    extra_vars = {"work": str(work), "passphrase": PASS}
    extra_vars.update(extra)
    return run_playbook(os.path.join(PLAYBOOKS, "import.yml"), extra_vars, args)


def assert_deployed_bundle(work, pki, leaf):
    text = (work / "ext/eri_sn_cert.pem").read_bytes()
    blocks = text.split(b"-----END")
    assert b"PRIVATE KEY" in blocks[0]
    certs = x509.load_pem_x509_certificates(text)
    assert [c.subject for c in certs] == [leaf.subject, pki.inter.subject, pki.root.subject]
    out = subprocess.run(["openssl", "verify", "-CAfile", str(work / "ext/ca.pem"), str(work / "ext/server.pem")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_pem_then_p7b_then_pfx(customer):
    work, pki, leaf = customer
    incoming = work / "incoming"
    pem = import_(work, src=str(incoming / "server.crt"), ca_src=str(incoming / "chain.crt"))
    assert pem.rc == 0, pem.output
    assert pem.results() == ["reason=imported format=pem repaired=True"]
    assert "repaired" in pem.output
    assert_deployed_bundle(work, pki, leaf)
    assert import_(work, src=str(incoming / "server.crt"), ca_src=str(incoming / "chain.crt")).changed == 0
    p7b = import_(work, src=str(incoming / "server.p7b"))
    assert p7b.rc == 0 and p7b.changed == 0, p7b.output  # same certificate: nothing to change
    assert p7b.results() == ["reason= format=pkcs7 repaired=False"]
    pfx = import_(work, src=str(incoming / "server.pfx"), password="pfx-pass")
    assert pfx.rc == 0 and pfx.changed == 0, pfx.output
    assert_deployed_bundle(work, pki, leaf)


def test_import_refusals_change_nothing(customer, tmp_path):
    work, pki, _unused = customer
    before = snapshot(work / "ext")
    incoming = work / "incoming"
    bad = import_(work, src=str(incoming / "server.pfx"), password="Bad-Pfx-Pass-7")
    assert bad.rc != 0 and "password, or not a PKCS#12 file" in bad.output and "field: password" in bad.output
    assert "Bad-Pfx-Pass-7" not in bad.output

    only_ca = tmp_path / "only-ca.p7b"
    only_ca.write_bytes(pkcs7.serialize_certificates([pki.root, pki.inter], serialization.Encoding.DER))
    no_leaf = import_(work, src=str(only_ca))
    assert no_leaf.rc != 0 and "no server (non-CA) certificate" in no_leaf.output

    root_only = tmp_path / "root-only.crt"
    root_only.write_bytes(pki.pem(pki.root))
    unlinked = import_(work, src=str(incoming / "server.crt"), ca_src=str(root_only))
    assert unlinked.rc != 0 and "does not link" in unlinked.output and "Customer Issuing CA" in unlinked.output

    expired = tmp_path / "expired.crt"
    old = pki.now - datetime.timedelta(days=400)
    expired.write_bytes(pki.pem(pki.sign_csr((work / "ext/server.csr").read_bytes(), days=30, not_before=old)))
    late = import_(work, src=str(expired), ca_src=str(incoming / "chain.crt"))
    assert late.rc != 0 and "expired on" in late.output

    assert snapshot(work / "ext") == before
