"""A PKI host (issue 17): the CA key, the store and the run lock on another machine reached by SSH.

One lab (1 system x 2 LIMs + 1 download server, reload 0.5 s) serves the module. The download server's node
doubles as the PKI host: the inventory gets a host ``pki1`` at its address, logged in as the ordinary account
``ops1`` with the lab's key and no become, with the store at ``/home/ops1/mxone-pki``. Its Python is a venv
made the way the lab installs Python packages for itself: ``python3 -m venv`` in ops1's home on the node
(``STATE/nodes/<node>/home/ops1/pki-venv`` on this machine, ``/home/ops1/pki-venv`` inside the node) and
``pip install`` of the controller's pinned cryptography (requirements.txt); the node's system Python has
Debian's cryptography 38, which is too old, and ``ansible_python_interpreter`` names the venv.

The tests run in file order: (1) a rollout with ``mxone_pki_host`` set keeps every key on the PKI host and
none on the controller; (2) two rollouts started at once from two working directories serialise on the
lease there; the last, a customer-PKI system (mxone_cert_mode external) with a store of its own on the PKI host:
its CSR written there, the signed files dropped there, the customer's certificate served. The lease rule itself
is unit-tested (tests/unit/plugins/module_utils/test_runlock.py).
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import yaml
from cryptography import x509

from helpers import BIN, ROOT, CustomerPki, LabFleet, ansible_env

NET = "127.%d" % (140 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 3622, 8680
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]
STORE = "/home/ops1/mxone-pki"
VENV = "/home/ops1/pki-venv"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def cryptography_pin():
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        return next(line.strip() for line in handle if line.startswith("cryptography=="))


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.work = base / "work"

    def pki_node(self):
        return next(n for n in self.status().values() if n["kind"] == "download")

    def node_home(self):
        """ops1's home on the PKI host's node, as this machine sees it."""
        return os.path.join(self.state, "nodes", self.pki_node()["name"], "home", "ops1")

    def make_pki_host(self):
        """Python with cryptography for ops1 on the PKI host's node; the store's host-side path in self.pki."""
        home = self.node_home()
        venv = os.path.join(home, "pki-venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True, capture_output=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                        cryptography_pin()], check=True, capture_output=True, timeout=300)
        owner = os.stat(home)
        for base, dirs, files in os.walk(venv):
            for name in [base] + [os.path.join(base, n) for n in dirs + files]:
                os.lchown(name, owner.st_uid, owner.st_gid)
        self.pki = os.path.join(home, "mxone-pki")
        probe = self.ssh(self.pki_node()["name"], VENV + "/bin/python -c 'import cryptography; "
                         "print(cryptography.__version__)'")
        assert probe.returncode == 0 and probe.stdout.strip() == cryptography_pin().split("==")[1], probe.stderr

    def workdir(self, name):
        """A working directory of its own: the lab inventory + a PKI host, its secrets, an ansible.cfg."""
        directory = self.work / name
        shutil.copytree(os.path.dirname(self.lab_inventory), directory / "inventory")
        inventory_path = directory / "inventory" / "hosts.yml"
        inventory = yaml.safe_load(inventory_path.read_text())
        lab_vars = inventory["all"]["vars"]
        inventory["all"]["children"]["pki"] = {"hosts": {"pki1": {
            "ansible_host": self.pki_node()["ip"], "ansible_user": "ops1", "ansible_become": False,
            "ansible_python_interpreter": VENV + "/bin/python"}}}
        lab_vars.update(mxone_pki_host="pki1", mxone_pki_dir=STORE)
        inventory_path.write_text(yaml.safe_dump(inventory))
        with open(os.path.join(ROOT, "ansible.cfg")) as handle:
            config = handle.read().replace("collections_path = .collections",
                                           "collections_path = " + os.path.join(ROOT, ".collections"))
        (directory / "ansible.cfg").write_text(config)
        (directory / "tmp").mkdir()
        return directory

    def start(self, directory, *args):
        """ansible-playbook rollout.yml from ``directory`` with its own ansible.cfg and local temp dir."""
        env = ansible_env(ANSIBLE_CONFIG=str(directory / "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="false",
                          ANSIBLE_LOCAL_TEMP=str(directory / "tmp"))
        return subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "inventory/hosts.yml", ROLLOUT]
                                + list(args), cwd=str(directory), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def store_file(self, *parts):
        with open(os.path.join(self.pki, *parts), "rb") as handle:
            return handle.read()


def recap(output):
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", output, re.M))


def private_keys_under(*directories, since=None):
    """Files holding a private key under ``directories`` (modified after ``since``, when given)."""
    found = []
    for directory in directories:
        for base, dummy, files in os.walk(str(directory)):
            for name in files:
                path = os.path.join(base, name)
                try:
                    if since is not None and os.lstat(path).st_mtime < since:
                        continue
                    with open(path, "rb") as handle:
                        if b"PRIVATE KEY-----" in handle.read():
                            found.append(path)
                except OSError:
                    continue
    return found


def private_files_in(directory, since):
    """Files right in ``directory`` (not below: other tests' trees live there) written since ``since`` with a key."""
    found = []
    for entry in os.scandir(directory):
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime >= since:
                with open(entry.path, "rb") as handle:
                    if b"PRIVATE KEY-----" in handle.read():
                        found.append(entry.path)
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("pkihost"))
    with f.running(1, 2, 1, NET, SSH_PORT, HTTP_PORT, reload_seconds=0.5):
        f.make_pki_host()
        yield f


