"""Shared test helpers: run ansible-playbook for real, and a stand-alone customer PKI.

The customer PKI is written directly against ``cryptography`` (not the
collection's code) so imports are checked against an independent issuer.
"""

import contextlib
import datetime
import hashlib
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


LAB = os.path.join(ROOT, "tests", "lab", "lab")


def lab(state, *args):
    """Run a tests/lab/lab command against the lab in ``state``; its output, or an assertion error."""
    proc = subprocess.run([LAB, *args, "--state-dir", state], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


class LabFleet(object):
    """A lab of a test module's own: its paths, its nodes, their journals and files; up and down.

    Each e2e module subclasses it with what only that module needs.
    """

    def __init__(self, base):
        self.base = base
        self.state = str(base / "state")
        self.inventory = self.lab_inventory = str(base / "inventory" / "hosts.yml")
        self.pki = str(base / "inventory" / "pki")

    @contextlib.contextmanager
    def running(self, systems, lims, download_servers, net, ssh_port, http_port, reload_seconds=None, become="su",
                root_login=False):
        """The lab is up (its inventory at ``lab_inventory``) inside the block, and down after it, whatever happens.

        Hardened as the vendor ships MX-ONE: the inventory logs in as ops1 and becomes root with ``become``
        (su: root's password; sudo: ops1's), the password in the secrets file beside it. ``root_login``: the
        old lab instead (root logs in with the key, no become), for a test that needs it.
        """
        lab(self.state, "up", "--systems", str(systems), "--lims", str(lims), "--download-servers",
            str(download_servers), "--inventory", self.lab_inventory, "--net", net, "--ssh-port", str(ssh_port),
            "--http-port", str(http_port), *(("--reload-seconds", str(reload_seconds)) if reload_seconds else ()),
            *(("--root-login",) if root_login else ("--become", become)))
        try:
            yield self
        finally:
            subprocess.run([LAB, "down", "--state-dir", self.state], capture_output=True, check=False)

    def passwords(self):
        """The lab's account passwords: {"root": ..., "ops1": ..., "mxone_admin": ...} (STATE/passwords.json)."""
        with open(os.path.join(self.state, "passwords.json")) as handle:
            return json.load(handle)

    def ssh(self, node, command, user="ops1", stdin=None, root=False, timeout=60):
        """Run ``command`` on lab node ``node`` over SSH as ``user`` (with the lab's key); a CompletedProcess.

        ``root``: run it as root with ``sudo -S`` (the user's own password goes first on stdin, then ``stdin``);
        sudo's PATH has no vendor directory, so name the commands by their path (/opt/eri_sn/bin/...).
        """
        info = self.status()[node]
        if root:
            command = "sudo -k -S -p '' /bin/bash -c " + shlex.quote(command)
            stdin = self.passwords()[user] + "\n" + (stdin or "")
        argv = ["ssh", "-i", os.path.join(self.state, "ssh", "id_rsa"), "-p", str(info["ssh_port"]),
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
                "%s@%s" % (user, info["ip"]), command]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)

    def status(self):
        """Node name -> what the lab says of it (ip, system, root, eri_sn ...)."""
        return dict((n["name"], n) for n in json.loads(lab(self.state, "status", "--json")))

    def lims(self):
        return [n for n in self.status().values() if n["kind"] == "lim"]

    def journal_entries(self, system):
        return json.loads(lab(self.state, "journal", system, "--json"))

    def actions(self, system):
        """The system's commands that act, as journal entries: every command but the read-only license_status."""
        return [e for e in self.journal_entries(system) if "command" in e and e["command"] != "license_status"]

    def journal(self, system):
        """The system's commands, in order (without the lab's events, such as tls-up after a reload)."""
        return [e["command"] for e in self.journal_entries(system) if "command" in e]

    def wait_tls(self, names, timeout=30.0):
        """Wait until the LIMs ``names`` have their TLS listeners up again (a reload takes time in the lab)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            waiting = [name for name in names if status[name].get("tls_state") != "up"]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError("TLS not up after %ss on: %s" % (timeout, ", ".join(
                    "%s (%s: %s)" % (name, status[name].get("tls_state"), status[name].get("tls_problem")
                                     or status[name].get("tls_back_at")) for name in waiting)))
            time.sleep(0.2)

    def served(self, name, client=None):
        """The certificate LIM ``name`` serves on 5061, read by an independent TLS client that checks the
        chain against the PKI store's CA and the LIM's name; ``client``: (cert, key) files to present."""
        node = self.status()[name]
        context = ssl.create_default_context(cafile=os.path.join(self.pki, "ca", "ca.pem"))
        if client:
            context.load_cert_chain(*client)
        with socket.create_connection((node["ip"], 5061), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=node["fqdn"]) as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))

    def _node_paths(self):
        for node in self.status().values():
            for base, dummy, files in os.walk(node["root"]):
                for name in files:
                    yield os.path.join(base, name)

    def node_files(self):
        """Every file under every node's root, with bytes and mode."""
        state = {}
        for path in self._node_paths():
            with open(path, "rb") as handle:
                state[path] = (handle.read(), os.stat(path).st_mode & 0o7777)
        return state

    def node_hashes(self):
        """Every file under every node's root, by SHA-256."""
        return dict((path, hashlib.sha256(content).hexdigest()) for path, (content, dummy) in self.node_files().items())


