"""End to end: playbooks/rollout.yml over real SSH against the lab, checked by real TLS handshakes.

One lab of 2 systems x 3 LIMs + 1 download server on its own loopback net
serves the module; the tests run in file order and build on each other:
check mode on the fresh lab, first run, second run, a LIM added.
"""

import json
import os
import socket
import ssl
import sys
import time

import pytest
from cryptography import x509

from helpers import ROOT, LabFleet, ansible_env, lab, run_playbook, summary_row

NET = "127.%d" % (100 + os.getpid() % 10)
SSH_PORT = 2422
HTTP_PORT = 8280
ROLLOUT = os.path.join(ROOT, "playbooks", "rollout.yml")
VERIFY = os.path.join(ROOT, "playbooks", "verify.yml")
ACTIVATION = ["media_encryption_enable -type extension", "data_backup", "reload --system"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


class Fleet(LabFleet):
    def __init__(self, base):
        super(Fleet, self).__init__(base)
        self.timings = {}

    def rollout(self, *args, playbook=ROLLOUT):
        started = time.monotonic()
        run = run_playbook(playbook, inventory=self.inventory, args=args,
                           env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
        run.seconds = time.monotonic() - started
        return run


def handshake(ip, server_name, cafile, port=5061):
    """A real TLS client: chain checked against cafile, host name checked."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((ip, port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("rollout"))
    try:
        with f.running(2, 3, 1, NET, SSH_PORT, HTTP_PORT):
            yield f
    finally:
        print("\nrollout timings (s): %s" % json.dumps(f.timings), file=sys.stderr)


def test_check_diff_on_a_fresh_lab_changes_no_node_file_and_shows_the_changes(fleet):
    before = fleet.node_files()
    run = fleet.rollout("--check", "--diff")
    assert run.rc == 0, run.output
    assert fleet.node_files() == before
    assert not os.path.exists(fleet.pki), "check mode wrote the PKI store"
    assert run.changed >= 6 + 1 + 2  # every LIM and the download server would change, plus CA and certificates
    assert "/etc/opt/eri_sn/certs/eri_sn_cert.pem" in run.output  # the diff names the node file...
    assert "lim3.lab2.mx.test" in run.output and "reason: missing" in run.output  # ...and what would go there, and why
    for system in ("lab1", "lab2"):  # the licence is read (read-only, on the leader); nothing else runs
        assert fleet.journal(system) == ["license_status"]
    assert summary_row(run.output, "lab1")["commands"] == \
        "would run: media_encryption_enable -type extension, data_backup, reload --system", run.output
    assert "PRIVATE KEY" not in run.output


def test_first_run_deploys_and_every_lim_answers_tls_with_its_own_name(fleet):
    run = fleet.rollout()
    fleet.timings["first"] = round(run.seconds, 2)
    assert run.rc == 0, run.output
    ca = os.path.join(fleet.pki, "ca", "ca.pem")
    for node in fleet.lims():
        cert = handshake(node["ip"], node["fqdn"], ca)
        assert cert.subject.rfc4514_string() == "CN=*.%s.mx.test" % node["system"]
        with pytest.raises(ssl.SSLCertVerificationError):  # another LIM's name is not good enough for a peer
            handshake(node["ip"], "lim9.other.mx.test", ca)
        bundle = os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem")
        assert os.stat(bundle).st_mode & 0o777 == 0o600
    row = summary_row(run.output, "lab1")
    assert row["result"] == "CHANGED" and row["TLS"] == "3/3 ok", run.output


def test_the_journal_shows_one_activation_sequence_per_system_in_order(fleet):
    for system in ("lab1", "lab2"):
        entries = fleet.actions(system)
        assert [e["command"] for e in entries] == ACTIVATION, entries
        assert all(e["exit"] == 0 for e in entries)
        assert len(set(e["host"] for e in entries)) == 1  # once per system, from one LIM


def test_the_download_server_serves_ca_pem_that_verifies_every_lim(fleet, tmp_path):
    dl = [n for n in fleet.status().values() if n["kind"] == "download"][0]
    import urllib.request
    ca_text = urllib.request.urlopen(dl["url"] + "ca.pem", timeout=5).read()
    path = str(tmp_path / "phone-ca.pem")
    with open(path, "wb") as handle:
        handle.write(ca_text)
    assert b"PRIVATE KEY" not in ca_text
    for node in fleet.lims():
        handshake(node["ip"], node["fqdn"], path)


def test_second_run_changes_nothing_and_runs_no_command(fleet):
    journals = dict((s, fleet.actions(s)) for s in ("lab1", "lab2"))
    files = fleet.node_files()
    run = fleet.rollout()
    fleet.timings["second"] = round(run.seconds, 2)
    assert run.rc == 0, run.output
    assert run.changed == 0, run.output
    assert dict((s, fleet.actions(s)) for s in ("lab1", "lab2")) == journals
    assert fleet.node_files() == files
    assert summary_row(run.output, "lab1")["result"] == "unchanged", run.output


def test_verify_playbook_is_read_only_and_passes(fleet):
    run = fleet.rollout(playbook=VERIFY)
    assert run.rc == 0, run.output
    assert run.changed == 0


def test_adding_a_lim_reissues_only_that_systems_certificate_and_reloads_only_it(fleet):
    lab2_cert = open(os.path.join(fleet.pki, "certs", "lab2", "server.pem"), "rb").read()
    lab1_key = open(os.path.join(fleet.pki, "certs", "lab1", "server.key"), "rb").read()
    journals = dict((s, fleet.actions(s)) for s in ("lab1", "lab2"))
    lab(fleet.state, "add-lim", "lab1")
    run = fleet.rollout()
    assert run.rc == 0, run.output
    assert "names_changed" in run.output and "lim4.lab1.mx.test" in run.output
    assert open(os.path.join(fleet.pki, "certs", "lab2", "server.pem"), "rb").read() == lab2_cert
    assert open(os.path.join(fleet.pki, "certs", "lab1", "server.key"), "rb").read() == lab1_key
    assert fleet.actions("lab2") == journals["lab2"]
    assert [e["command"] for e in fleet.actions("lab1")[len(journals["lab1"]):]] == ACTIVATION
    ca = os.path.join(fleet.pki, "ca", "ca.pem")
    for node in fleet.lims():
        handshake(node["ip"], node["fqdn"], ca)
    new = fleet.status()["lab1-lim4"]
    san = handshake(new["ip"], new["fqdn"], ca).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "lim4.lab1.mx.test" in san.value.get_values_for_type(x509.DNSName)


def _inventory_variant(fleet, tmp_path, edit):
    """A copy of the lab inventory (with its secrets beside it) changed by ``edit``."""
    import shutil
    import yaml
    source = os.path.dirname(fleet.inventory)
    target = tmp_path / "inventory"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("pki"))
    os.symlink(fleet.pki, target / "pki")
    data = yaml.safe_load(open(fleet.inventory))
    edit(data)
    (target / "hosts.yml").write_text(yaml.safe_dump(data))
    return str(target / "hosts.yml")


def test_a_bad_inventory_is_refused_before_any_node_is_touched(fleet, tmp_path):
    def break_it(data):
        systems = data["all"]["children"]["mxone_systems"]["children"]
        systems["mxone_lab1"]["hosts"]["lab1-lim2"]["mxone_lim"] = 1          # duplicate
        systems["mxone_lab2"]["hosts"]["lab2-lim3"]["ansible_host"] = "not-an-ip"
    inventory = _inventory_variant(fleet, tmp_path, break_it)
    files = fleet.node_files()
    journals = dict((s, fleet.actions(s)) for s in ("lab1", "lab2"))
    run = run_playbook(ROLLOUT, inventory=inventory, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
    assert run.rc != 0
    assert "lab1-lim1, lab1-lim2: mxone_lim: LIM number 1 is used by 2 hosts" in run.output
    assert "lab2-lim3: ansible_host: 'not-an-ip' is not an IP address" in run.output
    assert fleet.node_files() == files
    assert dict((s, fleet.actions(s)) for s in ("lab1", "lab2")) == journals


def test_encryption_off_deploys_without_activation(fleet, tmp_path):
    def encryption_off(data):
        group = data["all"]["children"]["mxone_systems"]["children"]["mxone_lab2"]
        group["vars"]["mxone_encryption"] = False
        group["vars"]["mxone_extra_dns"] = ["sip.lab2.mx.test"]  # a name change, so lab2 gets a new bundle
    inventory = _inventory_variant(fleet, tmp_path, encryption_off)
    journals = dict((s, fleet.actions(s)) for s in ("lab1", "lab2"))
    run = run_playbook(ROLLOUT, inventory=inventory, env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"))
    assert run.rc == 0, run.output
    row = summary_row(run.output, "lab2")
    assert row["result"] == "CHANGED" and row["certificate (why)"].startswith("lab2 names_changed"), run.output
    assert row["commands"] == "none", run.output
    assert dict((s, fleet.actions(s)) for s in ("lab1", "lab2")) == journals  # no command on either system
    # not reloaded: the LIMs still serve the previous certificate, which lacks the new name
    ca = os.path.join(fleet.pki, "ca", "ca.pem")
    node = fleet.status()["lab2-lim1"]
    san = handshake(node["ip"], node["fqdn"], ca).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "sip.lab2.mx.test" not in san.value.get_values_for_type(x509.DNSName)
    bundle = open(os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem"), "rb").read()
    assert b"BEGIN PRIVATE KEY" in bundle and os.path.exists(
        os.path.join(node["eri_sn"], "certs", "eri_sn_cert.pem.previous"))


def test_the_summary_reads_as_lines_under_the_default_callback(fleet):
    """Not one escaped string: under the default callback's JSON results (and in AWX) the table is plain lines."""
    run = run_playbook(ROLLOUT, inventory=fleet.inventory, env=ansible_env(
        ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json"))
    assert run.rc == 0, run.output
    lines = run.output.splitlines()
    head = [i for i, line in enumerate(lines) if line.strip().startswith("system | result")]
    assert head, run.output
    assert lines[head[-1] + 2].strip().startswith("lab1 ") and lines[head[-1] + 3].strip().startswith("lab2 ")
    assert "system | result" not in "".join(line for line in lines if "\\n" in line)  # never an escaped table
    assert summary_row(run.output, "lab2")["result"] in ("unchanged", "CHANGED")
