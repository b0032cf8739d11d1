"""Faults never leave a node with a partial or invalid bundle (issue 6, part 2).

Lab faults (a node down, reload failing, a full disk) and a killed ansible-playbook (SIGINT, SIGKILL)
in the middle of delivery. After each: every LIM holds its old or its new bundle, complete and valid;
TLS is up on every LIM that was up before; and a plain re-run converges.
"""

import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509

from helpers import ROOT, ansible_env, lab, LabFleet, run_playbook
from ansible_collections.mxone.pki.plugins.module_utils.bundle import check_sn_bundle
from ansible_collections.mxone.pki.plugins.module_utils.certs import utcnow

NET = "127.%d" % (70 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 2822, 8680
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def rollout(self, *args):
        return run_playbook(ROLLOUT, inventory=self.inventory, args=args,
                            env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def bundle_serials(self):
        """Each LIM's eri_sn_cert.pem checked as the node checks it: its leaf serial, or an AssertionError."""
        serials = {}
        for node in self.lims():
            certs = os.path.join(node["eri_sn"], "certs")
            with open(os.path.join(certs, "eri_sn_cert.pem"), "rb") as handle:
                serials[node["name"]] = check_sn_bundle(handle.read(), utcnow()).leaf.serial_number
            leftovers = [f for f in os.listdir(certs) if f not in (
                "eri_sn_cert.pem", "ca.pem", "eri_sn_cert.pem.previous", "ca.pem.previous") and not f.startswith(".mxone")]
            assert leftovers == [], "%s: unexpected files %s" % (node["name"], leftovers)
        return serials

    def tls_serials(self):
        """Serial served on 5061 by each LIM that answers, verified with the CA and the LIM's name."""
        served = {}
        context = ssl.create_default_context(cafile=os.path.join(self.pki, "ca", "ca.pem"))
        for node in self.lims():
            try:
                with socket.create_connection((node["ip"], 5061), timeout=3) as sock:
                    with context.wrap_socket(sock, server_hostname=node["fqdn"]) as tls:
                        served[node["name"]] = x509.load_der_x509_certificate(
                            tls.getpeercert(binary_form=True)).serial_number
            except OSError:
                served[node["name"]] = None
        return served

    def pki_serial(self, system):
        with open(os.path.join(self.pki, "certs", system, "server.pem"), "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read()).serial_number

    def assert_invariants(self, old, new):
        """Old or new, complete and valid, on every LIM; TLS up wherever it was up before, with old or new."""
        on_disk = self.bundle_serials()
        for name, serial in on_disk.items():
            assert serial in (old[name], new.get(name)), "%s holds neither its old nor its new bundle" % name
        served = self.tls_serials()
        for name, serial in served.items():
            assert serial in (old[name], new.get(name)), "%s serves %s, neither old nor new" % (name, serial)

    def converge(self):
        run = self.rollout()
        assert run.rc == 0, run.output
        again = self.rollout()
        assert again.rc == 0 and again.changed == 0, again.output
        expected = dict((n["name"], self.pki_serial(n["system"])) for n in self.lims())
        assert self.bundle_serials() == expected
        assert self.tls_serials() == expected


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("faults"))
    with f.running(2, 3, 1, NET, SSH_PORT, HTTP_PORT):
        assert f.rollout().rc == 0
        yield f


def current(fleet):
    return dict((n["name"], fleet.pki_serial(n["system"])) for n in fleet.lims())


def new_serials(fleet):
    return dict((n["name"], fleet.pki_serial(n["system"])) for n in fleet.lims())


def test_a_node_down_during_the_rollout(fleet):
    old = current(fleet)
    lab(fleet.state, "fault", "lab1-lim2", "down")
    run = fleet.rollout("-e", "mxone_issue_force=true", "-l", "mxone_lab1")
    assert run.rc != 0
    assert "lab1-lim2" in run.output and "UNREACHABLE" in run.output
    # lab1's reload cannot reach LIM 2, so it fails; LIMs 1 and 3 get their previous bundle back
    assert "Rolled back to the previous bundle on lab1-lim1, lab1-lim3" in run.output, run.output
    lab(fleet.state, "fault", "lab1-lim2", "clear")
    fleet.assert_invariants(old, new_serials(fleet))
    served = fleet.tls_serials()
    assert served["lab1-lim1"] == old["lab1-lim1"] and served["lab1-lim3"] == old["lab1-lim3"]
    fleet.converge()


def test_reload_failing(fleet):
    old = current(fleet)
    lab(fleet.state, "fault", "lab2", "reload-fails")
    run = fleet.rollout("-e", "mxone_issue_force=true", "-l", "mxone_lab2")
    assert run.rc != 0 and "system lab2: reload --system failed" in run.output
    fleet.assert_invariants(old, new_serials(fleet))
    assert all(fleet.tls_serials()[n] == old[n] for n in old if n.startswith("lab2"))
    fleet.converge()


def test_disk_full_on_a_node_while_writing(fleet):
    old = current(fleet)
    lab(fleet.state, "fault", "lab1-lim3", "disk-full")
    run = fleet.rollout("-e", "mxone_issue_force=true", "-l", "mxone_lab1")
    lab(fleet.state, "fault", "lab1-lim3", "clear")
    assert run.rc != 0 and "lab1-lim3" in run.output
    assert "eri_sn_cert.pem" in run.output and ("No space" in run.output or "no space" in run.output), run.output
    on_disk = fleet.bundle_serials()
    assert on_disk["lab1-lim3"] == old["lab1-lim3"]  # the full node kept its old bundle, whole
    fleet.assert_invariants(old, new_serials(fleet))
    fleet.converge()


def _kill_during_delivery(fleet, sig):
    old = current(fleet)
    cmd = [os.path.join(os.path.dirname(__import__("sys").executable), "ansible-playbook"), "-i", fleet.inventory,
           ROLLOUT, "-e", "mxone_issue_force=true", "-f", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if "Install eri_sn_cert.pem" in line:
            break  # the delivery task has started
        assert time.monotonic() < deadline, "".join(seen)
    bundles = [os.path.join(n["eri_sn"], "certs", "eri_sn_cert.pem") for n in fleet.lims()]

    def contents():
        return [open(path, "rb").read() for path in bundles]  # renamed into place whole: never partial

    before = contents()
    while contents() == before:  # delivery is under way: a node done, others in flight (-f 2)
        assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
        time.sleep(0.01)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its ssh children, at once
    else:
        proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    time.sleep(1)
    fleet.assert_invariants(old, new_serials(fleet))
    # TLS was never touched: no activation ran before the kill... or if one did, it finished or rolled back
    assert all(serial is not None for serial in fleet.tls_serials().values())
    fleet.converge()


def test_sigint_during_delivery(fleet):
    _kill_during_delivery(fleet, signal.SIGINT)


def test_sigkill_during_delivery(fleet):
    _kill_during_delivery(fleet, signal.SIGKILL)