def test_a_rollout_keeps_every_key_on_the_pki_host(fleet):
    directory = fleet.workdir("one")
    started = time.time()
    proc = fleet.start(directory)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-4000:]
    assert "on the PKI host pki1" in output
    # the CA and the keys are on the PKI host, 0600, encrypted, owned by the ordinary account
    for parts in (("ca", "ca.key"), ("certs", "lab1", "server.key")):
        path = os.path.join(fleet.pki, *parts)
        assert oct(os.stat(path).st_mode & 0o777) == "0o600", path
        assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in fleet.store_file(*parts), path
    # nothing with a private key on the controller: the working dir (inventory, public copies, local temp),
    # the default pki dir beside the inventory, ~/.ansible/tmp and /tmp's own files written during the run
    assert not os.path.exists(directory / "inventory" / "pki")
    assert private_keys_under(directory) == []
    assert private_keys_under(os.path.expanduser("~/.ansible/tmp"), since=started) == []
    assert private_files_in("/tmp", since=started) == []
    # the public copy the TLS checks read is the store's CA
    assert (directory / "inventory" / "pki-public" / "ca" / "ca.pem").read_bytes() == fleet.store_file("ca", "ca.pem")
    names = [lim["name"] for lim in fleet.lims()]
    fleet.wait_tls(names)
    ca_fingerprint = fleet.served(names[0]).issuer
    for name in names:  # every LIM serves a chain to the PKI host's CA, with its own name checked
        assert fleet.served(name).issuer == ca_fingerprint
    assert fleet.journal("lab1").count("reload --system") == 1
    # the lock is released: no lease left in the store
    assert not os.path.exists(os.path.join(fleet.pki, ".run.lock"))
    again = fleet.start(directory)
    output = again.communicate(timeout=600)[0]
    assert again.returncode == 0 and sum(recap(output).values()) == 0, output[-4000:]


def test_two_rollouts_started_at_once_serialise_on_the_lease(fleet):
    """Two working directories, one PKI host: one CA, one activation per system, the second run waited."""
    shutil.rmtree(fleet.pki)  # a new store: without the lock both runs would create a CA
    before = len(fleet.journal("lab1"))
    first, second = fleet.workdir("a"), fleet.workdir("b")
    # a new CA for a fleet that trusts the old one: on purpose (the CA interlock)
    runs = [fleet.start(first, "-e", "mxone_ca_create=true"), fleet.start(second, "-e", "mxone_ca_create=true")]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output[-4000:]
    waited = [o for o in outputs if "waited" in o and "for another run to finish" in o]
    assert len(waited) == 1, "exactly one run waits for the other"
    # one CA: both runs' results and the public copies are the store's one CA
    ca = fleet.store_file("ca", "ca.pem")
    assert (first / "inventory" / "pki-public" / "ca" / "ca.pem").read_bytes() == ca
    assert (second / "inventory" / "pki-public" / "ca" / "ca.pem").read_bytes() == ca
    # one activation of the system, whatever ran second
    commands = fleet.journal("lab1")[before:]
    assert [c for c in commands if c != "license_status"] == ACTIVATION, commands
    assert private_keys_under(first, second) == []


def test_an_old_cryptography_on_the_pki_host_is_named_and_the_failed_runs_lease_does_not_block(fleet):
    """Debian's python3-cryptography (38) on the PKI host: the run stops at the CA, saying so; its lease stays
    behind, and the next run of the same controller takes it over at once (that ansible-playbook is gone)."""
    directory = fleet.workdir("old")
    inventory_path = directory / "inventory" / "hosts.yml"
    good = inventory_path.read_text()
    inventory = yaml.safe_load(good)
    inventory["all"]["children"]["pki"]["hosts"]["pki1"]["ansible_python_interpreter"] = "/usr/bin/python3"
    inventory_path.write_text(yaml.safe_dump(inventory))
    proc = fleet.start(directory)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode != 0
    assert "too old for mxone.pki (>= 42.0.0 needed)" in output and "mxone_pki_host" in output, output[-3000:]
    assert "/usr/bin/python3" in output
    assert os.path.exists(os.path.join(fleet.pki, ".run.lock"))  # the failed run's lease
    inventory_path.write_text(good)
    again = fleet.start(directory)
    output = again.communicate(timeout=600)[0]
    assert again.returncode == 0 and sum(recap(output).values()) == 0, output[-4000:]
    assert "for another run to finish" not in output
    assert not os.path.exists(os.path.join(fleet.pki, ".run.lock"))


