"""Bad input is refused before any node changes (issue 6, part 1).

One lab (2 systems x 2 LIMs + 1 download server) is rolled out once; then every case runs the rollout
against a broken copy of the inventory (or broken PKI files) and must: exit non-zero, name the host or
group and the variable, or the file, and leave every byte of every node file as it was.
Each case is its own test.
"""

import datetime
import os
import shutil

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from helpers import ROOT, ansible_env, CustomerPki, LabFleet, run_playbook

NET = "127.%d" % (200 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 2722, 8580
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def variant(self, tmp_path, edit=None, pki_edit=None):
        """A copy of the inventory dir (secrets and PKI store included) changed by ``edit``/``pki_edit``."""
        target = tmp_path / "inventory"
        shutil.copytree(os.path.dirname(self.inventory), target)
        with open(target / "hosts.yml") as handle:
            data = yaml.safe_load(handle)
        if edit:
            edit(data)
        (target / "hosts.yml").write_text(yaml.safe_dump(data))
        if pki_edit:
            pki_edit(str(target / "pki"))
        return str(target / "hosts.yml")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("badinput"))
    with f.running(2, 2, 1, NET, SSH_PORT, HTTP_PORT):
        run = run_playbook(ROLLOUT, inventory=f.inventory, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
        assert run.rc == 0, run.output
        yield f


def systems(data):
    return data["all"]["children"]["mxone_systems"]["children"]


def lim(data, system, n):
    return systems(data)["mxone_lab%d" % system]["hosts"]["lab%d-lim%d" % (system, n)]


def external(data, system=2):
    systems(data)["mxone_lab%d" % system]["vars"]["mxone_cert_mode"] = "external"


def refused(fleet, tmp_path, expected, edit=None, pki_edit=None, extra=()):
    """Run against the broken copy; assert the refusal, its words, and zero bytes changed on the nodes."""
    before = fleet.node_hashes()
    inventory = fleet.variant(tmp_path, edit, pki_edit)
    run = run_playbook(ROLLOUT, inventory=inventory, args=extra,
                       env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
    assert run.rc != 0, run.output
    for words in expected:
        assert words in run.output, "%r not in:\n%s" % (words, run.output[-4000:])
    assert fleet.node_hashes() == before
    return run


# ------------------------------------------------------------------ inventory cases


INVENTORY_CASES = {
    "missing_lim": (lambda d: lim(d, 1, 2).pop("mxone_lim"),
                    ["lab1-lim2: mxone_lim: is required"]),
    "duplicate_lim": (lambda d: lim(d, 1, 2).update(mxone_lim=1),
                      ["lab1-lim1, lab1-lim2: mxone_lim: LIM number 1 is used by 2 hosts"]),
    "non_integer_lim": (lambda d: lim(d, 1, 2).update(mxone_lim="two"),
                        ["lab1-lim2: mxone_lim: 'two' is not an integer LIM number"]),
    "zero_lim": (lambda d: lim(d, 2, 1).update(mxone_lim=0),
                 ["lab2-lim1: mxone_lim: LIM number 0 must be 1 or more"]),
    "non_ip_lim_ip": (lambda d: lim(d, 1, 1).update(mxone_lim_ip="10.0.0.300"),
                      ["lab1-lim1: mxone_lim_ip: '10.0.0.300' is not an IP address"]),
    "hostname_as_ansible_host": (lambda d: lim(d, 2, 2).update(ansible_host="lim2.example.net"),
                                 ["lab2-lim2: ansible_host: 'lim2.example.net' is not an IP address"]),
    "domain_illegal_characters": (lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_domain="lab_1.mx.test"),
                                  ["mxone_lab1: mxone_domain: 'lab_1.mx.test' is not a valid DNS name"]),
    "domain_one_label": (lambda d: systems(d)["mxone_lab2"]["vars"].update(mxone_domain="corp"),
                         ["mxone_lab2: mxone_domain: 'corp' has fewer than two labels"]),
    "missing_domain": (lambda d: systems(d)["mxone_lab1"]["vars"].pop("mxone_domain"),
                       ["mxone_lab1: mxone_domain: a DNS domain is required"]),
    "missing_system_id": (lambda d: systems(d)["mxone_lab2"]["vars"].pop("mxone_system"),
                          ["mxone_lab2: mxone_system: is required on the system group"]),
    "duplicate_system_id": (lambda d: systems(d)["mxone_lab2"]["vars"].update(mxone_system="lab1"),
                            ["mxone_lab2: mxone_system: 'lab1' is also the id of group mxone_lab1"]),
    "lim_in_two_systems": (lambda d: systems(d)["mxone_lab2"]["hosts"].update({"lab1-lim2": None}),
                           ["lab1-lim2: groups: is a LIM of 2 systems (mxone_lab1, mxone_lab2)"]),
    "system_without_lim": (lambda d: systems(d).update(mxone_lab3={"vars": {"mxone_system": "lab3",
                                                                            "mxone_domain": "lab3.mx.test"}}),
                           ["mxone_lab3: hosts: system group has no LIM"]),
    "duplicate_lim_address": (lambda d: lim(d, 2, 2).update(mxone_lim_ip=lim(d, 1, 1)["ansible_host"]),
                              ["lab1-lim1, lab2-lim2: mxone_lim_ip: ", "is the address of 2 LIMs"]),
    "duplicate_ssh_address": (lambda d: lim(d, 2, 1).update(ansible_host=lim(d, 1, 2)["ansible_host"],
                                                            mxone_lim_ip="192.0.2.21"),
                              ["lab1-lim2, lab2-lim1: ansible_host: ", "is where 2 hosts are reached"]),
    "bad_activation_window": (lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_activate_window="25:00-03:00"),
                              ["mxone_lab1: mxone_activate_window: '25:00-03:00' is not a daily window HH:MM-HH:MM"]),
    "unknown_activation_timezone": (
        lambda d: systems(d)["mxone_lab2"]["vars"].update(
            mxone_activate_window="22:00-04:30", mxone_activate_timezone="Europe/Stokholm"),
        ["mxone_lab2: mxone_activate_timezone: 'Europe/Stokholm' is not a known time zone"]),
    "unknown_cert_mode": (lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_cert_mode="wildcard"),
                          ["lab1-lim1: mxone_cert_mode: 'wildcard' is not one of system, lim, external"]),
    "unknown_media_encryption_type": (
        lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_media_encryption_types=["extension", "trunk"]),
        ["mxone_lab1: mxone_media_encryption_types: 'trunk' is not one of extension, route, intermgw"]),
    "unknown_reload": (lambda d: systems(d)["mxone_lab2"]["vars"].update(mxone_reload="all"),
                       ["mxone_lab2: mxone_reload: 'all' is not one of system, units"]),
    "unknown_client_verification": (lambda d: lim(d, 1, 2).update(mxone_tls_client_verification="required"),
                                    ["lab1-lim2: mxone_tls_client_verification: 'required' is not one of"]),
    "bad_extra_ip": (lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_extra_ips=["192.0.2.999"]),
                     ["mxone_extra_ips", "'192.0.2.999' is not an IP address"]),
    "bad_extra_dns": (lambda d: systems(d)["mxone_lab1"]["vars"].update(mxone_extra_dns=["sip..mx.test"]),
                      ["mxone_extra_dns", "'sip..mx.test' is not a valid DNS name"]),
    "encryption_not_boolean": (lambda d: systems(d)["mxone_lab2"]["vars"].update(mxone_encryption="maybe"),
                               ["mxone_lab2: mxone_encryption: 'maybe' is not a boolean"]),
    "system_wide_setting_differs": (lambda d: lim(d, 1, 2).update(mxone_reload="units"),
                                    ["lab1-lim2: mxone_reload: differs from lab1-lim1 in system group mxone_lab1"]),
    "download_server_without_dir": (
        lambda d: d["all"]["children"]["mxone_download_servers"]["hosts"]["dl1"].pop("mxone_download_dir"),
        ["dl1: mxone_download_dir: is required on a download server"]),
    "download_dir_relative": (
        lambda d: d["all"]["children"]["mxone_download_servers"]["hosts"]["dl1"].update(mxone_download_dir="tftp"),
        ["dl1: mxone_download_dir: 'tftp' must be an absolute path"]),
}


