"""Renewals from CI (renew.yml), encryption cluster by cluster (enable_encryption.yml), rollback,
mutual TLS per LIM, turning TLS off, and one CA trusted across systems: against the lab.

Time is moved with certificate validity (a short-lived certificate is due at once), never by sleeping.
The tests run in file order on one lab and build on each other.
"""

import json
import os
import socket
import ssl

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from helpers import ROOT, ansible_env, lab, LabFleet, run_playbook, summary_row

NET = "127.%d" % (160 + os.getpid() % 10)
SSH_PORT, HTTP_PORT = 2622, 8480
PLAYBOOKS = os.path.join(ROOT, "playbooks")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.summary = str(base / "renew-summary.json")

    def journals(self):
        return dict((s, self.commands(s)) for s in ("lab1", "lab2"))

    def commands(self, system):
        """The commands that act on ``system`` (license_status, read-only, left out)."""
        return [e["command"] for e in self.actions(system)]

    def edit_inventory(self, edit):
        with open(self.inventory) as handle:
            data = yaml.safe_load(handle)
        edit(data["all"]["children"]["mxone_systems"]["children"])
        with open(self.inventory, "w") as handle:
            handle.write("# Written by tests/lab/lab up (edited by test_renew)\n" + yaml.safe_dump(data))

    def play(self, name, *args):
        return run_playbook(os.path.join(PLAYBOOKS, name), inventory=self.inventory,
                            args=("-e", "mxone_renew_summary_path=%s" % self.summary) + args,
                            env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))

    def report(self):
        with open(self.summary) as handle:
            return json.load(handle)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("renew"))
    with f.running(2, 2, 1, NET, SSH_PORT, HTTP_PORT):
        run = f.play("rollout.yml")
        assert run.rc == 0, run.output
        yield f


def test_nothing_due_right_after_a_rollout(fleet):
    journals, hashes = fleet.journals(), fleet.node_hashes()
    check = fleet.play("renew.yml", "--check")
    assert check.rc == 0, check.output
    assert fleet.report()["mode"] == "check" and fleet.report()["due"] == 0
    run = fleet.play("renew.yml")
    assert run.rc == 0 and run.changed == 0, run.output
    report = fleet.report()
    assert report["due"] == 0 and report["due_not_renewed"] == []
    assert [c["decision"] for c in report["certificates"]] == ["keep", "keep"]
    assert all(c["days_left"] >= 360 for c in report["certificates"])
    assert fleet.journals() == journals and fleet.node_hashes() == hashes


def test_one_system_due_only_it_renews_and_reloads_with_its_key_kept(fleet):
    # lab1 gets a certificate valid for 20 days: inside the 30-day window, i.e. due
    short = fleet.play("rollout.yml", "-l", "mxone_lab1", "-e", "mxone_issue_validity_days=20",
                       "-e", "mxone_issue_force=true")
    assert short.rc == 0, short.output
    before = fleet.served("lab1-lim1")
    lab2_before = fleet.served("lab2-lim1")
    journals = fleet.journals()
    plan = fleet.play("renew.yml", "--check")
    assert plan.rc == 0, plan.output
    assert [(c["id"], c["decision"], c["reason"]) for c in fleet.report()["certificates"]] == [
        ("lab1", "renew", "expiring"), ("lab2", "keep", None)]
    assert fleet.journals() == journals
    run = fleet.play("renew.yml")
    assert run.rc == 0, run.output
    report = fleet.report()
    assert report["due"] == 1 and report["renewed"] == 1 and report["due_not_renewed"] == []
    after = fleet.served("lab1-lim1")
    assert after.serial_number != before.serial_number
    assert after.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == before.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert fleet.served("lab2-lim1").serial_number == lab2_before.serial_number
    assert fleet.commands("lab1")[len(journals["lab1"]):] == ACTIVATION
    assert fleet.commands("lab2") == journals["lab2"]


def test_a_window_longer_than_the_validity_renews_everything(fleet):
    journals = fleet.journals()
    run = fleet.play("renew.yml", "-e", "mxone_issue_renew_before=400")
    assert run.rc == 0, run.output
    report = fleet.report()
    assert report["due"] == 2 and report["renewed"] == 2
    for system in ("lab1", "lab2"):
        assert fleet.commands(system)[len(journals[system]):] == ACTIVATION