class PlaybookRun(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.recap = dict((m.group(1), dict(ok=int(m.group(2)), changed=int(m.group(3)),
                                            unreachable=int(m.group(4)), failed=int(m.group(5))))
                          for m in RECAP.finditer(proc.stdout))

    @property
    def changed(self):
        return sum(host["changed"] for host in self.recap.values())

    def results(self):
        """Lines printed as 'RESULT ...' by the playbooks' debug tasks."""
        return re.findall(r'RESULT ([^"\n]*)', self.output)


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra)
    return env


def run_playbook(playbook, extra_vars=None, args=(), inventory="localhost,", env=None, timeout=600):
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook]
    if inventory == "localhost,":
        cmd += ["-c", "local"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args)
    proc = subprocess.run(cmd, cwd=ROOT, env=env or ansible_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return PlaybookRun(proc)


def snapshot(directory):
    """Every file under ``directory`` with its bytes and mode: to prove nothing changed."""
    state = {}
    for base, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                state[path] = (handle.read(), os.stat(path).st_mode & 0o7777)
    return state


class CustomerPki(object):
    """A customer's own root and issuing CA (root -> intermediate), made at test time."""

    def __init__(self, now=None):
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = self._ca("Customer Root CA", self.root_key, None, None)
        self.inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.inter = self._ca("Customer Issuing CA", self.inter_key, self.root, self.root_key)

    def _ca(self, name, key, issuer, issuer_key):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.subject if issuer else subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(self.now - datetime.timedelta(days=1))
                   .not_valid_after(self.now + datetime.timedelta(days=3000))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
        return builder.sign(issuer_key or key, hashes.SHA256())

    def sign_csr(self, csr_pem, days=365, not_before=None):
        csr = x509.load_pem_x509_csr(csr_pem)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        start = not_before or self.now - datetime.timedelta(hours=1)
        return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.inter.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(san, critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.inter_key, hashes.SHA256()))

    @staticmethod
    def pem(cert):
        return cert.public_bytes(serialization.Encoding.PEM)

    def p7b(self, leaf):
        return pkcs7.serialize_certificates([self.root, leaf, self.inter], serialization.Encoding.DER)

    def pfx(self, key, leaf, password):
        return pkcs12.serialize_key_and_certificates(
            b"mxone", key, leaf, [self.root, self.inter],
            serialization.BestAvailableEncryption(password.encode()))


def summary_row(output, system):
    """The cells of ``system``'s row in the last per-system summary table of a run's output."""
    text = output[output.rindex("Per-system summary"):]
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("system ") and "| result" in line)
    columns = [c.strip() for c in lines[head].split("|")]
    for line in lines[head + 2:]:
        cells = [c.strip() for c in line.split(" | ")]
        if cells[0] == system:
            return dict(zip(columns, cells))
        if not line.strip():
            break
    raise AssertionError("no row for %s in:\n%s" % (system, text))