@pytest.mark.parametrize("case", sorted(INVENTORY_CASES))
def test_bad_inventory(fleet, tmp_path, case):
    edit, expected = INVENTORY_CASES[case]
    run = refused(fleet, tmp_path, expected, edit=edit)
    assert "inventory has" in run.output


def test_every_problem_is_reported_at_once(fleet, tmp_path):
    def many(d):
        INVENTORY_CASES["duplicate_lim"][0](d)
        INVENTORY_CASES["domain_one_label"][0](d)
        INVENTORY_CASES["unknown_media_encryption_type"][0](d)
    refused(fleet, tmp_path, ["inventory has 3 problem(s)", "lab1-lim1, lab1-lim2: mxone_lim",
                              "mxone_lab2: mxone_domain", "mxone_lab1: mxone_media_encryption_types"], edit=many)


# ------------------------------------------------------------------ secrets and the CA


def test_missing_ca_passphrase(fleet, tmp_path):
    """One line saying what is missing and where it goes, before anything is touched; no argument-spec dump."""
    def no_secret(pki):  # the lab's other secret, the become password, stays: the nodes refuse root
        path = os.path.join(os.path.dirname(pki), "group_vars", "all", "lab_secrets.yml")
        with open(path) as handle:
            kept = [line for line in handle if not line.startswith("mxone_ca_passphrase:")]
        with open(path, "w") as handle:
            handle.writelines(kept)
    words = ("mxone_ca_passphrase is not set: put it in Ansible Vault in group_vars/all beside the inventory "
             "(ansible-vault create group_vars/all/vault.yml) or pass --extra-vars @secrets.yml. Nothing was changed.")
    run = refused(fleet, tmp_path, [words], pki_edit=no_secret)  # in the output on one line, as it is written
    for dump in ("argument_spec_data", "argument_errors", "validate_args_context", "missing required arguments"):
        assert dump not in run.output, run.output[-4000:]
    failure = run.output[run.output.index("TASK [mxone.pki.mxone_ca : Require the CA passphrase]"):
                         run.output.index("PLAY RECAP")]
    assert len(failure.strip().splitlines()) <= 15, failure
    assert sum(host["failed"] for host in run.recap.values()) == 1


