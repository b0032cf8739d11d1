"""End to end: a customer-PKI system (mxone_cert_mode: external) rolled out against the lab.

One lab of 1 system x 2 LIMs + 1 download server on its own loopback net
serves the module; the tests run in file order and build on each other:
CSR out (the system waits), the customer's CA signs it (root -> intermediate,
helpers.CustomerPki), the signed files come back through the drop folder as
PEM, then PKCS#7, then PKCS#12 with a new certificate.
"""

import os
import re
import shutil
import socket
import ssl
import time
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import ROOT, ansible_env, CustomerPki, LabFleet, run_playbook, summary_row

NET = "127.%d" % (60 + os.getpid() % 10)
SSH_PORT = 2522
HTTP_PORT = 8380
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
PFX_PASSWORD = "pfx-Secret-42"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        # The external variant lives outside the lab's state and inventory dirs (lab down refuses foreign files).
        self.inventory = str(base / "external" / "hosts.yml")
        self.pki = str(base / "external" / "pki")
        self.csr = os.path.join(self.pki, "certs", "lab1", "server.csr")
        self.key = os.path.join(self.pki, "certs", "lab1", "server.key")
        self.drop = os.path.join(self.pki, "incoming", "lab1")
        self.customer = CustomerPki()
        self.root_file = str(base / "customer-root.pem")
        with open(self.root_file, "wb") as handle:
            handle.write(self.customer.pem(self.customer.root))
        self.leaf = None

    def make_external_inventory(self):
        """A copy of the lab inventory, with its secrets beside it, where the system group is external."""
        target = os.path.dirname(self.inventory)
        shutil.copytree(os.path.join(os.path.dirname(self.lab_inventory), "group_vars"),
                        os.path.join(target, "group_vars"))
        data = yaml.safe_load(open(self.lab_inventory))
        group = data["all"]["children"]["mxone_systems"]["children"]["mxone_lab1"]
        group["vars"]["mxone_cert_mode"] = "external"
        group["vars"]["mxone_csr_subject"] = {"country": "SE", "state": "Stockholm", "organization": "Lab Telecom"}
        with open(self.inventory, "w") as handle:
            handle.write(yaml.safe_dump(data))

    def rollout(self, *args):
        return run_playbook(ROLLOUT, inventory=self.inventory, args=args,
                            env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def clear_drop(self):
        shutil.rmtree(self.drop, ignore_errors=True)
        os.makedirs(self.drop)

    def put(self, name, data):
        with open(os.path.join(self.drop, name), "wb") as handle:
            handle.write(data)

    def sign(self):
        with open(self.csr, "rb") as handle:
            self.leaf = self.customer.sign_csr(handle.read())
        return self.leaf

    def server_key(self):
        """The CSR's key from the PKI store (encrypted with the lab's CA passphrase)."""
        secrets = os.path.join(os.path.dirname(self.inventory), "group_vars", "all", "lab_secrets.yml")
        passphrase = yaml.safe_load(open(secrets))["mxone_ca_passphrase"]
        with open(self.key, "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), passphrase.encode())


def handshake(ip, server_name, cafile, port=5061):
    """A real TLS client: chain checked against cafile, host name checked."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((ip, port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def handshake_retrying(ip, server_name, cafile, seconds=5):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return handshake(ip, server_name, cafile)
        except (ConnectionError, socket.timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("external"))
    with f.running(1, 2, 1, NET, SSH_PORT, HTTP_PORT):
        f.make_external_inventory()
        yield f


def test_first_run_writes_the_csr_and_stops_the_system_with_instructions(fleet):
    before = fleet.node_files()
    run = fleet.rollout()
    assert run.rc != 0
    assert "system lab1: waiting for the customer's CA" in run.output
    assert fleet.csr in run.output and fleet.drop in run.output
    assert "server.p7b" in run.output and "server.pfx" in run.output and "mxone_pfx_password" in run.output
    csr = x509.load_pem_x509_csr(open(fleet.csr, "rb").read())
    assert csr.subject.rfc4514_string() == "CN=*.lab1.mx.test,O=Lab Telecom,ST=Stockholm,C=SE"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == ["lim1.lab1.mx.test", "lim2.lab1.mx.test"]
    assert fleet.node_files() == before  # nothing delivered, not even to the download server
    assert fleet.actions("lab1") == []
    assert "PRIVATE KEY" not in run.output


def test_check_mode_with_the_signed_files_dropped_tells_the_truth_and_writes_nothing(fleet, tmp_path):
    fleet.clear_drop()
    leaf = fleet.sign()
    fleet.put("server.pem", fleet.customer.pem(leaf))
    # root before intermediate, and BEGIN/END run together, as some CAs deliver
    ca = (fleet.customer.pem(fleet.customer.root).rstrip(b"\n") + fleet.customer.pem(fleet.customer.inter))
    assert b"-----END CERTIFICATE----------BEGIN CERTIFICATE-----" in ca
    fleet.put("ca.pem", ca)
    store = sorted(os.path.join(b, n) for b, _dirs, files in os.walk(fleet.pki) for n in files)
    before = fleet.node_files()
    run = fleet.rollout("--check", "--diff")
    assert run.rc == 0, run.output
    assert "reason: imported" in run.output or "lab1 imported" in run.output
    assert "/etc/opt/eri_sn/certs/eri_sn_cert.pem" in run.output
    assert run.recap["dl1"]["changed"] == 1  # the phones' ca.pem would change
    assert fleet.node_files() == before
    assert sorted(os.path.join(b, n) for b, _dirs, files in os.walk(fleet.pki) for n in files) == store
    assert fleet.actions("lab1") == []


def test_second_run_imports_deploys_and_every_lim_verifies_against_the_customer_root(fleet, tmp_path):
    run = fleet.rollout()
    assert run.rc == 0, run.output
    assert summary_row(run.output, "lab1")["certificate (why)"].startswith("lab1 imported"), run.output
    for node in fleet.lims():
        bundle = open(os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem"), "rb").read()
        blocks = re.findall(rb"-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n", bundle)
        assert blocks == [b"PRIVATE KEY", b"CERTIFICATE", b"CERTIFICATE", b"CERTIFICATE"], bundle[:80]
        certs = x509.load_pem_x509_certificates(bundle)
        assert [c.subject.rfc4514_string() for c in certs] == [
            "CN=*.lab1.mx.test,O=Lab Telecom,ST=Stockholm,C=SE", "CN=Customer Issuing CA", "CN=Customer Root CA"]
        assert certs[0].serial_number == fleet.leaf.serial_number
        assert os.stat(os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem")).st_mode & 0o777 == 0o600
        cert = handshake(node["ip"], node["fqdn"], fleet.root_file)
        assert cert.serial_number == fleet.leaf.serial_number
        with pytest.raises(ssl.SSLCertVerificationError):  # the enterprise CA did not sign it
            handshake(node["ip"], node["fqdn"], os.path.join(fleet.pki, "ca", "ca.pem"))
    dl = [n for n in fleet.status().values() if n["kind"] == "download"][0]
    phone_ca = urllib.request.urlopen(dl["url"] + "ca.pem", timeout=5).read()
    assert b"PRIVATE KEY" not in phone_ca
    path = str(tmp_path / "phone-ca.pem")
    with open(path, "wb") as handle:
        handle.write(phone_ca)
    for node in fleet.lims():
        handshake(node["ip"], node["fqdn"], path)
    entries = fleet.actions("lab1")
    assert [e["command"] for e in entries] == ACTIVATION, entries
    assert all(e["exit"] == 0 for e in entries)


def test_third_run_with_the_same_drop_changes_nothing(fleet):
    journal, files = fleet.actions("lab1"), fleet.node_files()
    run = fleet.rollout()
    assert run.rc == 0, run.output
    assert run.changed == 0, run.output
    assert fleet.actions("lab1") == journal
    assert fleet.node_files() == files


def test_the_same_certificate_as_pkcs7_changes_nothing(fleet):
    journal = fleet.actions("lab1")
    fleet.clear_drop()
    fleet.put("server.p7b", fleet.customer.p7b(fleet.leaf))
    run = fleet.rollout()
    assert run.rc == 0, run.output
    assert run.changed == 0, run.output
    assert fleet.actions("lab1") == journal


def test_a_new_certificate_as_pkcs12_is_imported_deployed_and_served(fleet):
    journal = fleet.actions("lab1")
    old_serial = fleet.leaf.serial_number
    leaf = fleet.sign()  # the same CSR signed again: a new certificate for the same key
    assert leaf.serial_number != old_serial
    fleet.put("server.pfx", fleet.customer.pfx(fleet.server_key(), leaf, PFX_PASSWORD))  # beside the .p7b: pfx wins
    run = fleet.rollout("-e", "mxone_pfx_password=" + PFX_PASSWORD)
    assert run.rc == 0, run.output
    row = summary_row(run.output, "lab1")
    assert row["result"] == "CHANGED" and row["certificate (why)"].startswith("lab1 imported"), run.output
    assert "from pkcs12" in row["certificate (why)"], run.output
    assert PFX_PASSWORD not in run.output
    for node in fleet.lims():
        assert handshake_retrying(node["ip"], node["fqdn"], fleet.root_file).serial_number == leaf.serial_number
    assert [e["command"] for e in fleet.actions("lab1")[len(journal):]] == ACTIVATION