def test_verify_reads_the_public_copies_and_writes_the_report_beside_the_store(fleet):
    """verify.yml (read-only, no lock): TLS checked against the store's CA copied from the PKI host; the expiry
    report is written by the PKI host in its store."""
    directory = fleet.workdir("verify")
    env = ansible_env(ANSIBLE_CONFIG=str(directory / "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="false")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory/hosts.yml",
                           os.path.join(ROOT, "playbooks", "verify.yml")], cwd=str(directory), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert (directory / "inventory" / "pki-public" / "ca" / "ca.pem").read_bytes() == fleet.store_file("ca", "ca.pem")
    assert os.path.exists(os.path.join(fleet.pki, "reports", "mxone-pki-expiry.html"))
    assert not os.path.exists(directory / "inventory" / "pki")
    assert not os.path.exists(os.path.join(fleet.pki, ".run.lock"))


def test_a_customer_pki_system_with_its_store_on_the_pki_host(fleet, tmp_path):
    """mxone_cert_mode external with a PKI host: the CSR is written and the drop folder read there (not on the
    controller); the TLS checks on the controller trust the public copy of the customer's chain."""
    started = time.time()
    directory = fleet.workdir("external")
    store = "/home/ops1/mxone-pki-ext"
    host_store = os.path.join(fleet.node_home(), "mxone-pki-ext")  # the same directory, as this machine sees it
    inventory_path = directory / "inventory" / "hosts.yml"
    inventory = yaml.safe_load(inventory_path.read_text())
    inventory["all"]["vars"]["mxone_pki_dir"] = store
    group = inventory["all"]["children"]["mxone_systems"]["children"]["mxone_lab1"]
    group["vars"].update(mxone_cert_mode="external", mxone_csr_subject={"country": "SE", "organization": "Lab Telecom"})
    inventory_path.write_text(yaml.safe_dump(inventory))
    before = len(fleet.journal("lab1"))
    first = fleet.start(directory)
    output = first.communicate(timeout=600)[0]
    assert first.returncode != 0
    assert "system lab1: waiting for the customer's CA" in output, output[-4000:]
    assert store + "/certs/lab1/server.csr" in output and store + "/incoming/lab1" in output
    assert os.path.exists(os.path.join(host_store, "certs", "lab1", "server.csr"))
    assert not os.path.exists(directory / "inventory" / "pki")
    assert "PRIVATE KEY" not in output
    assert [c for c in fleet.journal("lab1")[before:] if c != "license_status"] == []
    # the customer's CA signs the CSR; its files go into the drop folder on the PKI host, as ops1's
    customer = CustomerPki()
    with open(os.path.join(host_store, "certs", "lab1", "server.csr"), "rb") as handle:
        leaf = customer.sign_csr(handle.read())
    drop = os.path.join(host_store, "incoming", "lab1")
    os.makedirs(drop, exist_ok=True)
    owner = os.stat(fleet.node_home())
    for name, data in (("server.pem", customer.pem(leaf)),
                       ("ca.pem", customer.pem(customer.inter) + customer.pem(customer.root))):
        with open(os.path.join(drop, name), "wb") as handle:
            handle.write(data)
    for path in (os.path.join(host_store, "incoming"), drop, os.path.join(drop, "server.pem"),
                 os.path.join(drop, "ca.pem")):
        os.lchown(path, owner.st_uid, owner.st_gid)
    second = fleet.start(directory)
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output[-4000:]
    root = str(tmp_path / "customer-root.pem")
    with open(root, "wb") as handle:
        handle.write(customer.pem(customer.root))
    names = [lim["name"] for lim in fleet.lims()]
    fleet.wait_tls(names)
    for lim in fleet.lims():  # the customer's certificate, its chain to the customer's root and the LIM's name checked
        context = ssl.create_default_context(cafile=root)
        with socket.create_connection((lim["ip"], 5061), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=lim["fqdn"]) as tls:
                served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert served.serial_number == leaf.serial_number, lim["name"]
    assert [c for c in fleet.journal("lab1")[before:] if c != "license_status"] == ACTIVATION
    assert private_keys_under(directory) == []
    again = fleet.start(directory)
    output = again.communicate(timeout=600)[0]
    assert again.returncode == 0 and sum(recap(output).values()) == 0, output[-4000:]
    print("customer PKI with a PKI host: %.0f s" % (time.time() - started))