def test_a_new_pki_store_does_not_replace_the_fleets_ca(fleet, tmp_path):
    """A copied inventory without its store: the CA interlock names the CA the fleet trusts and changes nothing."""
    refused(fleet, tmp_path, [
        "holds no enterprise CA, but the fleet already trusts this CA: CN=MXOneEnterpriseCA (SHA-256 ",
        "served by lab1-lim1, lab1-lim2, lab2-lim1, lab2-lim2 and in the ca.pem of lab1-lim1",
        "mxone_ca_create: true", "Nothing was changed."], pki_edit=shutil.rmtree)
    assert not os.path.exists(os.path.join(str(tmp_path), "inventory", "pki", "ca", "ca.key"))


def test_wrong_ca_passphrase(fleet, tmp_path):
    # through the roles the error names the inventory variable, not the module option (ca_passphrase)
    run = refused(fleet, tmp_path, ["field: mxone_ca_passphrase", "pki/ca/ca.key",
                                    "wrong passphrase, or the file is not a private key (field=mxone_ca_passphrase"],
                  extra=("-e", "mxone_ca_passphrase=Wrong-Passphrase-123"))
    assert "Wrong-Passphrase-123" not in run.output


def test_ca_key_that_does_not_fit_the_ca_certificate(fleet, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    passphrase = yaml.safe_load(open(os.path.join(os.path.dirname(fleet.inventory), "group_vars", "all",
                                                  "lab_secrets.yml")))["mxone_ca_passphrase"]

    def other_key(pki):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with open(os.path.join(pki, "ca", "ca.key"), "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(passphrase.encode())))
    refused(fleet, tmp_path, ["pki/ca/ca.key does not fit", "pki/ca/ca.pem: they are not one CA"], pki_edit=other_key)


def test_truncated_ca_certificate(fleet, tmp_path):
    def truncate(pki):
        path = os.path.join(pki, "ca", "ca.pem")
        text = open(path).read()
        open(path, "w").write(text[: len(text) // 2])
    refused(fleet, tmp_path, ["pki/ca/ca.pem is not a readable X.509 certificate"], pki_edit=truncate)


def test_truncated_server_key(fleet, tmp_path):
    def truncate(pki):
        path = os.path.join(pki, "certs", "lab1", "server.key")
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    run = refused(fleet, tmp_path, ["pki/certs/lab1/server.key", "field: mxone_ca_passphrase"], pki_edit=truncate)
    assert "key_passphrase" not in run.output


# ------------------------------------------------------------------ customer PKI imports (external mode)


@pytest.fixture(scope="module")
def customer(fleet, tmp_path_factory):
    """The CSR of lab2 in external mode, made once by a run that stops and waits for the signed certificate."""
    work = tmp_path_factory.mktemp("csr")
    inventory = fleet.variant(work, edit=external)
    run = run_playbook(ROLLOUT, inventory=inventory, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
    assert run.rc != 0 and "waiting for the customer's CA" in run.output, run.output
    pki = os.path.join(os.path.dirname(inventory), "pki")
    return dict(pki=pki, csr=open(os.path.join(pki, "certs", "lab2", "server.csr"), "rb").read(),
                key=open(os.path.join(pki, "certs", "lab2", "server.key"), "rb").read(), ca=CustomerPki())


def drop(customer, files):
    """A pki_edit that copies lab2's CSR key and puts ``files`` in the drop folder."""
    def edit(pki):
        directory = os.path.join(pki, "certs", "lab2")
        os.makedirs(directory, exist_ok=True)
        open(os.path.join(directory, "server.csr"), "wb").write(customer["csr"])
        open(os.path.join(directory, "server.key"), "wb").write(customer["key"])
        os.chmod(os.path.join(directory, "server.key"), 0o600)
        incoming = os.path.join(pki, "incoming", "lab2")
        os.makedirs(incoming, exist_ok=True)
        for name, data in files.items():
            open(os.path.join(incoming, name), "wb").write(data)
    return edit


def test_import_with_a_foreign_key(fleet, tmp_path, customer):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    ca = customer["ca"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.lab2.mx.test")]))
           .add_extension(x509.load_pem_x509_csr(customer["csr"]).extensions[0].value, critical=False)
           .sign(other, __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()))
    leaf = ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM))
    files = {"server.pem": ca.pem(leaf), "ca.pem": ca.pem(ca.inter) + ca.pem(ca.root)}
    refused(fleet, tmp_path, ["incoming/lab2/server.pem", "does not fit the kept CSR key"],
            edit=external, pki_edit=drop(customer, files))


def test_import_chain_that_does_not_link(fleet, tmp_path, customer):
    ca = customer["ca"]
    leaf = ca.sign_csr(customer["csr"])
    files = {"server.pem": ca.pem(leaf), "ca.pem": ca.pem(ca.root)}
    refused(fleet, tmp_path, ["incoming/lab2", "does not link", "Customer Issuing CA"],
            edit=external, pki_edit=drop(customer, files))


def test_import_expired(fleet, tmp_path, customer):
    ca = customer["ca"]
    old = ca.now - datetime.timedelta(days=400)
    leaf = ca.sign_csr(customer["csr"], days=30, not_before=old)
    files = {"server.pem": ca.pem(leaf), "ca.pem": ca.pem(ca.inter) + ca.pem(ca.root)}
    refused(fleet, tmp_path, ["incoming/lab2/server.pem", "expired on"], edit=external, pki_edit=drop(customer, files))


def test_import_not_yet_valid(fleet, tmp_path, customer):
    ca = customer["ca"]
    leaf = ca.sign_csr(customer["csr"], days=365, not_before=ca.now + datetime.timedelta(days=3))
    files = {"server.pem": ca.pem(leaf), "ca.pem": ca.pem(ca.inter) + ca.pem(ca.root)}
    refused(fleet, tmp_path, ["incoming/lab2/server.pem", "not yet valid"], edit=external,
            pki_edit=drop(customer, files))


def test_import_pfx_with_a_wrong_password(fleet, tmp_path, customer):
    ca = customer["ca"]
    key = serialization.load_pem_private_key(customer["key"], password=yaml.safe_load(open(os.path.join(
        os.path.dirname(fleet.inventory), "group_vars", "all", "lab_secrets.yml")))["mxone_ca_passphrase"].encode())
    leaf = ca.sign_csr(customer["csr"])
    files = {"server.pfx": ca.pfx(key, leaf, "Right-Pfx-Pass-1")}
    run = refused(fleet, tmp_path, ["incoming/lab2/server.pfx", "wrong password"], edit=external,
                  pki_edit=drop(customer, files), extra=("-e", "mxone_pfx_password=Wrong-Pfx-Pass-2"))
    assert "Wrong-Pfx-Pass-2" not in run.output and "Right-Pfx-Pass-1" not in run.output


def test_import_p7b_without_a_leaf(fleet, tmp_path, customer):
    ca = customer["ca"]
    files = {"server.p7b": pkcs7.serialize_certificates([ca.root, ca.inter], serialization.Encoding.DER)}
    refused(fleet, tmp_path, ["incoming/lab2/server.p7b", "no server (non-CA) certificate"], edit=external,
            pki_edit=drop(customer, files))


def test_import_truncated_pem(fleet, tmp_path, customer):
    ca = customer["ca"]
    leaf_pem = ca.pem(ca.sign_csr(customer["csr"]))
    files = {"server.pem": leaf_pem[: len(leaf_pem) - 40], "ca.pem": ca.pem(ca.inter) + ca.pem(ca.root)}
    refused(fleet, tmp_path, ["incoming/lab2/server.pem", "truncated"], edit=external, pki_edit=drop(customer, files))


def test_begin_end_lines_run_together_are_repaired_not_refused(fleet, tmp_path, customer):
    ca = customer["ca"]
    leaf = ca.sign_csr(customer["csr"])
    joined = ca.pem(ca.root).rstrip(b"\n") + ca.pem(ca.inter).rstrip(b"\n")  # END...BEGIN on one line
    files = {"server.pem": ca.pem(leaf), "ca.pem": joined}
    inventory = fleet.variant(tmp_path, external, drop(customer, files))
    run = run_playbook(ROLLOUT, inventory=inventory, args=("--check",),
                       env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
    assert run.rc == 0, run.output
    assert "repaired" in run.output