def test_reload_fault_rolls_back_and_tls_stays_up_with_the_old_certificate(fleet):
    old = fleet.served("lab1-lim2")
    lab(fleet.state, "fault", "lab1", "reload-fails")
    run = fleet.play("rollout.yml", "-l", "mxone_lab1", "-e", "mxone_issue_force=true")
    assert run.rc != 0
    assert "system lab1: reload --system failed (exit 1)" in run.output and "Rolled back to the previous bundle on lab1-lim1, lab1-lim2" \
        in run.output, run.output
    assert "TLS after rollback: 2/2 LIM(s) up" in run.output
    for node in ("lab1-lim1", "lab1-lim2"):
        assert fleet.served(node).serial_number == old.serial_number
    tail = fleet.commands("lab1")[-4:]
    assert tail == ["media_encryption_enable -type extension", "data_backup", "reload --system", "reload --system"]
    # the next run converges: the new certificate goes out and activates
    again = fleet.play("rollout.yml", "-l", "mxone_lab1")
    assert again.rc == 0, again.output
    assert fleet.served("lab1-lim2").serial_number != old.serial_number


def test_no_licence_on_one_system_stops_it_untouched_while_the_other_completes(fleet):
    lab(fleet.state, "fault", "lab2", "no-licence")
    hashes = dict((p, h) for p, h in fleet.node_hashes().items() if "/lab2-" in p)
    journals = fleet.journals()
    run = fleet.play("enable_encryption.yml", "-e", "mxone_issue_force=true")
    lab(fleet.state, "fault", "lab2", "clear")
    assert run.rc != 0
    assert "system lab2: license_status on lab2-lim1 shows 'VOIP-SECURITY" in run.output
    assert dict((p, h) for p, h in fleet.node_hashes().items() if "/lab2-" in p) == hashes
    assert fleet.commands("lab2")[len(journals["lab2"]):] == []
    assert fleet.commands("lab1")[len(journals["lab1"]):] == ACTIVATION, run.output
    assert summary_row(run.output, "lab1")["result"] == "CHANGED", run.output


def test_mutual_tls_per_lim_and_one_ca_across_systems(fleet, tmp_path):
    fleet.edit_inventory(lambda systems: systems["mxone_lab1"]["hosts"]["lab1-lim2"].update(
        mxone_tls_client_verification="mandatory"))
    check = fleet.play("rollout.yml", "--check", "--diff")
    assert check.rc == 0, check.output
    assert "+TlsClientVerificationMode: mandatory" in check.output  # a diff of the configuration line
    run = fleet.play("rollout.yml", "--diff")
    assert run.rc == 0, run.output
    assert summary_row(run.output, "lab1")["result"] == \
        "CHANGED (lab1-lim2: ip_telephony.conf TlsClientVerificationMode none -> mandatory)", run.output
    conf = os.path.join(fleet.status()["lab1-lim2"]["eri_sn"], "ip_telephony.conf")
    assert "TlsClientVerificationMode: mandatory" in open(conf).read()
    # lab2's own certificate and key (the system certificate is also a client certificate: EKU clientAuth)
    bundle = os.path.join(fleet.status()["lab2-lim1"]["eri_sn"], "certs", "eri_sn_cert.pem")
    client = tmp_path / "lab2.pem"
    client.write_bytes(open(bundle, "rb").read())
    os.chmod(client, 0o600)
    cert = fleet.served("lab1-lim2", client=(str(client), str(client)))
    assert cert.subject.rfc4514_string() == "CN=*.lab1.mx.test"
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):  # without a client certificate: refused
        node = fleet.status()["lab1-lim2"]
        context = ssl.create_default_context(cafile=os.path.join(fleet.pki, "ca", "ca.pem"))
        with socket.create_connection((node["ip"], 5061), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=node["fqdn"]) as tls:
                tls.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
                assert tls.recv(100)
    fleet.served("lab1-lim1")  # the other LIM still takes phones without a client certificate


def test_tls_can_be_turned_off_again_and_back_on(fleet):
    fleet.edit_inventory(lambda systems: systems["mxone_lab2"]["vars"].update(mxone_tls=False))
    journals = fleet.journals()
    run = fleet.play("rollout.yml")
    assert run.rc == 0, run.output
    assert fleet.commands("lab2")[len(journals["lab2"]):] == ["data_backup", "reload --system"]
    assert "TlsEnabled: no" in open(os.path.join(fleet.status()["lab2-lim1"]["eri_sn"], "tls_telephony.conf")).read()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((fleet.status()["lab2-lim1"]["ip"], 5061), timeout=5)
    row = summary_row(run.output, "lab2")
    assert row["result"].startswith("CHANGED (lab2-lim1: tls_telephony.conf TlsEnabled yes -> no;") and \
        row["TLS"] == "off", run.output
    fleet.edit_inventory(lambda systems: systems["mxone_lab2"]["vars"].update(mxone_tls=True))
    back = fleet.play("rollout.yml")
    assert back.rc == 0, back.output
    fleet.served("lab2-lim1")
